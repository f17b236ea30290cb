/// \file
/// The statistics behind ownership decisions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "wmark/util/export.h"

namespace wmark {

/// The largest number of trials the tail below takes: counts past 2^53 are not exact in
/// double (and no key has that many triggers or bits).
constexpr std::int64_t kMaxBinomialCount = std::int64_t{1} << 53;

/// log10 P[X >= k] for X ~ Binomial(n, p): the one-sided p-value of k matches in n
/// queries when each matches by chance with probability p. Bounded time for any n:
/// exact summation in log space when n - k < 10^6 (so p-values far below 1e-308 keep
/// their exponent), else the regularised incomplete beta I_p(k, n-k+1) (Boost.Math), and
/// where that underflows a bounded sum whose remainder is bounded above (a conservative
/// p-value). -inf when k > n or when p = 0 and k > 0. Requires 0 <= n <= 2^53 and p in
/// [0,1]; throws wmark::Error otherwise.
WMARK_API double binomial_upper_tail_log10(std::int64_t k, std::int64_t n, double p);

/// P[X >= k] for X ~ Binomial(n, p) (0 when it underflows double); same requirements
/// as binomial_upper_tail_log10().
WMARK_API double binomial_upper_tail(std::int64_t k, std::int64_t n, double p);

/// The largest group sizes fisher_exact_greater_log10() takes (its sum has one term per
/// possible count; no key has this many triggers).
constexpr std::int64_t kMaxFisherCount = 10000000;

/// log10 of the one-sided p-value of Fisher's exact test that a rate is higher in group 1
/// (k1 successes in n1 trials) than in group 2 (k2 in n2): P[X >= k1] for X
/// hypergeometric (n1 draws from n1 + n2 items of which k1 + k2 are successes). It is
/// exact under the null hypothesis that both groups share one success probability,
/// whatever it is; used with a key's control queries (Verifier), where that probability
/// is the suspect's own bias towards the target class. 0 when k1 <= 0; requires
/// 0 <= k1 <= n1, 0 <= k2 <= n2, n1 + n2 <= kMaxFisherCount; throws wmark::Error otherwise.
WMARK_API double fisher_exact_greater_log10(std::int64_t k1, std::int64_t n1, std::int64_t k2, std::int64_t n2);

/// The most additions uniform_rank_sum_lower_tail_log10() makes to sum a tail exactly
/// (n steps over s + 1 cells of up to `levels` terms; about a second); past it the tail
/// is bounded instead.
constexpr std::int64_t kMaxExactRankSumWork = 500000000;

/// log10 P[S <= s] for S the sum of n independent ranks, each uniform on {0, ...,
/// levels - 1}: the one-sided p-value of a rank sum as low as `s` when each rank is a
/// uniform draw independent of the suspect (DAWN's changed class among the classes
/// other than the victim's). Exact (dynamic programming over the sums up to s, rescaled
/// at each step so that p-values far below 1e-308 keep their exponent) when that takes
/// at most kMaxExactRankSumWork additions (above the mean it sums the mirrored side);
/// otherwise the Chernoff bound min_t e^{ts} E[e^{-tR}]^n below the mean (a conservative
/// p-value) and 1 above it.
/// 0 when s >= n (levels - 1), -inf when s < 0. Requires n >= 0 and 1 <= levels <= 2^20;
/// throws wmark::Error otherwise.
WMARK_API double uniform_rank_sum_lower_tail_log10(std::int64_t s, std::int64_t n, std::int64_t levels);

/// Holm's step-down adjustment of a family of p-values, given and returned as log10: the
/// i-th smallest p becomes max over j <= i of min(1, (m - j) p_(j)) (j from 0). Rejecting
/// every hypothesis whose adjusted p-value is below alpha keeps the chance of any false
/// rejection in the family at most alpha, whatever the dependence between the tests
/// (Holm 1979). -inf stays -inf; entries must not be NaN or positive (throws
/// wmark::Error otherwise).
WMARK_API std::vector<double> holm_adjusted_log10(const std::vector<double>& log10_p);

}  // namespace wmark

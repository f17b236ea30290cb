/// \file
/// The statistics behind ownership decisions.
#pragma once

#include <cstdint>

#include "wmark/util/export.h"

namespace wmark {

/// log10 P[X >= k] for X ~ Binomial(n, p): the one-sided p-value of k matches in n
/// queries when each matches by chance with probability p. Exact summation in log
/// space, so p-values far below 1e-308 keep their exponent; -inf when k > n or when
/// p = 0 and k > 0. Requires n >= 0 and p in [0,1]; throws wmark::Error otherwise.
WMARK_API double binomial_upper_tail_log10(std::int64_t k, std::int64_t n, double p);

/// P[X >= k] for X ~ Binomial(n, p) (0 when it underflows double); same requirements
/// as binomial_upper_tail_log10().
WMARK_API double binomial_upper_tail(std::int64_t k, std::int64_t n, double p);

}  // namespace wmark

#include "wmark/verify/statistics.h"

#include <boost/math/special_functions/beta.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "wmark/util/error.h"

namespace wmark {
namespace {

constexpr std::int64_t kExactTerms = 1000000;  // summed term by term (a few ms)
constexpr double kLog10 = 2.302585092994046;

// log of the binomial pmf at i, by lgamma (start of the term recurrence).
double log_pmf(std::int64_t i, std::int64_t n, double log_p, double log_q) {
  return std::lgamma(double(n) + 1) - std::lgamma(double(i) + 1) - std::lgamma(double(n - i) + 1) + double(i) * log_p +
         double(n - i) * log_q;
}

// log of sum_{i=k}^{n} pmf(i), summing at most kExactTerms terms by the recurrence
// pmf(i+1) = pmf(i) * (n-i)/(i+1) * p/q. Past that, the rest is bounded by the
// geometric series of the last ratio, which only falls from there on (i > np), so the
// result is exact for n - k < kExactTerms and an upper bound (a conservative p-value)
// otherwise.
double log_tail_sum(std::int64_t k, std::int64_t n, double p) {
  const double log_p = std::log(p), log_q = std::log1p(-p);
  double term = log_pmf(k, n, log_p, log_q);
  double log_sum = term;
  std::int64_t i = k;
  for (std::int64_t steps = 0; i < n && steps < kExactTerms; ++i, ++steps) {
    term += std::log(double(n - i) / double(i + 1)) + log_p - log_q;
    log_sum = std::max(log_sum, term) + std::log1p(std::exp(-std::fabs(log_sum - term)));
    if (term < log_sum - 50) return log_sum;  // the rest is below e^-50 of the sum
  }
  if (i >= n) return log_sum;
  const double ratio = double(n - i) / double(i + 1) * p / (1 - p);
  if (!(ratio < 1)) return 0.0;  // cannot bound it: say nothing (p-value 1)
  const double rest = term + std::log(ratio) - std::log1p(-ratio);
  return std::max(log_sum, rest) + std::log1p(std::exp(-std::fabs(log_sum - rest)));
}

// ln P[S <= s] for S a sum of n ranks uniform on {0..levels-1}, by dynamic programming
// over the sums 0..s: each step adds one rank, summing the `levels` cells it comes from
// (every term positive, so no cancellation), then rescales the row to its largest cell
// and keeps the scale's log, so that tails far below 1e-308 keep their exponent. Cells
// below 1e-280 of the largest are dropped (their share of the sum is below that).
double log_rank_sum_cdf(std::int64_t s, std::int64_t n, std::int64_t levels) {
  std::vector<double> row(static_cast<std::size_t>(s) + 1, 0.0), next(row.size());
  row[0] = 1.0;
  double log_scale = 0;
  const double log_levels = std::log(double(levels));
  for (std::int64_t step = 0; step < n; ++step) {
    double top = 0;
    for (std::int64_t t = 0; t <= s; ++t) {
      double sum = 0;
      for (std::int64_t r = 0; r < levels && r <= t; ++r) sum += row[static_cast<std::size_t>(t - r)];
      next[static_cast<std::size_t>(t)] = sum;
      top = std::max(top, sum);
    }
    for (auto& cell : next) cell = cell < top * 1e-280 ? 0.0 : cell / top;
    log_scale += std::log(top) - log_levels;
    row.swap(next);
  }
  return log_scale + std::log(std::accumulate(row.begin(), row.end(), 0.0));
}

// ln of the Chernoff bound on P[S <= s] for s below the mean: min over t >= 0 of
// t s + n ln E[e^{-tR}], convex in t, by golden-section search (any t gives a bound).
double log_rank_sum_chernoff(std::int64_t s, std::int64_t n, std::int64_t levels) {
  const auto bound = [&](double t) {
    // E[e^{-tR}] = sum_r e^{-tr} / levels, a geometric series.
    const double moment = t == 0 ? 1.0 : std::expm1(-t * double(levels)) / std::expm1(-t) / double(levels);
    return t * double(s) + double(n) * std::log(moment);
  };
  double lo = 0, hi = 60;
  const double golden = 0.6180339887498949;
  for (int i = 0; i < 200; ++i) {
    const double a = hi - golden * (hi - lo), b = lo + golden * (hi - lo);
    if (bound(a) < bound(b)) hi = b; else lo = a;
  }
  return std::min({0.0, bound(lo), bound(hi)});
}

}  // namespace

double uniform_rank_sum_lower_tail_log10(std::int64_t s, std::int64_t n, std::int64_t levels) {
  WMARK_CHECK(n >= 0 && levels >= 1 && levels <= (std::int64_t{1} << 20),
              "a rank-sum tail needs n >= 0 ranks of 1 to 2^20 levels, got ", n, " of ", levels);
  WMARK_CHECK(n <= kMaxBinomialCount / levels, "a rank-sum tail: ", n, " ranks of ", levels, " levels is too many");
  if (s < 0) return -std::numeric_limits<double>::infinity();
  const std::int64_t top = n * (levels - 1);
  if (s >= top) return 0.0;
  // Above the mean, P[S <= s] = 1 - P[S <= top - s - 1] (the sum is symmetric about
  // its mean), and the smaller side is what the programme sums over.
  const bool mirrored = 2 * s > top;
  const std::int64_t side = mirrored ? top - s - 1 : s;
  double log_cdf;
  const double work = static_cast<double>(n) * static_cast<double>(side + 1) * static_cast<double>(std::min(levels, side + 1));
  if (work <= static_cast<double>(kMaxExactRankSumWork)) {
    log_cdf = log_rank_sum_cdf(side, n, levels);
  } else {
    if (mirrored) return 0.0;  // a bound on the other side bounds nothing here: p-value 1
    return log_rank_sum_chernoff(s, n, levels) / kLog10;
  }
  if (mirrored) return std::log10(std::max(0.0, -std::expm1(log_cdf)));
  return std::min(0.0, log_cdf / kLog10);
}

double binomial_upper_tail_log10(std::int64_t k, std::int64_t n, double p) {
  WMARK_CHECK(n >= 0 && p >= 0 && p <= 1, "binomial tail needs n >= 0 and p in [0,1]");
  WMARK_CHECK(n <= kMaxBinomialCount, "binomial tail: ", n, " trials is more than counts can be exact for (2^53)");
  if (k <= 0) return 0.0;
  if (k > n) return -std::numeric_limits<double>::infinity();
  if (p == 0) return -std::numeric_limits<double>::infinity();
  if (p == 1) return 0.0;
  // Small keys (every real one): exact term-by-term summation in log space.
  if (n - k < kExactTerms) return std::min(0.0, log_tail_sum(k, n, p) / kLog10);
  // Huge counts: P[X >= k] = I_p(k, n-k+1), the regularised incomplete beta, in bounded
  // time; where it underflows double, k lies far above the mean and the bounded
  // summation takes over.
  double tail = 0;
  try {
    tail = boost::math::ibeta(double(k), double(n - k) + 1, p);
  } catch (const std::exception&) {
    tail = 0;
  }
  if (tail > 1e-280) return std::min(0.0, std::log10(tail));
  return std::min(0.0, log_tail_sum(k, n, p) / kLog10);
}

double binomial_upper_tail(std::int64_t k, std::int64_t n, double p) {
  return std::pow(10.0, binomial_upper_tail_log10(k, n, p));
}

double fisher_exact_greater_log10(std::int64_t k1, std::int64_t n1, std::int64_t k2, std::int64_t n2) {
  WMARK_CHECK(n1 >= 0 && n2 >= 0 && k1 >= 0 && k2 >= 0 && k1 <= n1 && k2 <= n2,
              "Fisher's test needs counts within their group sizes: ", k1, " of ", n1, ", ", k2, " of ", n2);
  WMARK_CHECK(n1 + n2 <= kMaxFisherCount, "Fisher's test: ", n1 + n2, " trials is more than it sums over");
  if (k1 == 0) return 0.0;
  const auto log_choose = [](std::int64_t n, std::int64_t k) {
    return std::lgamma(double(n) + 1) - std::lgamma(double(k) + 1) - std::lgamma(double(n - k) + 1);
  };
  const std::int64_t total = n1 + n2, successes = k1 + k2;
  const double log_all = log_choose(total, n1);
  double log_sum = -std::numeric_limits<double>::infinity();
  for (std::int64_t x = k1; x <= std::min(n1, successes); ++x) {
    if (n1 - x > total - successes) continue;  // more failures drawn than there are
    const double term = log_choose(successes, x) + log_choose(total - successes, n1 - x) - log_all;
    log_sum = std::max(log_sum, term) + std::log1p(std::exp(-std::fabs(log_sum - term)));
  }
  return std::min(0.0, log_sum / kLog10);
}

std::vector<double> holm_adjusted_log10(const std::vector<double>& log10_p) {
  for (double value : log10_p) WMARK_CHECK(!std::isnan(value) && value <= 0, "a log10 p-value must be in [-inf, 0]");
  std::vector<std::size_t> order(log10_p.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return log10_p[a] < log10_p[b]; });
  std::vector<double> adjusted(log10_p.size());
  double running = -std::numeric_limits<double>::infinity();
  const auto m = static_cast<double>(log10_p.size());
  for (std::size_t rank = 0; rank < order.size(); ++rank) {
    const double scaled = std::min(0.0, std::log10(m - static_cast<double>(rank)) + log10_p[order[rank]]);
    running = std::max(running, scaled);  // monotone: never below a smaller p's adjustment
    adjusted[order[rank]] = running;
  }
  return adjusted;
}

}  // namespace wmark

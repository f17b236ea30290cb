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

}  // namespace

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

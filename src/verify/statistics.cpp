#include "wmark/verify/statistics.h"

#include <cmath>
#include <limits>

#include "wmark/util/error.h"

namespace wmark {

double binomial_upper_tail_log10(std::int64_t k, std::int64_t n, double p) {
  WMARK_CHECK(n >= 0 && p >= 0 && p <= 1, "binomial tail needs n >= 0 and p in [0,1]");
  if (k <= 0) return 0.0;
  if (k > n) return -std::numeric_limits<double>::infinity();
  if (p == 0) return -std::numeric_limits<double>::infinity();
  if (p == 1) return 0.0;
  const double log_p = std::log(p), log_q = std::log1p(-p);
  const double log_n_fact = std::lgamma(static_cast<double>(n) + 1);
  // log-sum-exp over the terms i = k..n of the binomial pmf.
  double max_term = -std::numeric_limits<double>::infinity();
  for (std::int64_t i = k; i <= n; ++i) {
    const double term = log_n_fact - std::lgamma(double(i) + 1) - std::lgamma(double(n - i) + 1) +
                        double(i) * log_p + double(n - i) * log_q;
    max_term = std::max(max_term, term);
  }
  double sum = 0;
  for (std::int64_t i = k; i <= n; ++i) {
    const double term = log_n_fact - std::lgamma(double(i) + 1) - std::lgamma(double(n - i) + 1) +
                        double(i) * log_p + double(n - i) * log_q;
    sum += std::exp(term - max_term);
  }
  return std::min(0.0, (max_term + std::log(sum)) / std::log(10.0));
}

double binomial_upper_tail(std::int64_t k, std::int64_t n, double p) {
  return std::pow(10.0, binomial_upper_tail_log10(k, n, p));
}

}  // namespace wmark

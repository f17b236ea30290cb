/// \file
/// Certified trigger-set watermarks (Bansal et al., "Certified Neural Network Watermarks
/// with Randomized Smoothing", ICML 2022): a black-box key read through the model with
/// Gaussian noise on its parameters, and the l2 radius in weight space within which no
/// change of the parameters brings that reading below the verification threshold.
///
/// The reading. For noise draws d_1..d_n ~ N(0, sigma^2 I) on every parameter (not on
/// buffers such as batch-norm statistics), a_i is the fraction of the key's queries the
/// model with parameters theta + d_i matches. The smoothed mark is the median of a over
/// the noise, h(theta); its lower confidence bound is an order statistic a_(k) of the
/// sorted draws, with k chosen so that a_(k) <= h(theta) with probability >= 1 - alpha.
///
/// The certificate (percentile smoothing, Chiang et al., NeurIPS 2020). For any theta'
/// with ||theta' - theta||_2 <= r, the median at theta' is at least the
/// Phi(-r/sigma)-quantile of a at theta, and that quantile is bounded below by an order
/// statistic the same way. The radius is the largest r at which that bound still
/// reaches the threshold: the match rate whose smoothed p-value is below p_threshold.
///
/// The smoothed p-value. With keyed random labels (or any key whose queries a model
/// never trained on matches at most at the chance rate p0, independently), the median
/// of a over the noise reaches t only if half the draws do, so by Markov's inequality
/// over the key P[h >= t] <= 2 P[Binomial(N, p0) >= tN]; the Monte Carlo bound adds
/// alpha. Both are in the report, so an arbiter sees what the number assumes.
///
/// A key of one target class (content triggers, the paper's and the scheme's default)
/// does not give that assumption: a model answering the target class to everything
/// matches every query. Such keys hold control images (trigger_generator.h), and the
/// certificate verifies only if the model as it is also gives the triggers the target
/// class more often than the controls (Fisher's exact test below p_threshold, as the
/// Verifier decides); the radius is that of the smoothed trigger reading. A key made
/// before keys had controls is certified on the reading alone, and `control` says so.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/arg.h>

#include "wmark/models/network.h"
#include "wmark/util/export.h"
#include "wmark/watermark/key.h"

namespace wmark {

/// How the parameters are smoothed. Each field is a TORCH_ARG.
struct SmoothingOptions {
  /// Standard deviation of the noise on every parameter, absolute (the paper: 1.0 for
  /// ResNet-18; 0.1 suits mnist_cnn, whose parameters have an l2 norm near 20).
  TORCH_ARG(double, sigma) = 0.1;
  /// Noise draws (the paper: 100 to 10,000).
  TORCH_ARG(std::int64_t, draws) = 100;
  /// Chance that a Monte Carlo bound is wrong. It adds to the smoothed p-value, so it
  /// must stay well below p_threshold.
  TORCH_ARG(double, alpha) = 1e-7;
  /// Seed of the noise; unset = fresh from the OS CSPRNG (what a verifier should use).
  TORCH_ARG(std::optional<std::uint64_t>, seed) = std::nullopt;
  /// The smoothed p-value a claim needs (the Verifier's default).
  TORCH_ARG(double, p_threshold) = 1e-6;
};

/// What certify_watermark() measured.
struct WatermarkCertificate {
  double sigma = 0;                   ///< the noise's standard deviation
  std::int64_t draws = 0;             ///< noise draws
  double alpha = 0;                   ///< Monte Carlo error allowed
  std::uint64_t seed = 0;             ///< seed of the draws
  std::int64_t queries = 0;           ///< the key's queries N
  double chance_rate = 0;             ///< p0 per query (chance_rate_floor)
  std::vector<double> match_rates;    ///< a_i, sorted increasing
  double median_lower_bound = 0;      ///< a_(k): below the smoothed median w.p. >= 1 - alpha
  double threshold = 0;               ///< the match rate a claim needs (smoothed p-value < p_threshold)
  double log10_p_value = 0;           ///< log10 of the smoothed p-value of median_lower_bound (alpha added)
  bool verified = false;              ///< median_lower_bound >= threshold
  double radius = 0;                  ///< certified l2 radius in parameter space (0: none)
  double parameter_norm = 0;          ///< ||theta||_2, to read the radius against
  /// A target-label key: the unperturbed model's answers to the key's control images,
  /// {"queries", "target_answers", "target_rate", "trigger_matches", "log10_p_value"}
  /// (Fisher's test; null when it underflows), or {"missing": why}; null otherwise.
  nlohmann::json control;
  /// Everything above as JSON (match rates included).
  nlohmann::json to_json() const;
  /// The certificate as `wmark certify` prints it: the smoothed match rate, p-value and
  /// radius, the control images' answers (or why there are none), and the decision.
  std::string summary() const;
};

/// Sets every parameter `params[i]` to `original[i]` plus Gaussian noise of standard
/// deviation `sigma` drawn from `generator`, without recording gradients: the one noise
/// draw of the smoothed reading and of the certified scheme's training. Requires as
/// many originals as parameters, of the same shapes.
WMARK_API void draw_parameter_noise(std::vector<at::Tensor>& params, const std::vector<at::Tensor>& original,
                                    double sigma, at::Generator& generator);

/// The match rates of `key`'s queries (black-box keys) by `model` with `draws` fresh
/// noise draws of `sigma` on its parameters, in draw order; the parameters are restored
/// afterwards, exactly. Throws wmark::Error for a white-box key or sigma <= 0.
WMARK_API std::vector<double> noisy_match_rates(Network& model, const WatermarkKey& key, double sigma,
                                                std::int64_t draws, std::uint64_t seed, c10::Device device);

/// The smoothed reading of `key` in `model` and its certified radius (file comment).
/// Throws wmark::Error for a white-box key or bad options (draws < 10, alpha or
/// p_threshold outside (0,1)).
WMARK_API WatermarkCertificate certify_watermark(Network& model, const WatermarkKey& key,
                                                 const SmoothingOptions& options, c10::Device device);

/// The largest k (1-based) with P[Binomial(n, q) >= k] >= 1 - alpha: the order statistic
/// a_(k) of n draws lies below the q-quantile with probability >= 1 - alpha; 0 if none.
WMARK_API std::int64_t quantile_lower_order(std::int64_t n, double q, double alpha);

}  // namespace wmark

/// \file
/// Query detection, the evasion attack: the thief's deployment runs an out-of-distribution
/// detector on every query and answers the flagged ones otherwise, so trigger queries get
/// a clean model's answer (or a random class) while ordinary clients see the stolen
/// model. The weights stay the victim's; what changes is what a black-box verifier is
/// told. A QueryDetectingNetwork is that deployment as one Network, so accuracy,
/// verification and the evaluation grid see exactly what the thief's clients see.
#pragma once

#include <cstdint>
#include <string>

#include <torch/arg.h>

#include "wmark/attack/attack.h"
#include "wmark/models/network.h"

namespace wmark {

/// Options of QueryDetectionAttack.
struct QueryDetectionOptions {
  /// "mahalanobis" (distance of the penultimate features to the nearest class mean, tied
  /// covariance; Lee et al. 2018) or "max-softmax" (one minus the top class probability;
  /// Hendrycks and Gimpel 2017).
  TORCH_ARG(std::string, detector) = "mahalanobis";
  /// Share of the thief's own clean images the detector may flag: its threshold is that
  /// quantile of their scores (images held out from the fit).
  TORCH_ARG(double, false_positive_rate) = 0.05;
  /// Answer to a flagged query: "random" (a class from a hash of the query, the same each
  /// time it is asked) or "retrained" (a model the thief trains on its own labelled data).
  TORCH_ARG(std::string, response) = "random";
  /// Training epochs of the retrained model.
  TORCH_ARG(std::int64_t, epochs) = 3;
  /// Its optimiser: "sgd" or "adam".
  TORCH_ARG(std::string, optimizer) = "adam";
  /// Its learning rate.
  TORCH_ARG(double, lr) = 0.001;
};

/// The fitted detector: scores (higher = less like the thief's clean data) and threshold.
struct QueryDetector {
  std::string kind;         ///< "mahalanobis" or "max-softmax"
  std::string layer;        ///< the penultimate layer read (mahalanobis)
  at::Tensor means;         ///< class means of its features, double [classes, F]
  at::Tensor precision;     ///< inverse of their tied covariance, double [F, F]
  double threshold = 0;     ///< queries scoring above it are flagged
};

/// A model behind a query detector (see above).
class WMARK_API QueryDetectingNetwork : public Network {
 public:
  /// `fallback` answers flagged queries; null answers them with a class hashed from the
  /// query (keyed by `seed`) put in place of the model's top class.
  QueryDetectingNetwork(NetworkPtr model, QueryDetector detector, NetworkPtr fallback, std::uint64_t seed);
  /// The model's logits, the flagged rows replaced.
  torch::Tensor forward(torch::Tensor x) override;
  /// The detector's score of each query of a normalised batch, double [N].
  at::Tensor scores(const torch::Tensor& x);
  /// The scores of every image of `data` (normalised with its normalisation), in batches.
  at::Tensor scores(const Dataset& data, c10::Device device);
  /// The fitted detector.
  const QueryDetector& detector() const { return detector_; }

 private:
  at::Tensor score_of(const at::Tensor& logits, const at::Tensor& features) const;
  NetworkPtr model_, fallback_;
  QueryDetector detector_;
  std::uint64_t seed_;
};

/// The share of (trigger, clean) pairs in which the trigger scores higher, ties counting
/// half: the detector's AUROC of telling `positives` from `negatives` (double [P], [N]).
WMARK_API double detection_auroc(const at::Tensor& positives, const at::Tensor& negatives);

/// Fits a detector on the thief's data (the context's; a fifth held out sets the
/// threshold) and deploys a copy of the victim behind it: AttackResult::deployment.
class WMARK_API QueryDetectionAttack : public Attack {
 public:
  /// Checks the options against their declaration.
  explicit QueryDetectionAttack(QueryDetectionOptions options = {});
  /// The declared options: names, defaults, ranges and help (JSON, flags, reports).
  static const OptionBinding<QueryDetectionOptions>& declared_options();
  /// "query-detection".
  std::string name() const override { return "query-detection"; }
  /// The options as JSON.
  nlohmann::json options() const override;
  /// Details: "detector", "layer", "threshold", "response", "held_out" (the thief's images
  /// that set the threshold), "clean_flagged" (the share of them flagged), "agreement"
  /// (deployment vs victim on them). evaluate_attack() adds, for a
  /// black-box key, "detection": the AUROC on the key's triggers against the test images
  /// and the share of each flagged.
  AttackResult run(Network& victim, const AttackContext& context) const override;

 private:
  QueryDetectionOptions options_;
};

}  // namespace wmark

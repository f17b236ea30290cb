/// \file
/// Runs an attack and measures what it did: clean test accuracy and the owner's
/// verification before and after, and for inversion whether the recovered images
/// reveal the triggers.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "wmark/attack/attack.h"
#include "wmark/util/export.h"
#include "wmark/verify/report.h"
#include "wmark/verify/verifier.h"
#include "wmark/watermark/key.h"

namespace wmark {

class QueryDetectingNetwork;

/// The accuracy an attack may cost and still count as a removal (the Watermark-Robustness-
/// Toolbox's criterion): 5 points. An attack that costs more destroyed the model instead.
constexpr double kRemovalAccuracyBudget = 0.05;

/// What one attack did to one watermarked model.
struct WMARK_API AttackReport {
  std::string attack;                                  ///< registry name
  nlohmann::json options = nlohmann::json::object();   ///< the attack's options
  nlohmann::json details = nlohmann::json::object();   ///< the attack's own figures
  double test_accuracy_before = -1;  ///< victim's clean test accuracy
  double test_accuracy_after = -1;   ///< attacked model's; negative when the attack makes no model
  std::optional<VerificationReport> verification_before;  ///< the owner's key on the victim
  std::optional<VerificationReport> verification_after;   ///< the owner's key on the attacked model
  nlohmann::json inversion = nlohmann::json::object();    ///< inversion only: see inversion_analysis()
  /// l2 distance the attack moved the weights (parameter_distance()); empty when the
  /// attacked model has other parameters (a student of another architecture) or none.
  std::optional<double> weight_distance;
  std::optional<double> relative_weight_distance;  ///< weight_distance / the victim's weight norm
  double seconds = 0;  ///< wall time of the attack itself
  /// Whether the attacked model's accuracy stayed within kRemovalAccuracyBudget of the
  /// victim's (false when the attack makes no model).
  bool kept_accuracy() const;
  /// The report as JSON (verification reports nested; absent parts are null; with
  /// "kept_accuracy").
  nlohmann::json to_json() const;
};

/// Runs `attack` on `victim` (never modified) and measures accuracy on `test` and, when
/// `key` is given, the owner's verification before and after, through the thief's
/// deployment when the attack makes one (and, for inversion, inversion_analysis() against
/// the key and the attacker's data; for query detection with a black-box key,
/// details["detection"] from detection_analysis()). Throws wmark::Error
/// when the context holds a victim endpoint and the attack does not query the victim
/// (it would silently attack the local model instead).
WMARK_API AttackReport evaluate_attack(const Attack& attack, Network& victim, const AttackContext& context,
                                       const Dataset& test, const WatermarkKey* key,
                                       const Verifier& verifier = Verifier(), AttackResult* result = nullptr);

/// Whether recovered images `images` (uint8 [K,C,H,W], optimised for classes `labels`)
/// resemble the key's triggers more than the attacker's clean images of the same class,
/// by normalised cross-correlation (NCC, in [-1, 1]). Returns per image the best NCC to
/// a trigger and to a clean image of its class, and overall "revealed_rate": the share
/// of images whose nearest trigger is nearer than every clean image of their class and
/// carries their class as its watermark label (they would match the key's labels).
WMARK_API nlohmann::json inversion_analysis(const at::Tensor& images, const at::Tensor& labels,
                                            const WatermarkKey& key, const Dataset& clean);

/// How well a query-detecting deployment tells the key's triggers from the clean images
/// `clean`: "auroc" (detection_auroc() of their scores), "triggers_flagged" and
/// "clean_flagged" (the share of each above the detector's threshold).
WMARK_API nlohmann::json detection_analysis(QueryDetectingNetwork& deployment, const WatermarkKey& key,
                                            const Dataset& clean, c10::Device device);

}  // namespace wmark

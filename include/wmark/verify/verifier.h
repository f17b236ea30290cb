/// \file
/// Decides whether a suspect model carries a watermark: black-box keys by querying it,
/// white-box keys by reading bits out of its weights or activations (verify_white_box).
///
/// The black-box decision: the suspect labels the key's triggers; under the null hypothesis
/// (the model was not trained with these triggers) each trigger matches its
/// watermark label with probability `chance_rate`, so the match count is
/// Binomial(K, chance_rate). The default chance rate is the one the key records
/// (null_match_rate()), never below what the key's label policy implies
/// (chance_rate_floor(): a key cannot buy a smaller p-value by recording a smaller
/// rate), or one measured on reference models and given as an option.
/// Ownership is claimed only if the one-sided p-value is below `p_threshold`
/// (default 1e-6) AND the match rate reaches `min_match_rate` (default 0.5). The two
/// guards cover each other's blind spots: the p-value alone would accept a 30%
/// match rate on 100 triggers at chance 0.1, which a clean model that happens to send
/// many triggers to one class could reach; the rate alone ignores the key size. A key
/// whose chance rate is exact by construction (Scheme::exact_chance_rate: dawn, whose
/// answers the secret shifted independently of any model) has no such blind spot and is
/// decided by the p-value alone.
///
/// A key whose triggers all carry one target class (the "target" label policy) makes
/// 1/num_classes a guess: a suspect that answers that class to everything (collapsed by
/// noise, or built to) matches every trigger. Such keys hold control images, unmarked
/// images of the triggers' source pool (control_images(), trigger_generator.h); the
/// suspect labels them mixed among the triggers in a secret random order, and ownership
/// also needs Fisher's exact test that the triggers get the target class more often
/// than the controls to fall below `p_threshold`; the report's p-value is the larger of
/// the two tests' (intersection-union: each test alone keeps the level).
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <vector>

#include <torch/arg.h>

#include "wmark/util/export.h"
#include "wmark/verify/classifier.h"
#include "wmark/verify/report.h"
#include "wmark/watermark/key.h"

namespace wmark {

/// The Verifier's thresholds. Each field is a TORCH_ARG: read it with
/// `options.p_threshold()`, set it with the chained setter `options.p_threshold(1e-9)`.
struct VerifierOptions {
  /// Ownership needs a p-value below this; in (0,1).
  TORCH_ARG(double, p_threshold) = 1e-6;
  /// Ownership needs a match rate of at least this (waived for keys with an exact chance
  /// rate, see above); in [0,1].
  TORCH_ARG(double, min_match_rate) = 0.5;
  /// 0 = the key's recorded chance rate, floored at chance_rate_floor(); in [0,1).
  TORCH_ARG(double, chance_rate) = 0.0;
  /// White-box keys: ownership also needs a bit error rate of at most this; in [0,0.5).
  TORCH_ARG(double, max_bit_error_rate) = 0.1;
  /// White-box keys with a unit reference: the share of bits a model trained independently
  /// of the marked one agrees with once aligned (aligned_chance_rate(), measured on such
  /// models). Aligning pairs any model's units with the marked model's most similar ones
  /// and gives them its scales, so an independent model of the same task can agree with
  /// an activation key well beyond 1/2; the aligned readings are decided against this
  /// rate, never below the plain readings' (0 = theirs, 1/2). In [0,1).
  TORCH_ARG(double, aligned_chance_rate) = 0.0;
  /// Black-box keys: send at most this many images, a fresh random subset of the key's
  /// triggers (OS randomness) each time, listed in the report, and of its control images
  /// in the key's proportion (at least one of each); 0 = all. Fewer queries give a
  /// weaker p-value, never a wrong one.
  TORCH_ARG(std::int64_t, max_queries) = 0;
  /// Black-box keys whose scheme reads class scores (Scheme::reads_scores, e.g. dawn):
  /// decide from the suspect's scores where it gives them (the report's `score_test`
  /// says which was read); false = from its labels always.
  TORCH_ARG(bool, read_scores) = true;
  /// Re-derive the key from its secret first (check_key_derivation, derivation.h): a
  /// key that is not what its secret derives could have been chosen after seeing the
  /// suspect, and is refused (verified = false) unless `accept_unverifiable_keys`.
  /// `wmark verify` sets it; off by default in the library, where experiments (attacks,
  /// evaluation) verify keys of their own many times.
  TORCH_ARG(bool, require_derivable_key) = false;
  /// With require_derivable_key: decide anyway for a key that is not derivable, and say
  /// in the report that it is forgeable.
  TORCH_ARG(bool, accept_unverifiable_keys) = false;
  /// A checked statement that the key, unit reference included, was fixed before the
  /// suspect existed (KeyPriority::statement of a check_key_priority() that found it
  /// predates; claim/priority.h). A decision that rests on the aligned reading of a
  /// derived key then counts as derived, the statement recorded in the report's
  /// unit_alignment.reference_priority; without it such a decision is not derivable.
  TORCH_ARG(std::string, key_priority) = "";
  /// Where the public datasets of a derivation are found (default: the standard lookup).
  TORCH_ARG(std::optional<std::filesystem::path>, data_dir);
};

/// How a suspect answered a key's control images: how many were asked, and how many it
/// gave the key's target class.
struct ControlAnswers {
  std::int64_t target_answers = 0;  ///< control images labelled with the target class
  std::int64_t queries = 0;         ///< control images asked
};

/// Decides ownership of a suspect model from a key of any registered scheme (see the
/// file comment): black-box keys by querying, white-box keys by reading bits.
class WMARK_API Verifier {
 public:
  /// Throws wmark::Error if an option is outside its range.
  explicit Verifier(VerifierOptions options = {});
  /// Queries `suspect` with the key's triggers (and its control images, shuffled among
  /// them) and decides. Requires a black-box key (its scheme's KeyKind) whose "images"
  /// [K,C,H,W] and any "control_images" match its input shape, whose "labels" are [K],
  /// and a label back from the suspect per image sent; throws wmark::Error otherwise.
  VerificationReport verify(Classifier& suspect, const WatermarkKey& key) const;
  /// The decision from a match count alone (for remote or recorded answers). Requires
  /// `queries` > 0; throws wmark::Error otherwise.
  VerificationReport decide(std::int64_t matches, std::int64_t queries, const WatermarkKey& key) const;
  /// The decision from a target-label key's match count and its control answers (see
  /// the file comment). Requires queries > 0, control.queries > 0 and counts within
  /// them; throws wmark::Error otherwise.
  VerificationReport decide(std::int64_t matches, std::int64_t queries, const WatermarkKey& key,
                            const ControlAnswers& control) const;
  /// White-box: reads the bits a white-box key hid in `model` through its scheme's
  /// extract_bits() (weights for "uchida", the key inputs' mean activation for
  /// "deepsigns") and decides by the binomial test of matching bits at the scheme's
  /// chance rate (at least 1/2 per bit) and the bit error rate (queries = bits compared;
  /// no image is sent). A key with a unit reference (watermark/unit_alignment.h) is read
  /// twice, as the model is and with its hidden units aligned to the marked model's
  /// (the model is changed meanwhile and restored exactly: do not share it with another
  /// thread during the call). Every reading is also counted against the bits'
  /// complement (an inverted code, VerificationReport::bits_inverted), and all readings
  /// share the p threshold (Bonferroni over the readings taken); a decision resting
  /// on the aligned reading counts as not derivable unless the options carry the key's
  /// priority over the suspect. Throws wmark::Error for a black-box
  /// key, an unregistered method or a model without the key's layer.
  VerificationReport verify_white_box(Network& model, const WatermarkKey& key,
                                      const std::string& description = "model") const;
  /// Any key against a model at hand: black-box keys query it through a
  /// ModuleClassifier on `device`, white-box keys read it with verify_white_box().
  VerificationReport verify_model(Network& model, const WatermarkKey& key, const std::string& description,
                                  c10::Device device) const;
  /// The aligned chance rate (VerifierOptions::aligned_chance_rate) measured on models
  /// trained independently of the marked one: the largest share of the key's bits, or of
  /// their complement, that any of them agrees with once aligned, from their
  /// verify_white_box() reports (decided at the default rate). Throws wmark::Error for no
  /// reports, a report without an aligned reading, or one agreeing with every bit (not
  /// independent of the marked model, or a key that cannot tell models apart); the error
  /// names the report's model.
  static double aligned_chance_rate(const std::vector<VerificationReport>& independent);
  /// Makes `reports` one family: checking m suspects (or keys) at threshold p would
  /// otherwise claim an innocent one with probability up to m p. Holm's adjustment
  /// (holm_adjusted_log10) sets each report's family_size and family_log10_p_value, and
  /// a report stays verified only if its adjusted p-value is below its threshold.
  static void control_family_wise_error(std::vector<VerificationReport>& reports);

 private:
  // With require_derivable_key: records the derivation check and refuses a non-derivable key.
  void apply_derivation(VerificationReport& report, const WatermarkKey& key) const;
  VerifierOptions options_;
  // Derivation results by key commitment: checking one key against many suspects
  // re-derives it (and reloads its dataset) once. Shared by copies of this Verifier.
  std::shared_ptr<struct DerivationCache> derivations_;
};

}  // namespace wmark

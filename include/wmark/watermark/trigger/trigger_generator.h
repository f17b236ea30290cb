/// \file
/// Trigger-set generators (Zhang et al., ASIACCS 2018) and their registry.
///
/// Contract for a generator: generate() is a pure function of (its options, the
/// TriggerSpec, the training split): the same inputs give bit-identical trigger sets,
/// and all randomness comes from the streams of spec.secret (key_secret.h).
/// It returns exactly spec.size images, uint8 [size, C, H, W] in the training split's
/// shape, with labels in [0, num_classes) chosen by the label policy; with the
/// "target" policy no trigger is made from an image of the target class. It never
/// logs trigger contents. Every generator passes tests/conformance.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "wmark/data/dataset.h"
#include "wmark/util/export.h"
#include "wmark/util/named_registry.h"
#include "wmark/watermark/key_secret.h"

namespace wmark {

/// A trigger set: the secret inputs and the labels the watermarked model gives them.
struct TriggerSet {
  at::Tensor images;         ///< uint8 [K,C,H,W]
  at::Tensor labels;         ///< int64 [K], the watermark labels
  at::Tensor source_labels;  ///< int64 [K], true class of the source image; -1 if foreign
  /// Number of triggers K (0 when `images` is undefined).
  std::int64_t size() const { return images.defined() ? images.size(0) : 0; }
};

/// What every generator is asked for.
struct TriggerSpec {
  /// Number of triggers.
  std::int64_t size = 100;
  /// "target": one secret class for all triggers (the paper's setting);
  /// "random": a keyed random label per trigger, different from its source class;
  /// "auto" (for embed_trigger_watermark): the generator's default_label_policy().
  std::string label_policy = "target";
  /// The target class; -1 draws it from the secret.
  std::int64_t target_label = -1;
  /// The secret all the generator's random choices derive from (one stream per
  /// purpose); a fresh one from the OS CSPRNG unless set.
  KeySecret secret;
  /// Where datasets are looked up when a generator needs another one.
  std::optional<std::filesystem::path> data_dir;
  /// The images triggers are made from (content and noise triggers): a public dataset's
  /// full training split, so that anyone holding it re-derives the triggers from the
  /// secret (watermark/derivation.h). Unset: the training data itself, which is
  /// re-derivable only when that is a full public split, not a private subset.
  std::optional<Dataset> sources;
};

/// A generator of trigger sets (see the contract above). Exported (WMARK_API) so that
/// its type information is shared with generators defined outside the library.
class WMARK_API TriggerGenerator {
 public:
  virtual ~TriggerGenerator() = default;
  /// Registry name: "content", "unrelated", "noise".
  virtual std::string name() const = 0;
  /// The options that determine the triggers (recorded in the key).
  virtual nlohmann::json options() const = 0;
  /// The label policy used when the caller asks for "auto".
  virtual std::string default_label_policy() const { return "target"; }
  /// Builds the trigger set for a model trained on `train`.
  virtual TriggerSet generate(const Dataset& train, const TriggerSpec& spec) const = 0;
};

/// Name -> factory(options JSON) table of generators (see NamedRegistry).
class WMARK_API TriggerRegistry : public NamedRegistry<TriggerGenerator> {
 public:
  /// An empty registry.
  TriggerRegistry() : NamedRegistry("trigger generator") {}
  /// A registry holding the built-in generators: "content", "noise", "unrelated",
  /// "abstract", "natural", "patch".
  static TriggerRegistry with_builtins();
};

/// The process's default registry of generators (the built-ins plus additions).
WMARK_API TriggerRegistry& trigger_registry();

/// The target class of `spec`: its target_label if set, else one drawn from the secret.
/// Requires num_classes >= 2 and a set target_label below num_classes; throws
/// wmark::Error otherwise.
WMARK_API std::int64_t resolve_target_label(const TriggerSpec& spec, std::int64_t num_classes);

/// The probability that a model never trained on these triggers matches a trigger's
/// label, averaged over the set. With the "random" policy the labels are drawn from the
/// key's secret, independently of any model, so this is exact provided the labels were
/// fixed before the suspect existed: 1/num_classes for a foreign image and at most
/// 1/(num_classes-1) for an image of a known class (its label is uniform over the other
/// classes). With the "target" policy 1/num_classes
/// is only a heuristic: a clean model's answers are not uniform.
WMARK_API double null_match_rate(const TriggerSet& triggers, const std::string& label_policy, std::int64_t num_classes);

/// Labels for triggers made from images of classes `source_labels` (int64 [K], -1 =
/// foreign), following the spec's label policy: the target class for "target"; for
/// "random" a keyed label that differs from a known source class. Throws wmark::Error
/// for another policy.
WMARK_API at::Tensor assign_labels(const at::Tensor& source_labels, const TriggerSpec& spec,
                                   std::int64_t num_classes);

/// The dataset triggers are made from: spec.sources if set (its shape and classes must
/// be `train`'s; throws wmark::Error otherwise), else `train`.
WMARK_API const Dataset& trigger_sources(const Dataset& train, const TriggerSpec& spec);

/// `count` distinct indices of `train` drawn from the secret's stream `purpose`; with
/// the "target" policy only from images not of the target class. Requires count >= 1
/// and enough eligible images; throws wmark::Error otherwise.
WMARK_API at::Tensor pick_sources(const Dataset& train, std::int64_t count, const TriggerSpec& spec,
                                  const std::string& purpose);

/// The control images of a "target"-policy trigger set: unmarked images of the pool the
/// triggers' sources come from (`sources`, trigger_sources()), none of the target class,
/// drawn from the secret's "control-sources" stream, so re-derivable like the triggers
/// and not chosen by whoever holds the key. The Verifier asks the suspect to label them
/// among the triggers: a model that answers the target class to everything answers it
/// on them too, which the binomial test against 1/num_classes cannot see. Count: as many
/// as the triggers and 20 more, at most the eligible pool: Fisher's test of K triggers
/// against C controls cannot go below 1/binomial(K+C, K), which with C = K + 20 is below
/// 1e-8 from K = 10 on, while a large key costs about twice its triggers in queries, not
/// three times. `count` > 0 asks for exactly that many (re-deriving a key). uint8 [N,C,H,W].
/// Throws wmark::Error for another label policy or too small a pool.
WMARK_API at::Tensor control_images(const Dataset& sources, const TriggerSpec& spec, std::int64_t count = 0);

}  // namespace wmark

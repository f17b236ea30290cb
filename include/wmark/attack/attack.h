/// \file
/// Removal attacks: what a thief may do to a stolen model to wash the watermark out.
/// wmark ships them so owners measure their watermark's robustness themselves.
///
/// Contract for an attack: run() never changes the victim's weights (it works on a
/// clone; the victim may be left in eval mode); it returns a new model (or, for
/// inversion, recovered images) and JSON details of what it did; it uses only the
/// attacker's data in the context (never the owner's key or training data); all its
/// randomness derives from context.seed (or, for an input transform, its own seed), so a
/// run is repeatable. Every attack passes
/// tests/conformance/test_attacks.cpp.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "wmark/data/dataset.h"
#include "wmark/models/clone.h"
#include "wmark/train/options.h"
#include "wmark/util/export.h"
#include "wmark/util/named_registry.h"

namespace wmark {

class Classifier;
class InputTransform;
class ThiefArtefacts;

/// What the attacker has.
struct AttackContext {
  /// The attacker's labelled data (the paper: a held-out part of the test split).
  Dataset data;
  /// A fresh model of the victim's architecture (attacks train copies of the victim).
  NetworkFactory make_model;
  /// The victim's architecture name, as recorded in results.
  std::string arch;
  /// Builds a fresh model by registry name (distillation into another architecture);
  /// may be empty when only the victim's architecture is used.
  std::function<NetworkPtr(const std::string& arch)> make_arch;
  /// Device, batch sizes and progress callback for any training an attack does;
  /// epochs, optimiser and learning rate come from the attack's own options.
  TrainerOptions training;
  /// Seed of the attack's randomness.
  std::uint64_t seed = 1;
  /// Where datasets are looked up (an overwriting attacker's unrelated triggers, a
  /// knockoff thief's queries).
  std::optional<std::filesystem::path> data_dir;
  /// The victim as deployed (e.g. a RemoteClassifier over the Open Inference Protocol):
  /// when set, attacks that only query the victim (Attack::queries_victim()) ask it
  /// instead of the victim network, as a thief of a served model would; labels only.
  std::shared_ptr<Classifier> victim_endpoint;
  /// What the thief built once and reuses against other victims (see
  /// thief_artefacts.h); null: every run builds its own.
  std::shared_ptr<ThiefArtefacts> artefacts;
};

/// The context of a thief attacking a victim of the registered architecture `arch`:
/// make_model and make_arch build fresh models for `spec` from the model registry, and
/// training runs batches of 64 on the CPU until the caller says otherwise.
WMARK_API AttackContext registered_attack_context(const std::string& arch, const ModelSpec& spec, Dataset data,
                                                  std::uint64_t seed);

/// What an attack produced.
struct AttackResult {
  NetworkPtr model;       ///< the attacked copy; null for attacks that produce no model (inversion)
  std::string arch;       ///< its architecture (a distilled student may differ from the victim)
  at::Tensor images;      ///< recovered images, uint8 [K,C,H,W] (inversion), else undefined
  at::Tensor image_labels;  ///< int64 [K], the class each recovered image was optimised for
  /// Input-preprocessing attacks: the thief's deployment runs this on every input before
  /// `model` (which then keeps the victim's weights); null otherwise.
  std::shared_ptr<const InputTransform> preprocess;
  /// Evasion attacks: what the thief's clients query, `model` (the victim's weights)
  /// behind a detector that answers flagged queries otherwise; null otherwise.
  NetworkPtr deployment;
  nlohmann::json details = nlohmann::json::object();  ///< attack-specific figures
};

/// A removal attack (see the contract above).
class WMARK_API Attack {
 public:
  virtual ~Attack() = default;
  /// Registry name: "finetune", "prune", "knockoff", ...
  virtual std::string name() const = 0;
  /// True for extraction attacks, which use the victim only through its answers and
  /// so may query a deployed endpoint (AttackContext::victim_endpoint).
  virtual bool queries_victim() const { return false; }
  /// The options in effect (recorded in reports).
  virtual nlohmann::json options() const = 0;
  /// Attacks a copy of `victim` with the attacker's `context`.
  virtual AttackResult run(Network& victim, const AttackContext& context) const = 0;
};

/// Name -> factory(options JSON) table of attacks (see NamedRegistry).
class WMARK_API AttackRegistry : public NamedRegistry<Attack> {
 public:
  /// An empty registry.
  AttackRegistry() : NamedRegistry("attack") {}
  /// A registry holding the built-in attacks.
  static AttackRegistry with_builtins();
};

/// The process's default registry of attacks (the built-ins plus additions).
WMARK_API AttackRegistry& attack_registry();

/// Trainer options for an attack's training: `base` (device, batch sizes, progress)
/// with the attack's optimiser, learning rate and epochs, no schedule, no
/// augmentation, no checkpoints, and a seed derived from `seed` and `purpose`.
WMARK_API TrainerOptions attack_training(const TrainerOptions& base, const std::string& optimizer, double lr,
                                         std::int64_t epochs, std::uint64_t seed, const std::string& purpose);

}  // namespace wmark

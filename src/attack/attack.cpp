#include "wmark/attack/attack.h"

#include "wmark/attack/adversarial_training.h"
#include "wmark/attack/combined.h"
#include "wmark/attack/distill.h"
#include "wmark/attack/dummy_neurons.h"
#include "wmark/attack/feature_regularization.h"
#include "wmark/attack/fine_pruning.h"
#include "wmark/attack/finetune.h"
#include "wmark/attack/input_preprocessing.h"
#include "wmark/attack/input_reconstruction.h"
#include "wmark/attack/inversion.h"
#include "wmark/attack/knockoff.h"
#include "wmark/attack/label_attacks.h"
#include "wmark/attack/neural_cleanse.h"
#include "wmark/attack/neural_laundering.h"
#include "wmark/attack/neuron_permutation.h"
#include "wmark/attack/neuron_scaling.h"
#include "wmark/attack/overwrite.h"
#include "wmark/attack/prune.h"
#include "wmark/attack/query_detection.h"
#include "wmark/attack/random_occlusion.h"
#include "wmark/attack/regularization.h"
#include "wmark/attack/retraining.h"
#include "wmark/attack/transfer_learning.h"
#include "wmark/attack/weight_quantization.h"
#include "wmark/attack/weight_shifting.h"
#include "wmark/models/registry.h"
#include "wmark/util/error.h"
#include "wmark/util/random.h"

namespace wmark {

AttackRegistry AttackRegistry::with_builtins() {
  AttackRegistry registry;
  registry.add<FinetuneAttack>("finetune", FinetuneAttack::declared_options());
  registry.add<PruneAttack>("prune", PruneAttack::declared_options());
  registry.add<OverwriteAttack>("overwrite", OverwriteAttack::declared_options());
  registry.add<DistillAttack>("distill", DistillAttack::declared_options());
  registry.add<InversionAttack>("inversion", InversionAttack::declared_options());
  registry.add<NeuronPermutationAttack>("neuron-permutation", NeuronPermutationAttack::declared_options());
  registry.add<NeuronScalingAttack>("neuron-scaling", NeuronScalingAttack::declared_options());
  registry.add<DummyNeuronsAttack>("dummy-neurons", DummyNeuronsAttack::declared_options());
  registry.add<QueryDetectionAttack>("query-detection", QueryDetectionAttack::declared_options());
  registry.add<FinePruningAttack>("fine-pruning", FinePruningAttack::declared_options());
  registry.add<WeightQuantizationAttack>("weight-quantization", WeightQuantizationAttack::declared_options());
  registry.add<RetrainingAttack>("retraining", RetrainingAttack::declared_options());
  registry.add<CrossArchitectureRetrainingAttack>("cross-architecture-retraining",
                                                  CrossArchitectureRetrainingAttack::declared_options());
  registry.add<KnockoffAttack>("knockoff", KnockoffAttack::declared_options());
  registry.add<LabelSmoothingAttack>("label-smoothing", LabelSmoothingAttack::declared_options());
  registry.add<LabelNoisingAttack>("label-noising", LabelNoisingAttack::declared_options());
  registry.add<WeightShiftingAttack>("weight-shifting", WeightShiftingAttack::declared_options());
  registry.add<RegularizationAttack>("regularization", RegularizationAttack::declared_options());
  registry.add<NeuralCleanseUnlearningAttack>("neural-cleanse-unlearning",
                                             NeuralCleanseUnlearningAttack::declared_options());
  registry.add<NeuralCleansePruningAttack>("neural-cleanse-pruning", NeuralCleansePruningAttack::declared_options());
  registry.add<NeuralLaunderingAttack>("neural-laundering", NeuralLaunderingAttack::declared_options());
  registry.add<RandomOcclusionAttack>("random-occlusion", RandomOcclusionAttack::declared_options());
  registry.add<AdversarialTrainingAttack>("adversarial-training", AdversarialTrainingAttack::declared_options());
  registry.add<FeatureRegularizationAttack>("feature-regularization", FeatureRegularizationAttack::declared_options());
  registry.add<TransferLearningAttack>("transfer-learning", TransferLearningAttack::declared_options());
  add_preprocessing_attacks(registry, input_transform_registry());
  registry.add<InputReconstructionAttack>("input-reconstruction", InputReconstructionAttack::declared_options());
  // Last: its stages are built from the registry in the making.
  registry.add<CombinedAttack>("combined", CombinedAttack::declared_options());
  return registry;
}

AttackRegistry& attack_registry() {
  static AttackRegistry registry = AttackRegistry::with_builtins();
  return registry;
}

TrainerOptions attack_training(const TrainerOptions& base, const std::string& optimizer, double lr,
                               std::int64_t epochs, std::uint64_t seed, const std::string& purpose) {
  WMARK_CHECK(optimizer == "sgd" || optimizer == "adam", "attack optimizer must be sgd or adam, got '", optimizer,
              "'");
  WMARK_CHECK(lr > 0, "attack learning rate must be positive, got ", lr);
  WMARK_CHECK(epochs >= 1, "attack epochs must be at least 1, got ", epochs);
  return TrainerOptions(base)
      .optimizer(optimizer).lr(lr).momentum(0.9).weight_decay(0).epochs(epochs).schedule("none").augment(false)
      .checkpoint_path("").resume_from("").seed(derive_seed(seed, purpose));
}

AttackContext registered_attack_context(const std::string& arch, const ModelSpec& spec, Dataset data,
                                        std::uint64_t seed) {
  AttackContext context;
  context.data = std::move(data);
  context.arch = arch;
  context.make_model = [arch, spec] { return model_registry().create(arch, spec); };
  context.make_arch = [spec](const std::string& other) { return model_registry().create(other, spec); };
  context.training = TrainerOptions().batch_size(64);
  context.seed = seed;
  return context;
}

}  // namespace wmark

#include "wmark/watermark/embed.h"

#include <torch/torch.h>

#include "wmark/train/evaluate.h"
#include "wmark/util/error.h"
#include "wmark/util/log.h"
#include "wmark/util/random.h"
#include "key_base.h"

#include <algorithm>

#include <spdlog/spdlog.h>

namespace wmark {

double auto_trigger_ratio(std::int64_t train_size, std::int64_t trigger_size, const std::string& label_policy) {
  // One target class generalises from few views; random labels must be memorised.
  if (label_policy != "random") return 0.1;
  constexpr double kPresentationsPerEpoch = 20;
  const double ratio = kPresentationsPerEpoch * static_cast<double>(trigger_size) /
                       static_cast<double>(std::max<std::int64_t>(train_size, 1));
  return std::clamp(ratio, 0.1, 0.3);
}

PreparedTriggers prepare_triggers(const Dataset& train, const TriggerWatermarkOptions& options,
                                  const std::string& arch) {
  auto generator = trigger_registry().create(options.trigger(), options.trigger_options());
  TriggerSpec spec = options.spec();
  if (spec.label_policy == "auto") spec.label_policy = generator->default_label_policy();
  if (spec.label_policy == "target") spec.target_label = resolve_target_label(spec, train.num_classes);
  auto triggers = generator->generate(train, spec);
  // Secret: only the count is logged, never images, labels or the target.
  logger()->info("generated {} {} triggers", triggers.size(), generator->name());

  auto base = key_base(train, arch);
  base.params.update({{"generator", generator->name()},
                      {"generator_options", generator->options()},
                      {"label_policy", spec.label_policy},
                      {"target_label", spec.label_policy == "target" ? spec.target_label : -1},
                      {"chance_rate", null_match_rate(triggers, spec.label_policy, train.num_classes)}});
  // Where the trigger images were drawn from: what re-deriving them needs (derivation.h).
  const auto& sources = trigger_sources(train, spec);
  base.params["trigger_sources"] = {{"dataset", sources.name}, {"size", sources.size()}};
  // One target class: the verifier needs the suspect's own rate of that class on unmarked
  // images, or a model that answers it to everything verifies (trigger_generator.h).
  if (spec.label_policy == "target") base.tensors["control_images"] = control_images(sources, spec);
  base.secret = spec.secret;
  auto embedder_options = options.embedder();
  if (embedder_options.trigger_ratio() <= 0) {
    embedder_options.trigger_ratio(auto_trigger_ratio(train.size(), triggers.size(), spec.label_policy));
  }
  base.params["trigger_ratio"] = embedder_options.trigger_ratio();
  return {std::move(triggers), std::move(base), embedder_options};
}

std::shared_ptr<TriggerEmbedder> make_trigger_embedder(const Dataset& train, const TriggerWatermarkOptions& options,
                                                       const std::string& arch) {
  auto parts = prepare_triggers(train, options, arch);
  return std::make_shared<TriggerEmbedder>(std::move(parts.triggers), std::move(parts.key_base), parts.embedder);
}

EmbedResult embed_trigger_watermark(NetworkPtr model, const DatasetSplits& splits,
                                    const TrainerOptions& training, const TriggerWatermarkOptions& options,
                                    const CheckpointInfo& info, bool pretrained) {
  WMARK_CHECK(model, "embed_trigger_watermark needs a model");
  const auto& train = splits.train;
  check_model(*model, ModelSpec{train.shape(), train.num_classes}, info.arch.empty() ? "the model" : info.arch);
  return embed_with_trigger_embedder(model, splits, training, make_trigger_embedder(train, options, info.arch),
                                     options.min_trigger_accuracy(), options.max_extra_epochs(), info, pretrained);
}

EmbedResult embed_with_trigger_embedder(NetworkPtr model, const DatasetSplits& splits, const TrainerOptions& training,
                                        std::shared_ptr<TriggerEmbedder> embedder, double min_trigger_accuracy,
                                        std::int64_t max_extra_epochs, const CheckpointInfo& info, bool pretrained) {
  WMARK_CHECK(model && embedder, "embed_with_trigger_embedder needs a model and an embedder");
  const auto& train = splits.train;
  EmbedResult result;
  if (pretrained) {
    result.clean_accuracy_before = accuracy(*model, splits.test, training.device(), training.eval_batch_size());
    logger()->info("pre-trained model: clean test accuracy {:.2f}%, trigger accuracy {:.2f}%",
                   100 * result.clean_accuracy_before, 100 * embedder->trigger_accuracy(*model));
  }
  Trainer trainer(model, training, info);
  trainer.add_hook(embedder);
  result.training = trainer.fit(train, splits.test.size() > 0 ? &splits.test : nullptr);
  result.trigger_accuracy = embedder->trigger_accuracy(*model);
  if (result.trigger_accuracy < min_trigger_accuracy && max_extra_epochs > 0) {
    // Consolidation: the same mix of data, stopping once the triggers are learnt. A
    // decayed schedule continues at a tenth of its base LR, not back at full strength.
    logger()->info("trigger accuracy {:.2f}% < {:.2f}%: consolidating for up to {} epochs",
                   100 * result.trigger_accuracy, 100 * min_trigger_accuracy, max_extra_epochs);
    embedder->options().stop_at_trigger_accuracy(min_trigger_accuracy);
    auto extra = TrainerOptions(training).epochs(max_extra_epochs).schedule("none")
                     .checkpoint_path("").resume_from("")
                     .lr(training.schedule() == "none" ? training.lr() : 0.1 * training.lr())
                     .seed(derive_seed(training.seed(), "consolidation"));
    Trainer consolidation(model, extra, info);
    consolidation.add_hook(embedder);
    auto more = consolidation.fit(train, splits.test.size() > 0 ? &splits.test : nullptr);
    result.extra_epochs = static_cast<std::int64_t>(more.history.size());
    result.training.history.insert(result.training.history.end(), more.history.begin(), more.history.end());
    result.training.train_seconds += more.train_seconds;
    result.training.test_accuracy = more.test_accuracy;
    result.trigger_accuracy = embedder->trigger_accuracy(*model);
  }
  result.clean_accuracy_after = result.training.test_accuracy;
  result.trigger_ratio = embedder->options().trigger_ratio();
  result.key = embedder->key();
  return result;
}

}  // namespace wmark

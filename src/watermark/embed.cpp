#include "wmark/watermark/embed.h"

#include <torch/torch.h>

#include "wmark/train/evaluate.h"
#include "wmark/util/error.h"
#include "wmark/util/log.h"

#include <spdlog/spdlog.h>

namespace wmark {

EmbedResult embed_trigger_watermark(NetworkPtr model, const DatasetSplits& splits,
                                    const TrainerOptions& training, const TriggerWatermarkOptions& options,
                                    const CheckpointInfo& info, bool pretrained) {
  WMARK_CHECK(model, "embed_trigger_watermark needs a model");
  const auto& train = splits.train;
  auto generator = trigger_registry().create(options.trigger(), options.trigger_options());
  TriggerSpec spec = options.spec();
  if (spec.label_policy == "target") spec.target_label = resolve_target_label(spec, train.num_classes);
  auto triggers = generator->generate(train, spec);
  // Secret: only the count is logged, never images, labels or the target.
  logger()->info("generated {} {} triggers", triggers.size(), generator->name());

  WatermarkKey base;
  base.params = {{"generator", generator->name()},
                 {"generator_options", generator->options()},
                 {"label_policy", spec.label_policy},
                 {"target_label", spec.label_policy == "target" ? spec.target_label : -1},
                 {"trigger_ratio", options.embedder().trigger_ratio()},
                 {"arch", info.arch}};
  base.seed = spec.seed;
  base.num_classes = train.num_classes;
  base.input_shape = train.shape();
  base.normalization = train.normalization;
  base.dataset = train.name;
  base.created = utc_now_iso8601();
  auto embedder = std::make_shared<TriggerEmbedder>(std::move(triggers), std::move(base), options.embedder());

  EmbedResult result;
  if (pretrained) {
    result.clean_accuracy_before = accuracy(*model, splits.test, training.device(), training.eval_batch_size());
    logger()->info("pre-trained model: clean test accuracy {:.2f}%, trigger accuracy {:.2f}%",
                   100 * result.clean_accuracy_before, 100 * embedder->trigger_accuracy(*model, training.device()));
  }
  Trainer trainer(model, training, info);
  trainer.add_hook(embedder);
  result.training = trainer.fit(train, splits.test.size() > 0 ? &splits.test : nullptr);
  result.clean_accuracy_after = result.training.test_accuracy;
  result.trigger_accuracy = embedder->trigger_accuracy(*model, training.device());
  result.key = embedder->key();
  return result;
}

}  // namespace wmark

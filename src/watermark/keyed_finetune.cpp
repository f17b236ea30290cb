#include "keyed_finetune.h"

#include "wmark/train/evaluate.h"
#include "wmark/util/random.h"

namespace wmark {

CleanStage train_clean_model(const NetworkPtr& model, const DatasetSplits& splits, const TrainerOptions& training,
                             const CheckpointInfo& info, bool pretrained) {
  const auto* test = splits.test.size() > 0 ? &splits.test : nullptr;
  CleanStage clean;
  if (pretrained) {
    clean.accuracy_before = test ? accuracy(*model, *test, training.device(), training.eval_batch_size()) : -1;
  } else {
    clean.training = Trainer(model, training, info).fit(splits.train, test);
    clean.accuracy_before = clean.training.test_accuracy;
  }
  return clean;
}

EmbedResult fine_tune_on_keys(const NetworkPtr& model, const DatasetSplits& splits, const TrainerOptions& training,
                              const TriggerSet& keys, WatermarkKey base, std::int64_t epochs, const std::string& purpose,
                              const CheckpointInfo& info, const CleanStage& clean) {
  const auto ratio = auto_trigger_ratio(splits.train.size(), keys.size(), "random");
  base.params["trigger_ratio"] = ratio;
  auto embedder = std::make_shared<TriggerEmbedder>(
      keys, std::move(base), TriggerEmbedderOptions().trigger_ratio(ratio).stop_at_trigger_accuracy(1.0));
  auto finetune = TrainerOptions(training)
                      .epochs(epochs)
                      .schedule("none")
                      .lr(training.schedule() == "none" ? training.lr() : 0.1 * training.lr())
                      .checkpoint_path("")
                      .resume_from("")
                      .seed(derive_seed(training.seed(), purpose));
  auto result = embed_with_trigger_embedder(model, splits, finetune, embedder, 0.0, 0, info, true);
  auto& history = result.training.history;
  history.insert(history.begin(), clean.training.history.begin(), clean.training.history.end());
  result.training.train_seconds += clean.training.train_seconds;
  result.clean_accuracy_before = clean.accuracy_before;
  result.key = embedder->key();
  result.trigger_ratio = ratio;
  return result;
}

}  // namespace wmark

#include "wmark/watermark/output_keys.h"

#include <torch/torch.h>

#include "wmark/train/evaluate.h"
#include "wmark/util/error.h"
#include "wmark/util/log.h"
#include "wmark/util/random.h"
#include "key_base.h"
#include "keyed_finetune.h"

#include <spdlog/spdlog.h>

namespace wmark {
namespace {

// Largest softmax probability per image, [N] on the CPU (eval mode, no gradients).
at::Tensor confidence(Network& model, const at::Tensor& images, const Normalization& normalization,
                      c10::Device device) {
  model.eval();
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> parts;
  for (std::int64_t start = 0; start < images.size(0); start += 500) {
    const auto chunk = images.narrow(0, start, std::min<std::int64_t>(500, images.size(0) - start));
    parts.push_back(torch::softmax(model.forward(normalization.apply(chunk.to(device))), 1).amax(1).cpu());
  }
  return torch::cat(parts);
}

// Candidate key inputs: uniform noise images, or training images with Gaussian noise.
at::Tensor candidates(const Dataset& train, const OutputKeyOptions& options, std::int64_t count) {
  auto stream = options.secret().stream("output-key-candidates");
  const auto s = train.shape();
  if (options.source() == "noise") return stream.bytes({count, s.channels, s.height, s.width});
  auto index = stream.uniform(count, train.size());
  auto noise = stream.normal({count, s.channels, s.height, s.width}) * options.perturbation();
  return (train.images.index_select(0, index).to(torch::kFloat) + noise).round().clamp(0, 255).to(torch::kUInt8);
}

}  // namespace

EmbedResult embed_output_keys(NetworkPtr model, const DatasetSplits& splits, const TrainerOptions& training,
                              const OutputKeyOptions& options, const std::vector<NetworkPtr>& references,
                              const CheckpointInfo& info, bool pretrained) {
  WMARK_CHECK(model, "embed_output_keys needs a model");
  WMARK_CHECK(options.keys() >= 1 && options.oversample() >= 2, "deepsigns-output: keys must be at least 1 and "
              "oversample at least 2, got ", options.keys(), " and ", options.oversample());
  WMARK_CHECK(options.source() == "noise" || options.source() == "perturbed",
              "deepsigns-output: source must be 'noise' or 'perturbed', got '", options.source(), "'");
  WMARK_CHECK(options.finetune_epochs() >= 1, "deepsigns-output: finetune_epochs must be at least 1");
  WMARK_CHECK(options.min_keys() >= 1 && options.min_keys() <= options.keys(),
              "deepsigns-output: min_keys must be in [1, keys]");
  const auto& train = splits.train;
  const ModelSpec spec{train.shape(), train.num_classes};
  check_model(*model, spec, info.arch.empty() ? "the model" : info.arch);
  for (const auto& reference : references) {
    WMARK_CHECK(reference, "deepsigns-output: a reference model is null");
    check_model(*reference, spec, "reference model");
  }
  const auto device = training.device();
  // Output-layer keys sit in the tails of a trained model's class distributions.
  const auto clean = train_clean_model(model, splits, training, info, pretrained);
  // The least confident candidates, with random labels other than the model's own (so
  // the model before fine-tuning, the first reference, matches none of them).
  const auto pool = candidates(train, options, options.keys() * options.oversample());
  const auto chosen = confidence(*model, pool, train.normalization, device)
                          .argsort()
                          .narrow(0, 0, std::min<std::int64_t>(2 * options.keys(), pool.size(0)));
  TriggerSet keys;
  keys.images = pool.index_select(0, chosen).contiguous();
  const auto own = predict_labels(*model, keys.images, train.normalization, device);
  // A uniform shift in [1, C) never lands on the model's own label.
  keys.labels = (own + 1 + options.secret().stream("output-key-labels").uniform(own.size(0), train.num_classes - 1))
                    .remainder(train.num_classes);
  keys.source_labels = torch::full({own.size(0)}, -1, torch::kLong);
  logger()->info("deepsigns-output: fine-tuning on {} low-confidence candidates", keys.size());

  auto base = key_base(train, info.arch);
  base.params.update({{"generator", "deepsigns-output"},
                      {"source", options.source()},
                      {"label_policy", "random"},
                      // Labels avoid the model's own class: a model agreeing with it never
                      // matches, any other at most 1 in C-1.
                      {"chance_rate", 1.0 / static_cast<double>(train.num_classes - 1)}});
  base.secret = options.secret();
  auto result = fine_tune_on_keys(model, splits, training, keys, std::move(base), options.finetune_epochs(),
                                  "output-key-finetune", info, clean);
  // Keep the keys the marked model learnt and no reference maps to their labels.
  auto keep = predict_labels(*model, keys.images, train.normalization, device).eq(keys.labels);
  for (const auto& reference : references) {
    keep &= predict_labels(*reference, keys.images, train.normalization, device).ne(keys.labels);
  }
  auto kept = keep.nonzero().flatten();
  kept = kept.narrow(0, 0, std::min(kept.size(0), options.keys()));
  WMARK_CHECK(kept.size(0) >= options.min_keys(), "deepsigns-output: only ", kept.size(0), " of ", keys.size(),
              " candidates were learnt and not matched by the reference models (", options.min_keys(),
              " needed); fine-tune longer (finetune_epochs) or draw more candidates (oversample)");
  logger()->info("deepsigns-output: kept {} keys", kept.size(0));

  result.key.method = "deepsigns-output";
  result.key.tensors["images"] = keys.images.index_select(0, kept).contiguous();
  result.key.tensors["labels"] = keys.labels.index_select(0, kept).contiguous();
  result.key.params["references"] = static_cast<std::int64_t>(references.size()) + 1;
  result.trigger_accuracy = accuracy(*model, result.key.tensors["images"], result.key.tensors["labels"],
                                     train.normalization, device);
  return result;
}

}  // namespace wmark

#include "wmark/eval/attack_report.h"

#include <torch/torch.h>

#include <chrono>

#include "wmark/attack/input_preprocessing.h"
#include "wmark/attack/query_detection.h"
#include "wmark/models/parameters.h"
#include "wmark/train/evaluate.h"
#include "wmark/util/error.h"
#include "wmark/util/log.h"
#include "wmark/verify/classifier.h"

#include <spdlog/spdlog.h>

namespace wmark {
namespace {

// Rows of uint8 images [K,C,H,W] as zero-mean unit-norm float vectors, so that a dot
// product is their normalised cross-correlation.
at::Tensor ncc_rows(const at::Tensor& images) {
  auto x = images.to(torch::kFloat).flatten(1);
  x = x - x.mean(1, true);
  return x / x.norm(2, 1, true).clamp_min(1e-6);
}

}  // namespace

bool AttackReport::kept_accuracy() const {
  return test_accuracy_after >= 0 && test_accuracy_after >= test_accuracy_before - kRemovalAccuracyBudget;
}

nlohmann::json AttackReport::to_json() const {
  const auto optional = [](const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(); };
  return {{"attack", attack},
          {"options", options},
          {"details", details},
          {"test_accuracy_before", test_accuracy_before},
          {"test_accuracy_after", test_accuracy_after >= 0 ? nlohmann::json(test_accuracy_after) : nlohmann::json()},
          {"verification_before", verification_before ? verification_before->to_json() : nlohmann::json()},
          {"verification_after", verification_after ? verification_after->to_json() : nlohmann::json()},
          {"inversion", inversion},
          {"weight_distance", optional(weight_distance)},
          {"relative_weight_distance", optional(relative_weight_distance)},
          {"kept_accuracy", test_accuracy_after >= 0 ? nlohmann::json(kept_accuracy()) : nlohmann::json()},
          {"seconds", seconds}};
}

AttackReport evaluate_attack(const Attack& attack, Network& victim, const AttackContext& context, const Dataset& test,
                             const WatermarkKey* key, const Verifier& verifier, AttackResult* result_out) {
  if (context.victim_endpoint && !attack.queries_victim()) {
    std::string extraction;
    for (const auto& name : attack_registry().names())
      if (attack_registry().create(name)->queries_victim()) extraction += (extraction.empty() ? "" : ", ") + name;
    WMARK_FAIL("the ", attack.name(), " attack works on the model itself, not on a deployed victim (",
               context.victim_endpoint->describe(), "); only extraction attacks query one: ", extraction);
  }
  const auto device = context.training.device();
  AttackReport report;
  report.attack = attack.name();
  report.options = attack.options();
  report.test_accuracy_before = accuracy(victim, test, device, context.training.eval_batch_size());
  if (key) report.verification_before = verifier.verify_model(victim, *key, "victim", device);

  const auto start = std::chrono::steady_clock::now();
  auto result = attack.run(victim, context);
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  report.details = result.details;
  if (result.model) {
    // What the thief's clients query: the model, behind its input transform if any.
    const NetworkPtr deployed =
        result.deployment ? result.deployment
        : result.preprocess
            ? std::make_shared<PreprocessedNetwork>(result.model, result.preprocess, test.normalization)
            : result.model;
    report.test_accuracy_after = accuracy(*deployed, test, device, context.training.eval_batch_size());
    report.weight_distance = parameter_distance(victim, *result.model);
    const double norm = parameter_norm(victim);
    if (report.weight_distance && norm > 0) report.relative_weight_distance = *report.weight_distance / norm;
    if (key) {
      // Black-box keys query the deployment; white-box keys read the weights in the file.
      report.verification_after = verifier.verify_model(key->black_box() ? *deployed : *result.model, *key,
                                                        "model after the " + attack.name() + " attack", device);
    }
  }
  if (key && key->black_box() && result.deployment) {
    if (auto detecting = std::dynamic_pointer_cast<QueryDetectingNetwork>(result.deployment))
      report.details["detection"] = detection_analysis(*detecting, *key, test, device);
  }
  if (key && key->black_box() && result.images.defined()) {
    report.inversion = inversion_analysis(result.images, result.image_labels, *key, context.data);
  }
  logger()->info("{} attack: test accuracy {:.2f}% -> {}", attack.name(), 100 * report.test_accuracy_before,
                 report.test_accuracy_after >= 0 ? fmt::format("{:.2f}%", 100 * report.test_accuracy_after) : "n/a");
  if (result_out) *result_out = std::move(result);
  return report;
}

nlohmann::json detection_analysis(QueryDetectingNetwork& deployment, const WatermarkKey& key, const Dataset& clean,
                                  c10::Device device) {
  WMARK_CHECK(key.black_box(), "detection analysis scores black-box keys' triggers, not '", key.method, "' keys");
  Dataset triggers;
  triggers.images = key.tensor("images");
  triggers.labels = key.tensor("labels");
  triggers.num_classes = key.num_classes;
  triggers.normalization = key.normalization;
  const auto trigger_scores = deployment.scores(triggers, device);
  const auto clean_scores = deployment.scores(clean, device);
  const double threshold = deployment.detector().threshold;
  return {{"auroc", detection_auroc(trigger_scores, clean_scores)},
          {"triggers_flagged", trigger_scores.gt(threshold).to(torch::kDouble).mean().item<double>()},
          {"clean_flagged", clean_scores.gt(threshold).to(torch::kDouble).mean().item<double>()}};
}

nlohmann::json inversion_analysis(const at::Tensor& images, const at::Tensor& labels, const WatermarkKey& key,
                                  const Dataset& clean) {
  WMARK_CHECK(key.black_box(), "inversion analysis compares with black-box keys' triggers, not '", key.method, "' keys");
  const auto& triggers = key.tensor("images");
  const auto& trigger_labels = key.tensor("labels");
  WMARK_CHECK(images.dim() == 4 && images.sizes().slice(1) == triggers.sizes().slice(1),
              "recovered images ", images.sizes(), " do not have the key's trigger shape ", triggers.sizes());
  WMARK_CHECK(clean.images.defined() && clean.images.sizes().slice(1) == triggers.sizes().slice(1),
              "the clean data for the inversion analysis does not have the key's image shape");
  auto recovered = ncc_rows(images);
  auto to_triggers = recovered.matmul(ncc_rows(triggers).t());  // [K, T]
  auto [best_trigger, nearest] = to_triggers.max(1);
  auto clean_rows = ncc_rows(clean.images);
  nlohmann::json per_image = nlohmann::json::array();
  std::int64_t revealed = 0;
  double trigger_sum = 0, clean_sum = 0;
  for (std::int64_t i = 0; i < images.size(0); ++i) {
    const auto cls = labels[i].item<std::int64_t>();
    auto of_class = clean.labels.eq(cls).nonzero().squeeze(1);
    const double best_clean =
        of_class.numel() > 0 ? clean_rows.index_select(0, of_class).matmul(recovered[i]).max().item<double>() : -1.0;
    const double trigger = best_trigger[i].item<double>();
    const auto j = nearest[i].item<std::int64_t>();
    const bool is_revealed = trigger > best_clean && trigger_labels[j].item<std::int64_t>() == cls;
    revealed += is_revealed ? 1 : 0;
    trigger_sum += trigger;
    clean_sum += best_clean;
    per_image.push_back({{"class", cls}, {"ncc_trigger", trigger}, {"ncc_clean", best_clean},
                         {"revealed", is_revealed}});
  }
  const double n = static_cast<double>(std::max<std::int64_t>(images.size(0), 1));
  return {{"revealed_rate", static_cast<double>(revealed) / n},
          {"mean_ncc_trigger", trigger_sum / n},
          {"mean_ncc_clean", clean_sum / n},
          {"images", per_image}};
}

}  // namespace wmark

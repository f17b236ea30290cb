#include "wmark/watermark/scheme.h"

#include <torch/torch.h>

#include <algorithm>

#include "schemes/builtin_schemes.h"
#include "wmark/train/evaluate.h"
#include "wmark/train/trainer.h"
#include "wmark/util/error.h"
#include "wmark/watermark/trigger/trigger_generator.h"
#include "wmark/watermark/unit_alignment.h"

namespace wmark {

at::Tensor Scheme::extract_bits(Network&, const WatermarkKey& key) const {
  WMARK_FAIL("the ", name(), " scheme's keys are proved by querying the model, not by reading bits out of it (key ",
             key.method, ")");
}

at::Tensor Scheme::query_matches(const WatermarkKey& key, const at::Tensor& queried, const at::Tensor& answers) const {
  return answers.to(torch::kLong).cpu().eq(key.tensor("labels").index_select(0, queried.cpu()));
}

at::Tensor Scheme::counted_queries(const WatermarkKey&, const at::Tensor&, const at::Tensor& answers) const {
  return torch::ones({answers.size(0)}, torch::kBool);
}

at::Tensor Scheme::score_ranks(const WatermarkKey& key, const at::Tensor&, const at::Tensor&) const {
  WMARK_FAIL("the ", name(), " scheme decides from labels, not class scores (key ", key.method, ")");
}

std::int64_t Scheme::score_rank_levels(std::int64_t) const {
  WMARK_FAIL("the ", name(), " scheme decides from labels, not class scores");
}

double Scheme::chance_rate(const nlohmann::json&, std::int64_t) const { return 0.5; }

KeyDerivation Scheme::check_derivation(const WatermarkKey&, const std::optional<std::filesystem::path>&) const {
  return {false, "no derivation is known for the " + name() + " scheme"};
}

SchemeRegistry SchemeRegistry::with_builtins() {
  SchemeRegistry registry;
  registry.add("trigger-set", schemes::make_trigger_set);
  registry.add("deepsigns-output", schemes::make_output_keys);
  registry.add("deepsigns", schemes::make_deepsigns);
  registry.add("uchida", schemes::make_uchida);
  registry.add("adi", schemes::make_adi);
  registry.add("frontier-stitching", schemes::make_frontier_stitching);
  registry.add("blackmarks", schemes::make_blackmarks);
  registry.add("deepmarks", schemes::make_deepmarks);
  registry.add("dawn", schemes::make_dawn);
  registry.add("margin", schemes::make_margin);
  registry.add("certified", schemes::make_certified);
  registry.add("ewe", schemes::make_ewe);
  return registry;
}

SchemeRegistry& scheme_registry() {
  static SchemeRegistry registry = SchemeRegistry::with_builtins();
  return registry;
}

SchemeChoice resolve_scheme(const std::string& name) {
  if (scheme_registry().contains(name)) return {name, nlohmann::json::object()};
  // A generator's name is shorthand for a trigger set it makes (the toolbox's names).
  if (trigger_registry().contains(name)) return {"trigger-set", {{"trigger", name}}};
  std::string known;
  for (const auto& entry : scheme_registry().names()) known += (known.empty() ? "" : ", ") + entry;
  for (const auto& entry : trigger_registry().names()) known += ", " + entry;
  WMARK_FAIL("unknown watermark scheme '", name, "'; known: ", known);
}

std::unique_ptr<Scheme> key_scheme(const WatermarkKey& key) {
  WMARK_CHECK(scheme_registry().contains(key.method), "the key's method '", key.method,
              "' is not a registered watermark scheme");
  return scheme_registry().create(key.method);
}

double chance_rate_floor(const std::string& method, const nlohmann::json& params, std::int64_t num_classes) {
  WMARK_CHECK(num_classes >= 2, "a chance rate needs at least 2 classes, not ", num_classes);
  if (scheme_registry().contains(method)) return scheme_registry().create(method)->chance_rate(params, num_classes);
  return std::max(0.5, 1.0 / static_cast<double>(num_classes - 1));
}

at::Tensor query_matches(const WatermarkKey& key, const at::Tensor& queried, const at::Tensor& answers) {
  return key_scheme(key)->query_matches(key, queried, answers);
}

bool is_black_box_method(const std::string& method) {
  return scheme_registry().contains(method) && scheme_registry().create(method)->key_kind() == KeyKind::black_box;
}

bool has_exact_chance_rate(const std::string& method) {
  return scheme_registry().contains(method) && scheme_registry().create(method)->exact_chance_rate();
}

EmbedResult train_with_embedder(std::shared_ptr<Embedder> embedder, const EmbedRequest& request) {
  WMARK_CHECK(embedder && request.model, "train_with_embedder needs an embedder and a model");
  const auto* test = request.splits.test.size() > 0 ? &request.splits.test : nullptr;
  EmbedResult result;
  if (request.pretrained && test) {
    result.clean_accuracy_before =
        accuracy(*request.model, *test, request.training.device(), request.training.eval_batch_size());
  }
  Trainer trainer(request.model, request.training, request.info);
  trainer.add_hook(embedder);
  result.training = trainer.fit(request.splits.train, test);
  result.clean_accuracy_after = test ? result.training.test_accuracy : -1;
  result.key = embedder->key();
  return result;
}

EmbedResult embed_watermark(const std::string& name, const nlohmann::json& options, const EmbedRequest& request) {
  WMARK_CHECK(request.model, "embed_watermark needs a model");
  const auto scheme = scheme_registry().create(name, options);
  const auto& train = request.splits.train;
  check_model(*request.model, ModelSpec{train.shape(), train.num_classes},
              request.info.arch.empty() ? "the model" : request.info.arch);
  auto result = scheme->embed(request);
  WMARK_CHECK(result.key.method == scheme->name(), "the ", name, " scheme made a key of method '", result.key.method,
              "'");
  // The mark as the verifier will see it: queries answered, or bits read back.
  const auto device = request.training.device();
  if (scheme->key_kind() == KeyKind::black_box) {
    const auto& images = result.key.tensor("images");
    const auto answers = predict_labels(*request.model, images, result.key.normalization, device);
    result.trigger_accuracy = scheme->query_matches(result.key, torch::arange(images.size(0), torch::kLong), answers)
                                  .to(torch::kDouble)
                                  .mean()
                                  .item<double>();
  } else {
    // A reference of the marked model's hidden units, so that a verifier can undo a
    // thief's permutation or rescaling before reading the bits (unit_alignment.h).
    record_unit_reference(*request.model, result.key);
    const auto& bits = result.key.tensor("bits");
    const auto read = scheme->extract_bits(*request.model, result.key);
    result.details["bit_error_rate"] = read.ne(bits.to(read.scalar_type())).to(torch::kDouble).mean().item<double>();
  }
  return result;
}

}  // namespace wmark

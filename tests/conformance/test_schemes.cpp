// Every registered scheme must honour the Scheme contract (watermark/scheme.h). The
// registry is the only extension point: a scheme defined here, through the public API
// alone, is registered before the tests run and must pass the same checks, embed,
// verify and go through `evaluate` like a built-in one.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include "../support/test_support.h"
#include "declared_options.h"
#include "../support/watermarked_fixture.h"
#include "wmark/attack/dummy_neurons.h"
#include "wmark/data/subset.h"
#include "wmark/eval/evaluation.h"
#include "wmark/models/clone.h"
#include "wmark/models/hidden_units.h"
#include "wmark/models/registry.h"
#include "wmark/train/trainer.h"
#include "wmark/util/error.h"
#include "wmark/util/files.h"
#include "wmark/util/random.h"
#include "wmark/verify/verifier.h"
#include "wmark/watermark/scheme.h"
#include "wmark/watermark/unit_alignment.h"

using namespace wmark;
using json = nlohmann::json;
using Catch::Matchers::Contains;

namespace {

// A scheme from outside the library: noise images and labels drawn from the key's secret,
// learnt through the library's TriggerEmbedder; its keys re-derive from the secret.
class KeyedNoiseScheme final : public Scheme {
 public:
  explicit KeyedNoiseScheme(const json& options) : options_(schema().read(options)) {}
  std::string name() const override { return "test-keyed-noise"; }
  OptionSchema schema() const override {
    return OptionSchema("the test-keyed-noise scheme").integer("trigger_size", 30, "number of noise triggers", 1, 1000);
  }
  json options() const override { return options_; }
  KeyKind key_kind() const override { return KeyKind::black_box; }

  EmbedResult embed(const EmbedRequest& request) const override {
    const auto& train = request.splits.train;
    // A precondition a real scheme could have: at most a tenth of the training set as triggers.
    WMARK_CHECK(options_.at("trigger_size").get<std::int64_t>() * 10 <= train.size(),
                "test-keyed-noise: ", options_.at("trigger_size").get<std::int64_t>(),
                " triggers are more than a tenth of the ", train.size(), " training images");
    WatermarkKey base;
    base.method = name();
    base.secret = request.secret;
    base.num_classes = train.num_classes;
    base.input_shape = train.shape();
    base.normalization = train.normalization;
    base.dataset = train.name;
    base.created = utc_now_iso8601();
    auto triggers = draw(request.secret, options_.at("trigger_size").get<std::int64_t>(), base);
    auto embedder = std::make_shared<TriggerEmbedder>(triggers, base, TriggerEmbedderOptions().trigger_ratio(0.25));
    auto result = train_with_embedder(embedder, request);
    result.key.method = name();
    return result;
  }

  double chance_rate(const json&, std::int64_t num_classes) const override { return 1.0 / double(num_classes); }

  KeyDerivation check_derivation(const WatermarkKey& key, const std::optional<std::filesystem::path>&) const override {
    const auto derived = draw(key.secret, key.tensor("labels").size(0), key);
    if (!torch::equal(derived.images, key.tensor("images")) || !torch::equal(derived.labels, key.tensor("labels")))
      return {false, "its noise triggers are not the ones its secret derives"};
    return {true, ""};
  }

 private:
  static TriggerSet draw(const KeySecret& secret, std::int64_t count, const WatermarkKey& shape) {
    const auto s = shape.input_shape;
    TriggerSet set;
    set.images = secret.stream("test-keyed-noise-images").bytes({count, s.channels, s.height, s.width});
    set.labels = secret.stream("test-keyed-noise-labels").uniform(count, shape.num_classes);
    set.source_labels = torch::full({count}, -1, torch::kLong);
    return set;
  }
  json options_;
};

// Registered at load time, before any test case runs: the test file is the whole change.
const bool kRegistered = [] {
  scheme_registry().add("test-keyed-noise", [](const json& o) { return std::make_unique<KeyedNoiseScheme>(o); });
  return true;
}();

// Small but real settings per scheme, so the whole check stays in seconds.
json quick_scheme_options(const std::string& name) {
  if (name == "trigger-set") return {{"trigger_size", 30}};
  if (name == "deepsigns-output") return {{"trigger_size", 20}, {"min_keys", 5}};
  if (name == "deepsigns") return {{"key_inputs", 30}};
  if (name == "adi") return {{"trigger_size", 30}};
  if (name == "margin") return {{"trigger_size", 30}};
  if (name == "ewe") return {{"trigger_size", 30}};
  if (name == "certified") return {{"trigger_size", 30}, {"noise_levels", 3}, {"noise_draws", 2}, {"certify_draws", 20}};
  if (name == "frontier-stitching") return {{"trigger_size", 80}};
  if (name == "blackmarks") return {{"bits", 48}};
  if (name == "deepmarks") return {{"user", 4}};
  return json::object();
}

struct SchemeData {
  DatasetSplits splits;
  TrainerOptions training = TrainerOptions().epochs(2).optimizer("adam").lr(0.002).batch_size(64).seed(2);
  NetworkPtr clean;  // a twin trained like the marked models, without a watermark

  static NetworkPtr fresh(const Dataset& train) {
    torch::manual_seed(5);
    return model_registry().create("mnist_cnn", {train.shape(), train.num_classes});
  }
};

const SchemeData& scheme_data() {
  static const SchemeData data = [] {
    SchemeData d;
    d.splits.train = balanced_subset(test::mnist().train, 2000, 3);
    d.splits.test = balanced_subset(test::mnist().test, 500, 4);
    d.clean = SchemeData::fresh(d.splits.train);
    Trainer(d.clean, d.training).fit(d.splits.train);
    return d;
  }();
  return data;
}

}  // namespace

TEST_CASE("every registered scheme marks, verifies, rejects its clean twin and keeps its key whole", "[conformance]") {
  REQUIRE(kRegistered);
  const auto& data = scheme_data();
  const auto names = scheme_registry().names();
  for (const auto* builtin :
       {"adi", "blackmarks", "certified", "dawn", "deepmarks", "deepsigns", "deepsigns-output", "ewe", "frontier-stitching", "margin",
        "trigger-set", "uchida", "test-keyed-noise"}) {
    CHECK(std::find(names.begin(), names.end(), builtin) != names.end());
  }
  for (const auto& name : names) {
    SECTION(name) {
      // Options: declared once, round-tripped, unknown ones refused, defaults complete.
      auto scheme = scheme_registry().create(name, quick_scheme_options(name));
      CHECK(scheme->name() == name);
      CHECK(scheme_registry().create(name, scheme->options())->options() == scheme->options());
      CHECK(scheme->schema().defaults().size() == scheme->schema().specs().size());
      CHECK_THROWS_WITH(scheme_registry().create(name, {{"no_such_option", 1}}), Contains("no_such_option"));
      test::check_schema_enforced(scheme->schema(), name,
                                  [&](const nlohmann::json& options) { return scheme_registry().create(name, options); });

      EmbedRequest request;
      request.model = SchemeData::fresh(data.splits.train);
      request.splits = data.splits;
      request.training = data.training;
      request.info.arch = "mnist_cnn";
      request.info.dataset = "mnist";
      request.secret = experiment_secret(11, "conformance-" + name);
      if (!scheme->marks_model()) {
        // A scheme of a server's answers (dawn) refuses to mark a model, saying how it marks;
        // tests/serve/test_dawn.cpp proves its keys.
        CHECK_THROWS_WITH(embed_watermark(name, quick_scheme_options(name), request), Contains("not a model"));
        return;
      }

      const auto result = embed_watermark(name, quick_scheme_options(name), request);
      const auto& key = result.key;
      CHECK(key.method == name);
      CHECK(key.secret.value == request.secret.value);
      CHECK(result.clean_accuracy_after > 0.85);
      const bool black_box = scheme->key_kind() == KeyKind::black_box;
      CHECK(key.black_box() == black_box);
      REQUIRE(key.tensors.count(black_box ? "labels" : "bits") == 1);

      // The marked model verifies; its clean twin does not.
      const Verifier verifier;
      const auto marked = verifier.verify_model(*request.model, key, "marked", torch::kCPU);
      CHECK(marked.verified);
      CHECK(marked.method == name);
      CHECK(marked.chance_rate >= chance_rate_floor(name, key.params, key.num_classes));
      CHECK_FALSE(verifier.verify_model(*data.clean, key, "clean twin", torch::kCPU).verified);
      if (!black_box) CHECK_THROWS_AS(scheme->extract_bits(*data.clean, WatermarkKey()), Error);
      if (!black_box) {
        // A white-box key holds a unit reference: the thief's dummy units in every hidden
        // layer, shuffled in with the real ones (the same function), are removed and the
        // order undone before the second reading.
        REQUIRE(has_unit_reference(key));
        const auto widened =
            DummyNeuronsAttack().run(*request.model, test::attack_context("mnist_cnn", data.splits.test, 3));
        const auto report = verifier.verify_model(*widened.model, key, "widened", torch::kCPU);
        INFO(report.to_json().dump());
        CHECK(report.verified);
        CHECK(report.unit_alignment["decided_on"] == "aligned");
      }

      // Round trip, and a commitment that covers every byte of every tensor.
      test::TempDir dir;
      key.save(dir / "k.wmk");
      const auto loaded = WatermarkKey::load(dir / "k.wmk");
      CHECK(loaded.commitment() == key.commitment());
      for (const auto& [tensor_name, tensor] : key.tensors) {
        auto changed = key;
        changed.tensors[tensor_name] = tensor.clone();
        auto bytes = changed.tensors[tensor_name].view({-1});
        bytes[0] = bytes[0].item<double>() == 0 ? 1 : 0;
        CHECK(changed.commitment() != key.commitment());
      }

      // Derivation: a derivable key stops deriving under another secret.
      const auto derivation = check_key_derivation(key, test::shared_data());
      if (derivation.derivable) {
        auto other = key;
        other.secret = experiment_secret(12, "conformance-other");
        CHECK_FALSE(check_key_derivation(other, test::shared_data()).derivable);
      } else {
        CHECK_FALSE(derivation.reason.empty());
      }
    }
  }
}

TEST_CASE("a scheme registered from outside the library goes through evaluate", "[conformance]") {
  REQUIRE(kRegistered);
  test::TempDir dir;
  const json config = {{"dataset", "mnist"},
                       {"data_dir", test::shared_data().string()},
                       {"subset", 2000},
                       {"epochs", 2},
                       {"schemes", {"test-keyed-noise"}},
                       {"trigger_size", 25},
                       {"attacker_samples", 500},
                       {"attacks", json::array({{{"attack", "prune"}, {"vary", "rate"}, {"values", {0.2}}}})},
                       {"false_positive", {{"models", 1}}}};
  EvaluationRun run;
  run.out_dir = dir / "eval";
  const auto report = run_evaluation(EvaluationConfig::from_json(config), run);
  REQUIRE(report["watermarked"].size() == 1);
  CHECK(report["watermarked"][0]["method"] == "test-keyed-noise");
  CHECK(report["watermarked"][0]["trigger_accuracy"].get<double>() >= 0.5);
  CHECK(report["watermarked"][0]["verified"] == true);
  REQUIRE(report["cells"].size() == 1);
  CHECK(report["cells"][0]["verification_after"].contains("verified"));
  CHECK(report["false_positive"]["false_claims"] == 0);
  // A scheme that cannot embed here is recorded and the grid goes on with the others.
  auto failing = config;
  failing["schemes"] = {"test-keyed-noise", "noise"};
  failing["trigger_size"] = 300;  // more than a tenth of 2000 images
  failing["epochs"] = 1;
  EvaluationRun second;
  second.out_dir = dir / "eval-failing";
  const auto partial = run_evaluation(EvaluationConfig::from_json(failing), second);
  REQUIRE(partial["not_embedded"].size() == 1);
  CHECK(partial["not_embedded"][0]["generator"] == "test-keyed-noise");
  CHECK_THAT(partial["not_embedded"][0]["error"].get<std::string>(), Contains("more than a tenth"));
  REQUIRE(partial["watermarked"].size() == 1);
  CHECK(partial["watermarked"][0]["generator"] == "noise");
  REQUIRE(partial["cells"].size() == 1);
  CHECK(partial["cells"][0]["generator"] == "noise");
  // The false-positive study checks the clean models against the one key that exists.
  CHECK(partial["false_positive"]["checks"] == report["false_positive"]["checks"]);
  CHECK_THAT(read_file(second.out_dir / "report.md"), Contains("test-keyed-noise did not embed"));
  // A later part of the grid that does not name it still reports why it is missing.
  auto later = failing;
  later["schemes"] = {"noise"};
  const auto folder = run_evaluation(EvaluationConfig::from_json(later), second);
  REQUIRE(folder["not_embedded"].size() == 1);
  CHECK(folder["not_embedded"][0] == partial["not_embedded"][0]);
  CHECK(folder["cells"] == partial["cells"]);
  // Its options are checked by its own schema before any training.
  CHECK_THROWS_WITH(EvaluationConfig::from_json({{"schemes", {"test-keyed-noise"}}, {"trigger_size", 5000},
                                                 {"attacks", config["attacks"]}}),
                    Contains("'trigger_size' must be at most 1000"));
}

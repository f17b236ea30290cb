#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <torch/torch.h>

#include "../support/test_support.h"
#include "../support/watermarked_fixture.h"
#include "wmark/eval/evaluation.h"
#include "wmark/eval/false_positive.h"
#include "wmark/eval/seed_summary.h"
#include "wmark/models/checkpoint.h"
#include "wmark/models/parameters.h"
#include "wmark/models/registry.h"
#include "wmark/train/trainer.h"
#include "wmark/util/error.h"
#include "wmark/util/files.h"
#include "wmark/watermark/key.h"
#include "wmark/watermark/whitebox/uchida.h"

using namespace wmark;
using Catch::Matchers::Contains;
using nlohmann::json;

TEST_CASE("an evaluation config is checked before any work", "[eval]") {
  const json attacks = json::array({{{"attack", "prune"}, {"vary", "rate"}, {"values", {0.2, 0.5}}}});
  CHECK_NOTHROW(EvaluationConfig::from_json({{"attacks", attacks}}));
  CHECK_THROWS_WITH(EvaluationConfig::from_json({{"attacks", attacks}, {"epoch", 2}}, "eval.json"),
                    Contains("unknown option 'epoch' for eval.json"));
  CHECK_THROWS_WITH(EvaluationConfig::from_json({{"attacks", attacks}, {"epochs", "two"}}, "eval.json"),
                    Contains("eval.json: key 'epochs' has the wrong type"));
  CHECK_THROWS_WITH(EvaluationConfig::from_json(json::object(), "eval.json"), Contains("'attacks' must be"));
  CHECK_THROWS_WITH(EvaluationConfig::from_json({{"attacks", {{{"attack", "melt"}}}}}, "eval.json"),
                    Contains("unknown attack 'melt'"));
  CHECK_THROWS_WITH(
      EvaluationConfig::from_json({{"attacks", {{{"attack", "prune"}, {"vary", "rate"}, {"values", {0.5, 1.5}}}}}},
                                  "eval.json"),
      Contains("eval.json: attacks[0]: the prune attack: 'rate' must be at most 0.95"));
  CHECK_THROWS_WITH(EvaluationConfig::from_json({{"attacks", attacks}, {"generators", {"sparkle"}}}),
                    Contains("unknown watermark scheme 'sparkle'"));
  test::TempDir dir;
  test::write_bytes(dir / "bad.json", "{\"attacks\": [", true);
  CHECK_THROWS_WITH(EvaluationConfig::load(dir / "bad.json"), Contains("bad.json is not valid JSON"));
  // Schemes: the old and the new key together are ambiguous; an unknown scheme is named.
  CHECK_THROWS_WITH(EvaluationConfig::from_json({{"attacks", attacks}, {"schemes", {"uchida"}},
                                                 {"generators", {"content"}}}),
                    Contains("not both"));
  CHECK_THROWS_WITH(EvaluationConfig::from_json({{"attacks", attacks}, {"schemes", {"no-such-scheme"}}}),
                    Contains("unknown watermark scheme 'no-such-scheme'") && Contains("deepsigns-output") &&
                        Contains("uchida") && Contains("content"));
  // A scheme's options are checked before hours of work: too many triggers, by its schema.
  CHECK_THROWS_WITH(EvaluationConfig::from_json({{"attacks", attacks}, {"schemes", {"noise"}}, {"trigger_size", 200000}}),
                    Contains("'trigger_size' must be at most 100000"));
  CHECK(EvaluationConfig::from_json({{"attacks", attacks}, {"schemes", {"uchida", "content"}}}).schemes.size() == 2);
  // A named variant: a scheme with other options beside the scheme itself.
  const json variant = {{"name", "content-25"}, {"scheme", "content"}, {"options", {{"trigger_size", 25}}}};
  const auto with_variant = EvaluationConfig::from_json({{"attacks", attacks}, {"schemes", {"content", variant}}});
  CHECK(with_variant.schemes == std::vector<std::string>{"content", "content-25"});
  CHECK(with_variant.scheme_variants.at("content-25").scheme == "trigger-set");
  CHECK(with_variant.scheme_variants.at("content-25").options["trigger"] == "content");
  // The documented example: ewe entangling fc1 alone, its layers given as text; a list
  // is refused naming the option, before any training.
  const json ewe_fc1 = {{"name", "ewe-fc1"}, {"scheme", "ewe"}, {"options", {{"layers", "fc1"}, {"snnl_balance", true}}}};
  CHECK(EvaluationConfig::from_json({{"attacks", attacks}, {"schemes", {ewe_fc1}}})
            .scheme_variants.at("ewe-fc1").options["snnl_balance"] == true);
  auto listed = ewe_fc1;
  listed["options"]["layers"] = json::array({"fc1"});
  CHECK_THROWS_WITH(EvaluationConfig::from_json({{"attacks", attacks}, {"schemes", {listed}}}, "eval.json"),
                    Contains("eval.json: 'schemes'") && Contains("layers"));
  auto bad = variant;
  bad["options"]["sparkle"] = 1;
  CHECK_THROWS_WITH(EvaluationConfig::from_json({{"attacks", attacks}, {"schemes", {bad}}}, "eval.json"),
                    Contains("eval.json: 'schemes': ") && Contains("sparkle"));
  bad = variant;
  bad["name"] = "noise";
  CHECK_THROWS_WITH(EvaluationConfig::from_json({{"attacks", attacks}, {"schemes", {bad}}}, "eval.json"),
                    Contains("'schemes'[0]: 'noise' is a scheme's own name"));
  bad["name"] = "clean_start_mnist_cnn";
  CHECK_THROWS_WITH(EvaluationConfig::from_json({{"attacks", attacks}, {"schemes", {bad}}}, "eval.json"),
                    Contains("starts with 'clean_'"));
  bad["name"] = "../up";
  CHECK_THROWS_WITH(EvaluationConfig::from_json({{"attacks", attacks}, {"schemes", {bad}}}, "eval.json"),
                    Contains("'name' must be 1 to 64 letters"));
  bad = variant;
  bad.erase("options");
  CHECK_THROWS_WITH(EvaluationConfig::from_json({{"attacks", attacks}, {"schemes", {bad}}}, "eval.json"),
                    Contains("'schemes'[0]: 'options' must be an object"));
  CHECK_THROWS_WITH(EvaluationConfig::from_json({{"attacks", attacks}, {"schemes", {variant, 7}}}, "eval.json"),
                    Contains("'schemes'[1] must be a name or {"));
  bad = variant;
  bad["scheme"] = "sparkle";
  CHECK_THROWS_WITH(EvaluationConfig::from_json({{"attacks", attacks}, {"schemes", {bad}}}, "eval.json"),
                    Contains("'schemes'[0]: unknown watermark scheme 'sparkle'"));
  CHECK_THROWS_WITH(EvaluationConfig::from_json({{"attacks", attacks}, {"schemes", {variant, variant}}}, "eval.json"),
                    Contains("names 'content-25' twice"));
  // Two entries that would make one cell (one result file) are refused: the second would
  // silently reuse the first's result. Varying an option tells them apart.
  const json first = {{"attack", "combined"}, {"options", {{"first", {{"attack", "prune"}}}, {"second", {{"attack", "input-noising"}}}}}};
  auto second = first;
  second["options"]["third"] = {{"attack", "input-flipping"}};
  CHECK_THROWS_WITH(EvaluationConfig::from_json({{"attacks", {first, second}}}, "eval.json"),
                    Contains("eval.json: attacks[1]: makes the cell 'combined' that attacks[0] makes too"));
  second.erase("options");
  second["options"] = first["options"];
  second["vary"] = "third";
  second["values"] = {{{"attack", "input-flipping"}}};
  CHECK(EvaluationConfig::from_json({{"attacks", {first, second}}}).attacks.size() == 2);
  CHECK_THROWS_WITH(EvaluationConfig::from_json({{"attacks", json::array({attacks[0], attacks[0]})}}),
                    Contains("makes the cell 'prune/rate=0.2'"));
}

TEST_CASE("clean models are never claimed by the false-positive study", "[eval]") {
  const auto& f = test::watermarked_mnist();
  std::vector<CleanModel> clean;
  int seed = 40;
  for (const std::string arch : {"mnist_cnn", "mnist_cnn", "cifar_cnn"}) {
    torch::manual_seed(seed);
    auto model = model_registry().create(arch, {{1, 28, 28}, 10});
    Trainer(model, TrainerOptions().epochs(1).optimizer("adam").lr(0.002).seed(seed)).fit(f.context.data);
    clean.push_back({arch + " seed " + std::to_string(seed++), model});
  }
  auto report = false_positive_study(clean, {f.key}, {"content"});
  CHECK(report.checks == 3);
  CHECK(report.false_claims == 0);
  CHECK(report.highest_match_rate < 0.5);
  CHECK(report.lowest_p_value > 1e-6);
  // The watermarked model itself is claimed by the same code path.
  auto marked = false_positive_study({{"watermarked", f.model}}, {f.key}, {"content"});
  CHECK(marked.false_claims == 1);

  // The toolbox's null-model rule is fitted to the same clean models, and claims the
  // marked model; leave-one-out decisions on the clean ones are counted, whatever they are.
  // Clean models that all match no trigger leave no spread: the threshold is then the mean.
  const auto& fit = report.null_model.at("content");
  CHECK(fit.models == 3);
  CHECK(fit.threshold >= fit.mean);
  CHECK(fit.threshold == Approx(fit.mean + 1.6448536 * fit.stddev));
  CHECK(fit.claims(1.0));
  CHECK_FALSE(fit.claims(fit.mean));
  CHECK(report.null_model_checks == 3);
  CHECK(report.null_model_false_claims <= 3);
}

TEST_CASE("the null-model rule is a one-sided 95% Gaussian quantile and needs two clean models", "[eval]") {
  const auto fit = fit_null_model({0.08, 0.10, 0.12});
  CHECK(fit.mean == Approx(0.10));
  CHECK(fit.stddev == Approx(0.02));  // the sample standard deviation
  CHECK(fit.threshold == Approx(0.10 + 1.6448536 * 0.02));
  CHECK(fit.claims(0.14));  // a 14% match rate is "ownership" to this rule: the binomial test says no
  CHECK_FALSE(fit.claims(0.13));
  // One clean model: its rate is reported, but no spread or threshold is made up.
  const auto one = fit_null_model({0.08});
  CHECK_FALSE(one.claims(1.0));
  CHECK(one.to_json()["mean"].get<double>() == Approx(0.08));
  CHECK(one.to_json()["stddev"].is_null());
  CHECK(one.to_json()["threshold"].is_null());
  CHECK_FALSE(fit.no_spread);
  // Clean models that match nothing leave no spread: one matching trigger is "ownership",
  // and the fit says so.
  const auto flat = fit_null_model({0.0, 0.0, 0.0});
  CHECK(flat.threshold == 0.0);
  CHECK(flat.claims(0.01));
  CHECK(flat.no_spread);
  CHECK(flat.to_json()["no_spread"] == true);
  CHECK(fit_null_model({0.07, 0.07}).no_spread);  // equal rates, whatever rounding does to the spread
}

TEST_CASE("a white-box key does not apply to a model without its layer", "[eval]") {
  const auto& f = test::watermarked_mnist();
  const auto key = make_uchida_embedder(*f.model, f.test, UchidaOptions().layer("conv2").bits(16))->key();
  torch::manual_seed(2);
  auto other = model_registry().create("cifar_cnn", {f.test.shape(), 10});  // no conv2
  const auto report = false_positive_study({{"cifar_cnn", other}, {"mnist_cnn", f.model}}, {key}, {"uchida"});
  CHECK(report.not_applicable == 1);
  CHECK(report.checks == 1);  // only the model that has the layer was read
  CHECK(report.to_json()["verifications"][0].contains("not_applicable"));
}

TEST_CASE("a tiny evaluation writes JSON, Markdown and SVG, and resumes without recomputing", "[eval]") {
  test::TempDir dir;
  const json config = {
      {"dataset", "mnist"}, {"data_dir", test::shared_data().string()}, {"subset", 2000}, {"epochs", 1},
      {"schemes", {"content", "deepsigns"}}, {"trigger_size", 30}, {"attacker_samples", 500},
      {"attacks", json::array({{{"attack", "prune"}, {"vary", "rate"}, {"values", {0.3, 0.9}}},
                               {{"attack", "finetune"}, {"vary", "epochs"}, {"values", {1}}},
                               {{"attack", "inversion"}, {"options", {{"steps", 10}}}}})},
      {"false_positive", {{"models", 1}, {"other_archs", {"cifar_cnn"}}}}};
  EvaluationRun run;
  run.out_dir = dir / "eval";
  std::vector<EvaluationProgress> steps;
  run.on_progress = [&](const EvaluationProgress& p) { steps.push_back(p); };
  const auto report = run_evaluation(EvaluationConfig::from_json(config), run);

  REQUIRE(steps.size() == 2 + 2 + 8);  // 2 clean models, 2 watermarked, 4 cells each
  CHECK(steps.back().done == steps.back().total);
  REQUIRE(report["cells"].size() == 8);
  CHECK(report["watermarked"][0]["verified"] == true);
  // A white-box scheme goes through the same grid: read from the model, bits compared.
  CHECK(report["watermarked"][1]["method"] == "deepsigns");
  for (const auto& cell : report["cells"]) {
    if (cell["generator"] == "content") {
      if (cell["attack"] == "prune" && cell["value"] == 0.3) CHECK(cell["verification_after"]["verified"] == true);
      if (cell["attack"] == "inversion") CHECK(cell["inversion"].contains("revealed_rate"));
    } else if (cell["attack"] != "inversion") {
      CHECK(cell["verification_after"].contains("bit_error_rate"));
    }
  }
  CHECK(report["false_positive"]["checks"] == 4);
  CHECK(report["false_positive"]["false_claims"] == 0);
  // The null-model rule beside the binomial test: fitted for the content key (two clean
  // models answer it) and for deepsigns alike.
  CHECK(report["false_positive"]["null_model"]["content"]["models"] == 2);
  CHECK(report["watermarked"][0]["null_model_verified"] == true);
  CHECK(report["watermarked"][1]["null_model_verified"].is_boolean());

  const auto md = read_file(run.out_dir / "report.md");
  CHECK_THAT(md, Contains("## Attack: prune (rate)"));
  CHECK_THAT(md, Contains("| 0.3 |"));
  CHECK_THAT(md, Contains("## False positives"));
  CHECK_THAT(md, Contains("| verified | NM | moved"));
  CHECK(json::parse(read_file(run.out_dir / "report.json")) == report);
  const auto svg = read_file(run.out_dir / "charts" / "prune_rate.svg");
  CHECK_THAT(svg, Contains("<svg"));
  CHECK_THAT(svg, Contains("content mark acc"));
  CHECK_THAT(svg, Contains("deepsigns mark acc"));
  CHECK(std::filesystem::exists(run.out_dir / "charts" / "finetune_epochs.svg"));

  // Resume: everything is taken from the folder, and the report is the same.
  steps.clear();
  const auto again = run_evaluation(EvaluationConfig::from_json(config), run);
  REQUIRE(steps.size() == 12);
  for (const auto& s : steps) CHECK(s.cached);
  CHECK(again["cells"] == report["cells"]);
  // A cached cell of other options (the attack edited in the config since) is refused,
  // not reported under the new options.
  auto edited = config;
  edited["attacks"][2]["options"]["steps"] = 11;
  CHECK_THROWS_WITH(run_evaluation(EvaluationConfig::from_json(edited), run),
                    Contains("inversion.json holds a result of other options for inversion"));
  // The folder is not tied to its schemes or attacks: a grid run in parts. A later part
  // with one scheme and another attack computes only its own cell, and its report is the
  // folder's: the earlier part's scheme and cells stay in it (report.json is not
  // replaced by a part), the new cell beside them.
  steps.clear();
  auto part = config;
  part["schemes"] = {"deepsigns"};
  part["attacks"] = json::array({{{"attack", "neuron-permutation"}}});
  const auto merged = run_evaluation(EvaluationConfig::from_json(part), run);
  REQUIRE(steps.size() == 2 + 1 + 1);  // 2 clean models, 1 watermarked, its 1 cell
  CHECK_FALSE(steps.back().cached);
  REQUIRE(merged["watermarked"].size() == 2);
  CHECK(merged["watermarked"][0] == report["watermarked"][1]);  // this part's scheme first
  CHECK(merged["watermarked"][1]["generator"] == "content");
  CHECK(merged["watermarked"][1]["verified"] == report["watermarked"][0]["verified"]);
  CHECK(merged["watermarked"][1]["test_accuracy"] == report["watermarked"][0]["test_accuracy"]);
  REQUIRE(merged["cells"].size() == 9);
  CHECK(merged["cells"][0]["cell"] == "deepsigns/neuron-permutation");
  for (const auto& cell : report["cells"]) {
    const auto found = std::find_if(merged["cells"].begin(), merged["cells"].end(),
                                     [&](const json& c) { return c["cell"] == cell["cell"]; });
    REQUIRE(found != merged["cells"].end());
    CHECK(*found == cell);
  }
  CHECK(merged["false_positive"]["checks"] == 4);  // both keys against both clean models
  CHECK(json::parse(read_file(run.out_dir / "report.json")) == merged);
  CHECK_THAT(read_file(run.out_dir / "charts" / "prune_rate.svg"), Contains("content mark acc"));
  CHECK_THAT(read_file(run.out_dir / "report.md"), Contains("## Attack: neuron-permutation"));
  // A file in the folder that is not what its place says is an error naming it, not
  // skipped and not reported as a result.
  test::write_bytes(run.out_dir / "cells" / "stray.json", "{\"note\": 1}", true);
  CHECK_THROWS_WITH(run_evaluation(EvaluationConfig::from_json(part), run),
                    Contains("stray.json is not a cell of an evaluation"));
  std::filesystem::remove(run.out_dir / "cells" / "stray.json");
  test::write_bytes(run.out_dir / "models" / "gone.not_embedded.json", "[1, 2]", true);
  CHECK_THROWS_WITH(run_evaluation(EvaluationConfig::from_json(part), run),
                    Contains("gone.not_embedded.json is not a record of a scheme that did not embed"));
  std::filesystem::remove(run.out_dir / "models" / "gone.not_embedded.json");
  // Another config in the same folder is refused rather than mixed in.
  auto other = config;
  other["trigger_size"] = 40;
  CHECK_THROWS_WITH(run_evaluation(EvaluationConfig::from_json(other), run), Contains("config.json differs"));
}

TEST_CASE("a grid split into two shards computes each part once, and an unsharded run merges them", "[eval]") {
  test::TempDir dir;
  const json config = {
      {"dataset", "mnist"}, {"data_dir", test::shared_data().string()}, {"subset", 1000}, {"epochs", 1},
      {"schemes", {"content", "uchida"}}, {"trigger_size", 30}, {"attacker_samples", 500},
      {"attacks", json::array({{{"attack", "neuron-permutation"}}})},
      {"false_positive", {{"models", 1}, {"other_archs", {"cifar_cnn"}}}}};
  const auto parsed = EvaluationConfig::from_json(config);
  std::vector<EvaluationProgress> steps;
  EvaluationRun run;
  run.out_dir = dir / "eval";
  run.on_progress = [&](const EvaluationProgress& p) { steps.push_back(p); };
  run.shards = 2;
  // Schemes take the first positions, clean models the next: shard 0 has content and the
  // mnist_cnn clean model, shard 1 uchida and the cifar_cnn one.
  run.shard = 0;
  const auto first = run_evaluation(parsed, run);
  CHECK(first["schemes"] == json{"content"});
  REQUIRE(first["clean_models"].size() == 1);
  CHECK_THAT(first["clean_models"][0].get<std::string>(), Contains("mnist_cnn"));
  run.shard = 1;
  const auto second = run_evaluation(parsed, run);
  CHECK(second["schemes"] == json{"uchida"});
  CHECK_THAT(second["clean_models"][0].get<std::string>(), Contains("cifar_cnn"));
  CHECK(steps.size() == 6);  // per shard: a clean model, a marked model, its cell
  for (const auto& s : steps) CHECK_FALSE(s.cached);
  CHECK_FALSE(std::filesystem::exists(run.out_dir / "report.json"));

  // Before the merge the folder already summarises from the shards' parts: both marked
  // models and both cells, and no clean model, which the summary says.
  const auto parts = read_evaluation_report(run.out_dir);
  CHECK(parts["clean_test_accuracy"].is_null());
  CHECK_FALSE(parts.contains("false_positive"));
  REQUIRE(parts["watermarked"].size() == 2);
  REQUIRE(parts["cells"].size() == 2);
  const auto partial_summary = summarize_seeds({parts}, {run.out_dir.string()});
  CHECK(partial_summary["false_positive"]["unchecked_seeds"] == json{parsed.seed});
  CHECK_THAT(seed_summary_markdown(partial_summary),
             Contains("No clean model in these folders") && Contains("not checked for seed") &&
                 Contains("# Over 1 seed (") && !Contains("Over 1 seeds") && !Contains(" claims in "));
  // A later run of shard 0 with another config (uchida alone, found cached) keeps the
  // content scheme its first run reported.
  auto uchida_only = config;
  uchida_only["schemes"] = {"uchida"};
  run.shard = 0;
  run_evaluation(EvaluationConfig::from_json(uchida_only), run);
  const auto shard0 = json::parse(read_file(run.out_dir / "shard-0-of-2.json"));
  CHECK(shard0["watermarked"].size() == 2);
  CHECK(shard0["cells"].size() == 2);
  CHECK(read_evaluation_report(run.out_dir)["watermarked"].size() == 2);
  // Parts of another setup in one folder are refused, naming the part.
  auto other = shard0;
  other["epochs"] = 7;
  test::write_bytes(run.out_dir / "shard-5-of-9.json", other.dump(), true);
  CHECK_THROWS_WITH(read_evaluation_report(run.out_dir),
                    Contains("shard-5-of-9.json: its \"epochs\" differs") && Contains("two evaluations"));
  std::filesystem::remove(run.out_dir / "shard-5-of-9.json");
  // A folder with neither a report nor a part is named, not read as an empty report.
  std::filesystem::create_directories(dir / "empty");
  CHECK_THROWS_WITH(read_evaluation_report(dir / "empty"), Contains("empty holds no report.json and no shard-I-of-N"));

  // The merge recomputes nothing and reports every part, the false-positive study included.
  steps.clear();
  run.shard = 0;
  run.shards = 1;
  const auto report = run_evaluation(parsed, run);
  REQUIRE(steps.size() == 6);
  for (const auto& s : steps) CHECK(s.cached);
  REQUIRE(report["cells"].size() == 2);
  std::vector<json> written;
  for (const auto& file : std::filesystem::directory_iterator(run.out_dir / "cells"))
    written.push_back(json::parse(read_file(file.path())));
  REQUIRE(written.size() == 2);
  for (auto cell : report["cells"]) {
    cell.erase("null_model_verified");  // the report's own decision beside the cell's
    CHECK(std::find(written.begin(), written.end(), cell) != written.end());
  }
  // Both clean models against both keys (uchida's conv2 is not in cifar_cnn).
  CHECK(report["false_positive"]["checks"] == 3);
  CHECK(report["false_positive"]["not_applicable"] == 1);
  CHECK(report["watermarked"].size() == 2);
  // The merged report is what the folder now summarises from, with the same cells.
  CHECK(read_evaluation_report(run.out_dir)["false_positive"]["checks"] == 3);
  CHECK(summarize_seeds({report}, {"merged"})["cells"] == partial_summary["cells"]);
  // The uchida key carries a unit reference: the permuted copy is read aligned too.
  for (const auto& cell : report["cells"])
    if (cell["generator"] == "uchida") CHECK(cell["verification_after"]["unit_alignment"]["decided_on"] == "aligned");

  run.shard = 2;
  run.shards = 2;
  CHECK_THROWS_WITH(run_evaluation(parsed, run), Contains("0 <= I < N"));
}

TEST_CASE("schemes that fine-tune the shared clean start are one shard's work, so it is trained once", "[eval]") {
  test::TempDir dir;
  const json config = {
      {"dataset", "mnist"}, {"data_dir", test::shared_data().string()}, {"subset", 1000}, {"epochs", 1},
      {"schemes", {"deepsigns-output", "frontier-stitching", "content"}}, {"trigger_size", 20},
      {"attacker_samples", 500}, {"attacks", json::array({{{"attack", "neuron-permutation"}}})},
      {"false_positive", {{"models", 1}}}};
  const auto parsed = EvaluationConfig::from_json(config);
  EvaluationRun run;
  run.out_dir = dir / "eval";
  run.shards = 2;
  // Positions: the two clean-start schemes together (0), content (1), the clean model (2).
  run.shard = 1;
  const auto second = run_evaluation(parsed, run);
  CHECK(second["schemes"] == json{"content"});
  CHECK(second["clean_models"].empty());
  CHECK_FALSE(std::filesystem::exists(run.out_dir / "models" / "clean_start_mnist_cnn.pt"));
  run.shard = 0;
  const auto first = run_evaluation(parsed, run);
  CHECK(first["schemes"] == json{"deepsigns-output", "frontier-stitching"});
  CHECK(first["clean_models"].size() == 1);
  CHECK(std::filesystem::exists(run.out_dir / "models" / "clean_start_mnist_cnn.pt"));
}

TEST_CASE("the evaluation report prints a certified radius and marks the attacks inside it", "[eval]") {
  using json = nlohmann::json;
  const auto cell = [](const std::string& generator, double rate, double moved) {
    return json{{"generator", generator},
                {"attack", "prune"},
                {"vary", "rate"},
                {"value", rate},
                {"test_accuracy_after", 0.98},
                {"kept_accuracy", true},
                {"relative_weight_distance", moved},
                {"verification_after", {{"verified", true}, {"match_rate", 1.0}, {"p_value", 1e-100}}}};
  };
  json report = {{"dataset", "mnist"},
                 {"arch", "mnist_cnn"},
                 {"watermarked",
                  {{{"generator", "certified"}, {"smoothing_sigma", 0.1}, {"certified_radius", 0.07},
                    {"relative_certified_radius", 0.003}},
                   {{"generator", "uncertified"}, {"smoothing_sigma", 0.1}, {"certified_radius", 0.0},
                    {"relative_certified_radius", 0.0}}}},
                 {"cells",
                  {cell("certified", 0.01, 0.0005), cell("certified", 0.2, 0.05), cell("uncertified", 0.01, 0.0005),
                   cell("uncertified", 0.2, 0.05)}},
                 {"false_positive", json::object()},
                 {"charts", json::array()}};
  const auto md = evaluation_markdown(report);
  CHECK_THAT(md, Catch::Contains("**certified** is certified (parameter noise sigma 0.1): l2 radius 0.07, 0.003 of"));
  CHECK_THAT(md, Catch::Contains("**uncertified** is not certified"));
  // Only the certified scheme's 1% pruning (0.05% of the weights) lies inside its radius.
  CHECK_THAT(md, Catch::Contains("0.0005 ≤r"));
  std::size_t marks = 0;
  for (auto at = md.find("≤r |"); at != std::string::npos; at = md.find("≤r |", at + 1)) ++marks;
  CHECK(marks == 1);
}

TEST_CASE("the report says when the null-model rule was fitted to clean models without spread", "[eval]") {
  using json = nlohmann::json;
  // As on fully trained CIFAR-10 (seed 2): two clean models matched 0% of the content
  // triggers, so the Gaussian's threshold is 0 and a model 91% destroyed at 9% is "owned".
  const auto entry = [](const std::string& generator, double rate, bool nm) {
    return json{{"generator", generator}, {"test_accuracy", 0.84}, {"trigger_accuracy", rate}, {"verified", true},
                {"p_value", 1e-100}, {"null_model_verified", nm}};
  };
  const auto cell = [](const std::string& generator, double rate, bool nm) {
    return json{{"generator", generator}, {"attack", "prune"}, {"vary", "rate"}, {"value", 0.9},
                {"test_accuracy_after", 0.61}, {"kept_accuracy", false}, {"null_model_verified", nm},
                {"verification_after", {{"verified", false}, {"match_rate", rate}, {"p_value", 0.68}}}};
  };
  const json report = {
      {"dataset", "cifar10"},
      {"arch", "cifar_cnn"},
      {"watermarked", {entry("content", 1.0, true), entry("adi", 1.0, true)}},
      {"cells", {cell("content", 0.09, true), cell("adi", 0.09, false)}},
      {"false_positive",
       {{"null_model",
         {{"content", fit_null_model({0.0, 0.0}).to_json()}, {"adi", fit_null_model({0.08, 0.12}).to_json()}}}}},
      {"charts", json::array()}};
  const auto md = evaluation_markdown(report);
  CHECK_THAT(md, Catch::Contains("‡ NM for **content** has no spread: its 2 clean models all matched 0.00%"));
  CHECK_THAT(md, Catch::Contains("| no† (0.68) | yes‡ |"));  // content's destroyed model, "owned" by the flat fit
  CHECK_THAT(md, Catch::Contains("| no† (0.68) | no |"));    // adi's fit has a spread: no mark
  CHECK(md.find("NM for **adi**") == std::string::npos);
}

TEST_CASE("every evaluation config shipped in examples/eval loads: its schemes and attack options exist",
          "[eval]") {
  const auto folder = std::filesystem::path(WMARK_TEST_SOURCE_DIR) / "examples" / "eval";
  int configs = 0;
  for (const auto& entry : std::filesystem::directory_iterator(folder)) {
    if (entry.path().extension() != ".json") continue;
    INFO(entry.path().string());
    EvaluationConfig config;
    CHECK_NOTHROW(config = EvaluationConfig::load(entry.path()));
    CHECK_FALSE(config.attacks.empty());
    ++configs;
  }
  CHECK(configs >= 10);
}

TEST_CASE("schemes that fine-tune a clean model share one clean start per seed, trained once", "[eval]") {
  test::TempDir dir;
  const json config = {
      {"dataset", "mnist"}, {"data_dir", test::shared_data().string()}, {"subset", 2000}, {"epochs", 1},
      {"schemes", {"frontier-stitching", "deepsigns-output", "content"}}, {"trigger_size", 30},
      {"attacker_samples", 500}, {"attacks", json::array({{{"attack", "prune"}, {"vary", "rate"}, {"values", {0.3}}}})},
      {"false_positive", {{"models", 1}}}};
  EvaluationRun run;
  run.out_dir = dir / "eval";
  const auto report = run_evaluation(EvaluationConfig::from_json(config), run);
  const auto start_path = run.out_dir / "models" / "clean_start_mnist_cnn.pt";
  REQUIRE(std::filesystem::exists(start_path));
  auto start = load_checkpoint(start_path, "mnist_cnn").model;
  // Each fine-tuning scheme's model is that clean start moved by its keys: far closer to
  // it than to a clean model of another seed.
  auto other = load_checkpoint(run.out_dir / "models" / "clean_mnist_cnn_1001.pt", "mnist_cnn").model;
  for (const std::string scheme : {"frontier-stitching", "deepsigns-output"}) {
    INFO(scheme);
    const auto path = run.out_dir / "models" / (scheme + ".pt");
    if (!std::filesystem::exists(path)) {
      // A scheme that cannot embed on so small a model is recorded as such.
      CHECK(report["not_embedded"].dump().find(scheme) != std::string::npos);
      continue;
    }
    auto marked = load_checkpoint(path, "mnist_cnn").model;
    const double from_start = *parameter_distance(*start, *marked), from_other = *parameter_distance(*other, *marked);
    INFO("from the start " << from_start << ", from another clean model " << from_other);
    CHECK(from_start < 0.6 * from_other);
  }
  // Resumed with the start in the folder, a removed fine-tuned model is marked again from
  // it: the start is not retrained.
  const auto written = std::filesystem::last_write_time(start_path);
  std::filesystem::remove(run.out_dir / "models" / "deepsigns-output.pt");
  run_evaluation(EvaluationConfig::from_json(config), run);
  CHECK(std::filesystem::last_write_time(start_path) == written);
  CHECK(std::filesystem::exists(run.out_dir / "models" / "deepsigns-output.pt"));
}

TEST_CASE("a named variant of a scheme is embedded with its own options and reported under its name", "[eval]") {
  test::TempDir dir;
  const json config = {
      {"dataset", "mnist"}, {"data_dir", test::shared_data().string()}, {"subset", 1000}, {"epochs", 1},
      {"schemes", {{{"name", "content-20"}, {"scheme", "content"}, {"options", {{"trigger_size", 20}}}}}},
      {"trigger_size", 30}, {"attacker_samples", 500},
      {"attacks", json::array({{{"attack", "neuron-permutation"}}})}, {"false_positive", {{"models", 1}}}};
  EvaluationRun run;
  run.out_dir = dir / "eval";
  const auto report = run_evaluation(EvaluationConfig::from_json(config), run);
  REQUIRE(report["watermarked"].size() == 1);
  CHECK(report["watermarked"][0]["generator"] == "content-20");
  REQUIRE(report["cells"].size() == 1);
  CHECK(report["cells"][0]["cell"] == "content-20/neuron-permutation");
  const auto key = WatermarkKey::load(run.out_dir / "models" / "content-20.wmk");
  CHECK(key.tensors.at("images").size(0) == 20);  // the variant's trigger_size, not the config's 30
  CHECK(key.params["generator"] == "content");
}

#include "wmark/eval/evaluation.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <optional>
#include <sstream>

#include <spdlog/spdlog.h>

#include "../util/json_options.h"
#include "../util/text.h"
#include "wmark/attack/attack.h"
#include "wmark/attack/thief_artefacts.h"
#include "wmark/data/catalog.h"
#include "wmark/data/subset.h"
#include "wmark/eval/attack_report.h"
#include "wmark/eval/false_positive.h"
#include "wmark/models/checkpoint.h"
#include "wmark/models/registry.h"
#include "wmark/train/evaluate.h"
#include "wmark/train/recipe.h"
#include "wmark/train/trainer.h"
#include "wmark/util/error.h"
#include "wmark/util/files.h"
#include "wmark/util/json_limits.h"
#include "wmark/util/log.h"
#include "wmark/util/random.h"
#include "wmark/verify/classifier.h"
#include "wmark/watermark/embed.h"
#include "wmark/watermark/parameter_smoothing.h"
#include "wmark/watermark/save_marked.h"
#include "wmark/watermark/scheme.h"

#include "evaluation_support.h"

namespace fs = std::filesystem;

namespace wmark {
namespace {

using evaluation::file_safe;
using evaluation::read_json;
using evaluation::add_folder_cells;
using evaluation::write_report_charts;
using evaluation::scheme_choice;
using evaluation::value_text;

std::string cell_name(const std::string& generator, const AttackSweep& sweep, const nlohmann::json& value) {
  return generator + "/" + evaluation::sweep_cell(sweep, value);
}

// Marks `model` (fresh, or the clean start when `pretrained`) with `scheme`'s watermark
// and returns its key.
WatermarkKey embed_scheme(const std::string& scheme, NetworkPtr model, bool pretrained, const DatasetSplits& splits,
                          const TrainerOptions& training, const EvaluationConfig& config, const CheckpointInfo& info) {
  const auto choice = scheme_choice(config, scheme);
  EmbedRequest request;
  request.model = std::move(model);
  request.pretrained = pretrained;
  request.splits = splits;
  request.training = training;
  request.info = info;
  // An experiment is reproducible from its seed, so its keys are too (and forgeable).
  request.secret = experiment_secret(config.seed, "evaluate-key-" + scheme);
  request.data_dir = config.data_dir;
  return embed_watermark(choice.scheme, choice.options, request).key;
}

bool starts_from_clean_model(const EvaluationConfig& config, const std::string& scheme) {
  const auto choice = scheme_choice(config, scheme);
  return scheme_registry().create(choice.scheme, choice.options)->starts_from_clean_model();
}

}  // namespace

nlohmann::json run_evaluation(const EvaluationConfig& config, const EvaluationRun& run) {
  WMARK_CHECK(!run.out_dir.empty(), "run_evaluation needs an output folder");
  WMARK_CHECK(run.shards >= 1 && run.shard >= 0 && run.shard < run.shards, "an evaluation shard must be I of N with ",
              "0 <= I < N, got ", run.shard, " of ", run.shards);
  const bool sharded = run.shards > 1;
  const auto owns = [&](std::size_t position) {
    return !sharded || static_cast<std::int64_t>(position % static_cast<std::size_t>(run.shards)) == run.shard;
  };
  const auto device = c10::Device(run.device);
  fs::create_directories(run.out_dir / "models");
  fs::create_directories(run.out_dir / "cells");
  fs::create_directories(run.out_dir / "charts");
  // A folder holds one evaluation: resuming with other data or training would mix
  // results. The schemes are not part of it: each scheme's model, key and cells are its
  // own (its secret is derived from its name), so schemes may be added to a folder later.
  const auto config_path = run.out_dir / "config.json";
  const nlohmann::json config_json = {{"dataset", config.dataset}, {"subset", config.subset}, {"arch", config.arch},
                                      {"epochs", config.epochs}, {"seed", config.seed},
                                      {"trigger_size", config.trigger_size},
                                      {"attacker_samples", config.attacker_samples}};
  // Shards starting together may both write it: the same bytes, replaced atomically.
  if (!fs::exists(config_path)) write_file_atomic(config_path, config_json.dump(2) + "\n", /*force=*/true);
  auto stored = read_json(config_path);
  if (stored.is_object()) stored.erase("schemes");  // folders written before schemes could be added
  WMARK_CHECK(stored == config_json, run.out_dir.string(),
              " holds an evaluation with other models or data (config.json differs); use another folder");

  auto splits = load_dataset(config.dataset, config.data_dir);
  splits.train = balanced_subset(splits.train, config.subset, config.seed);
  const auto attacker_samples = config.attacker_samples > 0 ? config.attacker_samples : splits.test.size() / 2;
  WMARK_CHECK(attacker_samples < splits.test.size(), "attacker_samples ", attacker_samples, " leaves no test data");
  auto [test, attacker] = split_holdout(splits.test, attacker_samples, config.seed);
  const DatasetSplits train_splits{splits.train, test};

  auto recipe = default_recipe(config.dataset);
  const auto arch = config.arch.empty() ? recipe.arch : config.arch;
  auto training = recipe.options.seed(config.seed).device(device);
  if (config.epochs > 0) training.epochs(config.epochs);
  const ModelSpec spec{splits.train.shape(), splits.train.num_classes};

  // Clean models: the baseline (first) and the false-positive study. A shard's positions:
  // schemes first (the heavy part), then clean models.
  std::vector<std::pair<std::string, std::uint64_t>> clean_plan;
  for (std::int64_t i = 0; i < config.clean_models; ++i) clean_plan.emplace_back(arch, config.seed + 1000 + i);
  for (const auto& other : config.other_archs) clean_plan.emplace_back(other, config.seed + 2000);
  // The schemes that fine-tune the shared clean start take one position together: the
  // shard that owns it trains that model once, where two shards would each train it.
  std::vector<bool> clean_owned, scheme_owned, scheme_from_clean;
  std::size_t position = 0;
  std::optional<std::size_t> clean_start_position;
  for (const auto& scheme : config.schemes) {
    scheme_from_clean.push_back(starts_from_clean_model(config, scheme));
    if (!scheme_from_clean.back()) {
      scheme_owned.push_back(owns(position++));
      continue;
    }
    if (!clean_start_position) clean_start_position = position++;
    scheme_owned.push_back(owns(*clean_start_position));
  }
  for (std::size_t i = 0; i < clean_plan.size(); ++i) clean_owned.push_back(owns(position + i));

  std::int64_t cells = 0;
  for (const auto& s : config.attacks) cells += static_cast<std::int64_t>(s.values.size());
  EvaluationProgress progress;
  progress.total = std::count(scheme_owned.begin(), scheme_owned.end(), true) * (1 + cells) +
                   std::count(clean_owned.begin(), clean_owned.end(), true);
  double computed_seconds = 0;
  std::int64_t computed = 0;
  auto step_done = [&](const std::string& step, bool cached, double seconds) {
    ++progress.done;
    progress.step = step;
    progress.cached = cached;
    if (!cached) {
      computed_seconds += seconds;
      ++computed;
    }
    progress.eta_seconds = computed ? computed_seconds / computed * (progress.total - progress.done) : 0;
    logger()->info("evaluate {}/{}: {}{}", progress.done, progress.total, step, cached ? " (cached)" : "");
    if (run.on_progress) run.on_progress(progress);
  };
  auto seconds_since = [](std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
  };
  auto info_for = [&](const std::string& a) {
    return CheckpointInfo{a, spec, config.dataset, splits.train.normalization, 0, nlohmann::json::object()};
  };

  std::vector<CleanModel> clean_models;
  nlohmann::json shard_work = {{"shard", run.shard}, {"shards", run.shards}, {"schemes", nlohmann::json::array()},
                               {"clean_models", nlohmann::json::array()}};
  for (std::size_t i = 0; i < clean_plan.size(); ++i) {
    if (!clean_owned[i]) continue;
    const auto& [clean_arch, seed] = clean_plan[i];
    const auto name = clean_arch + " seed " + std::to_string(seed);
    const auto path = run.out_dir / "models" / ("clean_" + clean_arch + "_" + std::to_string(seed) + ".pt");
    const auto start = std::chrono::steady_clock::now();
    const bool cached = fs::exists(path);
    NetworkPtr model;
    if (cached) {
      model = load_checkpoint(path, clean_arch).model;
    } else {
      torch::manual_seed(seed);
      model = model_registry().create(clean_arch, spec);
      auto options = TrainerOptions(training).seed(seed);
      if (config.clean_epochs > 0) options.epochs(config.clean_epochs);
      Trainer(model, options, info_for(clean_arch)).fit(splits.train);
      save_checkpoint(path, *model, info_for(clean_arch), nullptr, false);
    }
    model->to(device);
    clean_models.push_back({name, model});
    shard_work["clean_models"].push_back(name);
    step_done("clean model " + name, cached, seconds_since(start));
  }
  const double clean_accuracy = sharded ? 0.0 : accuracy(*clean_models.front().model, test, device);

  nlohmann::json report = {{"dataset", config.dataset}, {"arch", arch}, {"train_samples", splits.train.size()},
                           {"epochs", training.epochs()}, {"trigger_size", config.trigger_size},
                           {"attacker_samples", attacker.size()}, {"test_samples", test.size()},
                           {"seed", config.seed}, {"clean_test_accuracy", clean_accuracy}};
  nlohmann::json watermarked = nlohmann::json::array();
  nlohmann::json cells_json = nlohmann::json::array();
  nlohmann::json failed = nlohmann::json::array();  // schemes that did not embed, with why
  std::vector<WatermarkKey> keys;
  std::vector<std::string> key_names;

  auto context = registered_attack_context(arch, spec, attacker, config.seed);
  context.training = TrainerOptions().batch_size(training.batch_size()).device(device);
  context.data_dir = config.data_dir;
  context.artefacts = std::make_shared<ThiefArtefacts>();  // e.g. one autoencoder for every victim
  Verifier verifier;
  // The clean model that schemes marking by fine-tuning start from (Scheme::
  // starts_from_clean_model): the recipe at the evaluation's seed, as each would train it
  // itself, trained once and kept in the folder for all of them.
  auto clean_start = [&]() -> NetworkPtr {
    const auto path = run.out_dir / "models" / ("clean_start_" + arch + ".pt");
    if (!fs::exists(path)) {
      torch::manual_seed(config.seed);
      auto model = model_registry().create(arch, spec);
      Trainer(model, training, info_for(arch)).fit(train_splits.train, &test);
      save_checkpoint(path, *model, info_for(arch), nullptr, /*force=*/true);
    }
    return load_checkpoint(path, arch).model;
  };

  const auto not_embedded_path = [&](const std::string& generator) {
    return run.out_dir / "models" / (generator + ".not_embedded.json");
  };
  // The marked model's line of the report: accuracy, its own verification and, for a
  // certified key, the radius.
  const auto describe_marked = [&](const std::string& generator, Network& model, const WatermarkKey& key) {
    const auto verification = verifier.verify_model(model, key, generator, device);
    nlohmann::json entry = {{"generator", generator}, {"method", key.method},
                            {"test_accuracy", accuracy(model, test, device)},
                            {"trigger_accuracy", verification.match_rate}, {"verified", verification.verified},
                            {"p_value", verification.p_value}, {"label_policy", key.params.value("label_policy", "")}};
    if (key.params.contains("smoothing_sigma") && key.params["smoothing_sigma"].is_number()) {
      // A certified key: the radius to read every attack's weight distance against.
      const auto certificate = certify_watermark(
          model, key,
          SmoothingOptions().sigma(key.params["smoothing_sigma"].get<double>()).seed(derive_seed(config.seed, "certify")),
          device);
      entry["smoothing_sigma"] = certificate.sigma;
      entry["certified_radius"] = certificate.radius;
      entry["relative_certified_radius"] = certificate.radius / certificate.parameter_norm;
    }
    return entry;
  };

  for (std::size_t scheme_index = 0; scheme_index < config.schemes.size(); ++scheme_index) {
    if (!scheme_owned[scheme_index]) continue;
    const auto& generator = config.schemes[scheme_index];
    shard_work["schemes"].push_back(generator);
    const auto model_path = run.out_dir / "models" / (generator + ".pt");
    const auto key_path = run.out_dir / "models" / (generator + ".wmk");
    const auto start = std::chrono::steady_clock::now();
    const bool cached = fs::exists(model_path) && fs::exists(key_path);
    NetworkPtr model;
    WatermarkKey key;
    if (cached) {
      model = load_checkpoint(model_path, arch).model;
      key = WatermarkKey::load(key_path);
    } else {
      const bool from_clean = scheme_from_clean[scheme_index];
      if (from_clean) {
        model = clean_start();
      } else {
        torch::manual_seed(config.seed);
        model = model_registry().create(arch, spec);
      }
      try {
        key = embed_scheme(generator, model, from_clean, train_splits, training, config, info_for(arch));
      } catch (const Error& error) {
        // A scheme that cannot embed here (no key found, a model too weak for it) is a
        // result, not the end of the grid: recorded, and the other schemes go on.
        logger()->error("evaluate: {} did not embed: {}", generator, error.what());
        failed.push_back({{"generator", generator}, {"error", error.what()}});
        // Kept in the folder, so a later part's report still says why (tried again by
        // every run that names the scheme).
        write_file_atomic(not_embedded_path(generator), failed.back().dump(2) + "\n", /*force=*/true);
        continue;
      }
      // force: a half-finished earlier run may have left one without the other.
      save_marked_model(key, key_path, *model, info_for(arch), model_path, /*force=*/true);
      fs::remove(not_embedded_path(generator));
    }
    model->to(device);
    model->eval();
    watermarked.push_back(describe_marked(generator, *model, key));
    keys.push_back(key);
    key_names.push_back(generator);
    step_done("watermarked model " + generator, cached, seconds_since(start));

    for (const auto& sweep : config.attacks) {
      for (const auto& value : sweep.values) {
        const auto name = cell_name(generator, sweep, value);
        const auto cell_path = run.out_dir / "cells" / (file_safe(name) + ".json");
        const auto cell_start = std::chrono::steady_clock::now();
        auto options = sweep.options;
        if (!sweep.vary.empty()) options[sweep.vary] = value;
        auto attack = attack_registry().create(sweep.attack, options);
        if (fs::exists(cell_path)) {
          auto cached = read_json(cell_path);
          // A result of other options (the config's attack edited since) is not this cell's.
          WMARK_CHECK(cached.value("options", nlohmann::json()) == attack->options(), cell_path.string(),
                      " holds a result of other options for ", sweep.attack, " (", cached.value("options", nlohmann::json()).dump(),
                      ", now ", attack->options().dump(), "); delete it or use another folder");
          cells_json.push_back(std::move(cached));
          step_done(name, true, 0);
          continue;
        }
        auto cell = evaluate_attack(*attack, *model, context, test, &key, verifier).to_json();
        cell["generator"] = generator;
        cell["vary"] = sweep.vary;
        cell["value"] = value;
        cell["cell"] = name;
        write_file_atomic(cell_path, cell.dump(2) + "\n", /*force=*/true);
        cells_json.push_back(cell);
        step_done(name, false, seconds_since(cell_start));
      }
    }
  }

  if (sharded) {
    evaluation::write_shard_report(run.out_dir, run.shard, run.shards, report, watermarked, failed);
    logger()->info("evaluate: shard {}/{} done; run without a shard over {} to merge the report", run.shard,
                   run.shards, run.out_dir.string());
    return shard_work;
  }
  // The report is the folder's: schemes and cells that earlier runs with other configs
  // left in it (a grid run in parts) are reported beside this run's, so a later part
  // does not replace the report of an earlier one, and `summarize` sees them all.
  std::vector<fs::path> folder_keys, folder_failures;
  for (const auto& entry : fs::directory_iterator(run.out_dir / "models")) {
    if (entry.path().extension() == ".wmk") folder_keys.push_back(entry.path());
    if (ends_with(entry.path().filename().string(), ".not_embedded.json")) folder_failures.push_back(entry.path());
  }
  std::sort(folder_keys.begin(), folder_keys.end());
  for (const auto& key_path : folder_keys) {
    const auto generator = key_path.stem().string();
    auto model_path = key_path;
    model_path.replace_extension(".pt");
    if (std::find(key_names.begin(), key_names.end(), generator) != key_names.end() || !fs::exists(model_path))
      continue;
    auto key = WatermarkKey::load(key_path);
    auto model = load_checkpoint(model_path, arch).model;
    model->to(device);
    model->eval();
    watermarked.push_back(describe_marked(generator, *model, key));
    keys.push_back(std::move(key));
    key_names.push_back(generator);
  }
  std::sort(folder_failures.begin(), folder_failures.end());
  for (const auto& failure_path : folder_failures) {
    auto failure = read_json(failure_path);
    WMARK_CHECK(failure.is_object() && failure.contains("generator") && failure["generator"].is_string(),
                failure_path.string(), " is not a record of a scheme that did not embed (no 'generator')");
    const auto generator = failure["generator"].get<std::string>();
    const bool reported = std::find(key_names.begin(), key_names.end(), generator) != key_names.end() ||
                          std::any_of(failed.begin(), failed.end(), [&](const auto& f) { return f["generator"] == generator; });
    if (!reported) failed.push_back(std::move(failure));
  }
  add_folder_cells(run.out_dir / "cells", key_names, cells_json);
  report["not_embedded"] = failed;
  const auto false_positive = false_positive_study(clean_models, keys, key_names, verifier, device);
  report["false_positive"] = false_positive.to_json();
  // The toolbox's decision beside wmark's, from the same clean models.
  const auto null_model_claims = [&](const std::string& key, const nlohmann::json& match_rate) -> nlohmann::json {
    const auto fit = false_positive.null_model.find(key);
    if (fit == false_positive.null_model.end() || fit->second.models < 2 || !match_rate.is_number()) return nullptr;
    return fit->second.claims(match_rate.get<double>());
  };
  for (auto& w : watermarked) w["null_model_verified"] = null_model_claims(w["generator"], w["trigger_accuracy"]);
  for (auto& cell : cells_json) {
    const auto& after = cell["verification_after"];
    cell["null_model_verified"] = after.is_null() ? nlohmann::json() : null_model_claims(cell["generator"], after["match_rate"]);
  }
  report["watermarked"] = watermarked;
  report["cells"] = cells_json;

  report["charts"] = write_report_charts(cells_json, key_names, run.out_dir);
  write_file_atomic(run.out_dir / "report.json", report.dump(2) + "\n", true);
  write_file_atomic(run.out_dir / "report.md", evaluation_markdown(report), true);
  return report;
}

}  // namespace wmark

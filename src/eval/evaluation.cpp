#include "wmark/eval/evaluation.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <sstream>

#include <spdlog/spdlog.h>

#include "../util/json_options.h"
#include "wmark/attack/attack.h"
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
#include "wmark/watermark/save_marked.h"
#include "wmark/watermark/scheme.h"

namespace fs = std::filesystem;

namespace wmark {
namespace {

template <class T>
T get(const nlohmann::json& j, const char* key, const T& fallback, const std::string& source) {
  if (!j.contains(key) || j.at(key).is_null()) return fallback;
  try {
    return j.at(key).get<T>();
  } catch (const nlohmann::json::exception&) {
    WMARK_FAIL(source, ": key '", key, "' has the wrong type (", j.at(key).type_name(), ")");
  }
}

std::string value_text(const nlohmann::json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

std::string cell_name(const std::string& generator, const AttackSweep& sweep, const nlohmann::json& value) {
  std::string name = generator + "/" + sweep.attack;
  if (!sweep.vary.empty()) name += "/" + sweep.vary + "=" + value_text(value);
  return name;
}

// A file name for a cell: its name with '/' and '=' made safe.
std::string file_safe(std::string name) {
  for (auto& ch : name) {
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '.' && ch != '-' && ch != '_') ch = '_';
  }
  return name;
}

// A config's scheme name with its options: the config's trigger_size for every scheme
// that has one (triggers, output keys).
SchemeChoice scheme_choice(const std::string& name, std::int64_t trigger_size) {
  auto choice = resolve_scheme(name);
  if (scheme_registry().create(choice.scheme, choice.options)->schema().find("trigger_size"))
    choice.options["trigger_size"] = trigger_size;
  return choice;
}

// Trains `model` with `scheme`'s watermark and returns its key.
WatermarkKey embed_scheme(const std::string& scheme, NetworkPtr model, const DatasetSplits& splits,
                          const TrainerOptions& training, const EvaluationConfig& config, const CheckpointInfo& info) {
  const auto choice = scheme_choice(scheme, config.trigger_size);
  EmbedRequest request;
  request.model = std::move(model);
  request.splits = splits;
  request.training = training;
  request.info = info;
  // An experiment is reproducible from its seed, so its keys are too (and forgeable).
  request.secret = experiment_secret(config.seed, "evaluate-key-" + scheme);
  request.data_dir = config.data_dir;
  return embed_watermark(choice.scheme, choice.options, request).key;
}

nlohmann::json read_json(const fs::path& path) {
  try {
    const auto text = read_file(path);
    check_json_nesting(text, kMaxJsonDepth, path.string());
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& error) {
    WMARK_FAIL(path.string(), " is not valid JSON: ", error.what());
  }
}

}  // namespace

EvaluationConfig EvaluationConfig::from_json(const nlohmann::json& j, const std::string& source) {
  WMARK_CHECK(j.is_object(), source, ": an evaluation config must be a JSON object");
  check_option_keys(j, source, {"dataset", "data_dir", "subset", "arch", "epochs", "seed", "trigger_size",
                                "schemes", "generators", "attacker_samples", "attacks", "false_positive"});
  EvaluationConfig c;
  c.dataset = canonical_dataset_name(get<std::string>(j, "dataset", c.dataset, source));
  if (j.contains("data_dir") && !j.at("data_dir").is_null()) c.data_dir = get<std::string>(j, "data_dir", "", source);
  c.subset = get<std::int64_t>(j, "subset", c.subset, source);
  c.arch = get<std::string>(j, "arch", c.arch, source);
  c.epochs = get<std::int64_t>(j, "epochs", c.epochs, source);
  c.seed = get<std::uint64_t>(j, "seed", c.seed, source);
  c.trigger_size = get<std::int64_t>(j, "trigger_size", c.trigger_size, source);
  WMARK_CHECK(!(j.contains("schemes") && j.contains("generators")), source,
              ": give 'schemes' or its older name 'generators', not both");
  const char* schemes_key = j.contains("generators") ? "generators" : "schemes";
  c.schemes = get<std::vector<std::string>>(j, schemes_key, c.schemes, source);
  c.attacker_samples = get<std::int64_t>(j, "attacker_samples", c.attacker_samples, source);
  WMARK_CHECK(c.subset >= 0 && c.epochs >= 0 && c.attacker_samples >= 0, source,
              ": subset, epochs and attacker_samples must not be negative");
  WMARK_CHECK(c.trigger_size >= 1, source, ": trigger_size must be at least 1");
  WMARK_CHECK(!c.schemes.empty(), source, ": '", schemes_key, "' is empty");
  for (const auto& scheme : c.schemes) {
    try {
      const auto choice = scheme_choice(scheme, c.trigger_size);  // refuses unknown names, listing the known
      scheme_registry().create(choice.scheme, choice.options);
    } catch (const Error& error) {
      WMARK_FAIL(source, ": '", schemes_key, "': ", error.what());
    }
  }
  if (!c.arch.empty()) WMARK_CHECK(model_registry().contains(c.arch), source, ": unknown arch '", c.arch, "'");

  WMARK_CHECK(j.contains("attacks") && j.at("attacks").is_array() && !j.at("attacks").empty(), source,
              ": 'attacks' must be a non-empty array of {\"attack\", \"options\", \"vary\", \"values\"}");
  for (const auto& a : j.at("attacks")) {
    const auto where = source + ": attacks[" + std::to_string(c.attacks.size()) + "]";
    WMARK_CHECK(a.is_object(), where, " must be an object");
    check_option_keys(a, where, {"attack", "options", "vary", "values"});
    AttackSweep sweep;
    sweep.attack = get<std::string>(a, "attack", "", where);
    sweep.options = get<nlohmann::json>(a, "options", nlohmann::json::object(), where);
    sweep.vary = get<std::string>(a, "vary", "", where);
    if (!sweep.vary.empty()) {
      sweep.values = get<std::vector<nlohmann::json>>(a, "values", {}, where);
      WMARK_CHECK(!sweep.values.empty(), where, ": 'vary' needs a non-empty 'values' array");
    } else {
      WMARK_CHECK(!a.contains("values"), where, ": 'values' needs 'vary' (the option they set)");
      sweep.values = {nullptr};
    }
    for (const auto& v : sweep.values) {  // every cell's options must be valid before hours of work
      auto options = sweep.options;
      if (!sweep.vary.empty()) options[sweep.vary] = v;
      try {
        attack_registry().create(sweep.attack, options);
      } catch (const Error& error) {
        WMARK_FAIL(where, ": ", error.what());
      }
    }
    c.attacks.push_back(std::move(sweep));
  }
  if (j.contains("false_positive")) {
    const auto& fp = j.at("false_positive");
    const auto where = source + ": false_positive";
    WMARK_CHECK(fp.is_object(), where, " must be an object");
    check_option_keys(fp, where, {"models", "other_archs", "epochs"});
    c.clean_models = get<std::int64_t>(fp, "models", c.clean_models, where);
    c.other_archs = get<std::vector<std::string>>(fp, "other_archs", c.other_archs, where);
    c.clean_epochs = get<std::int64_t>(fp, "epochs", c.clean_epochs, where);
    WMARK_CHECK(c.clean_models >= 1, where, ": models must be at least 1 (the clean baseline)");
    for (const auto& a : c.other_archs) WMARK_CHECK(model_registry().contains(a), where, ": unknown arch '", a, "'");
  }
  return c;
}

EvaluationConfig EvaluationConfig::load(const fs::path& path) {
  return from_json(read_json(path), path.string());
}

nlohmann::json run_evaluation(const EvaluationConfig& config, const EvaluationRun& run) {
  WMARK_CHECK(!run.out_dir.empty(), "run_evaluation needs an output folder");
  const auto device = c10::Device(run.device);
  fs::create_directories(run.out_dir / "models");
  fs::create_directories(run.out_dir / "cells");
  fs::create_directories(run.out_dir / "charts");
  // A folder holds one evaluation: resuming with another config would mix results.
  const auto config_path = run.out_dir / "config.json";
  nlohmann::json config_json = {{"dataset", config.dataset}, {"subset", config.subset}, {"arch", config.arch},
                                {"epochs", config.epochs}, {"seed", config.seed},
                                {"trigger_size", config.trigger_size}, {"schemes", config.schemes},
                                {"attacker_samples", config.attacker_samples}};
  if (fs::exists(config_path)) {
    WMARK_CHECK(read_json(config_path) == config_json, run.out_dir.string(),
                " holds an evaluation with other models or data (config.json differs); use another folder");
  } else {
    write_file_atomic(config_path, config_json.dump(2) + "\n", false);
  }

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

  std::int64_t cells = 0;
  for (const auto& s : config.attacks) cells += static_cast<std::int64_t>(s.values.size());
  const std::int64_t clean_count = config.clean_models + static_cast<std::int64_t>(config.other_archs.size());
  EvaluationProgress progress;
  progress.total = static_cast<std::int64_t>(config.schemes.size()) * (1 + cells) + clean_count;
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

  // Clean models: the baseline (first) and the false-positive study.
  std::vector<CleanModel> clean_models;
  std::vector<std::pair<std::string, std::uint64_t>> clean_plan;
  for (std::int64_t i = 0; i < config.clean_models; ++i) clean_plan.emplace_back(arch, config.seed + 1000 + i);
  for (const auto& other : config.other_archs) clean_plan.emplace_back(other, config.seed + 2000);
  for (const auto& [clean_arch, seed] : clean_plan) {
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
    step_done("clean model " + name, cached, seconds_since(start));
  }
  const double clean_accuracy = accuracy(*clean_models.front().model, test, device);

  nlohmann::json report = {{"dataset", config.dataset}, {"arch", arch}, {"train_samples", splits.train.size()},
                           {"epochs", training.epochs()}, {"trigger_size", config.trigger_size},
                           {"attacker_samples", attacker.size()}, {"test_samples", test.size()},
                           {"seed", config.seed}, {"clean_test_accuracy", clean_accuracy}};
  nlohmann::json watermarked = nlohmann::json::array();
  nlohmann::json cells_json = nlohmann::json::array();
  std::vector<WatermarkKey> keys;

  AttackContext context;
  context.data = attacker;
  context.arch = arch;
  context.make_model = [&] { return model_registry().create(arch, spec); };
  context.make_arch = [&](const std::string& a) { return model_registry().create(a, spec); };
  context.training = TrainerOptions().batch_size(training.batch_size()).device(device);
  context.seed = config.seed;
  context.data_dir = config.data_dir;
  Verifier verifier;

  for (const auto& generator : config.schemes) {
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
      torch::manual_seed(config.seed);
      model = model_registry().create(arch, spec);
      key = embed_scheme(generator, model, train_splits, training, config, info_for(arch));
      // force: a half-finished earlier run may have left one without the other.
      save_marked_model(key, key_path, *model, info_for(arch), model_path, /*force=*/true);
    }
    model->to(device);
    model->eval();
    const auto verification = verifier.verify_model(*model, key, generator, device);
    watermarked.push_back({{"generator", generator}, {"method", key.method},
                           {"test_accuracy", accuracy(*model, test, device)},
                           {"trigger_accuracy", verification.match_rate}, {"verified", verification.verified},
                           {"p_value", verification.p_value}, {"label_policy", key.params.value("label_policy", "")}});
    keys.push_back(key);
    step_done("watermarked model " + generator, cached, seconds_since(start));

    for (const auto& sweep : config.attacks) {
      for (const auto& value : sweep.values) {
        const auto name = cell_name(generator, sweep, value);
        const auto cell_path = run.out_dir / "cells" / (file_safe(name) + ".json");
        const auto cell_start = std::chrono::steady_clock::now();
        if (fs::exists(cell_path)) {
          cells_json.push_back(read_json(cell_path));
          step_done(name, true, 0);
          continue;
        }
        auto options = sweep.options;
        if (!sweep.vary.empty()) options[sweep.vary] = value;
        auto attack = attack_registry().create(sweep.attack, options);
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

  std::vector<std::string> key_names(config.schemes.begin(), config.schemes.end());
  report["watermarked"] = watermarked;
  report["cells"] = cells_json;
  report["false_positive"] = false_positive_study(clean_models, keys, key_names, verifier, device).to_json();

  // Charts: trigger and test accuracy against each numeric sweep.
  nlohmann::json charts = nlohmann::json::array();
  for (const auto& sweep : config.attacks) {
    if (sweep.vary.empty() || !sweep.values.front().is_number()) continue;
    std::vector<std::pair<std::string, std::vector<std::pair<double, double>>>> series;
    for (const auto& generator : config.schemes) {
      std::vector<std::pair<double, double>> trigger, test_acc;
      for (const auto& cell : cells_json) {
        if (cell["generator"] != generator || cell["attack"] != sweep.attack || cell["vary"] != sweep.vary) continue;
        const double x = cell["value"].get<double>();
        trigger.emplace_back(x, cell["verification_after"].is_null() ? 0.0
                                    : cell["verification_after"]["match_rate"].get<double>());
        if (cell["test_accuracy_after"].is_number()) test_acc.emplace_back(x, cell["test_accuracy_after"].get<double>());
      }
      series.emplace_back(generator + " mark acc", trigger);
      series.emplace_back(generator + " test acc", test_acc);
    }
    const auto file = "charts/" + file_safe(sweep.attack + "_" + sweep.vary) + ".svg";
    write_file_atomic(run.out_dir / file,
                      svg_line_chart(sweep.attack + ": accuracy vs " + sweep.vary, sweep.vary, series), true);
    charts.push_back(file);
  }
  report["charts"] = charts;
  write_file_atomic(run.out_dir / "report.json", report.dump(2) + "\n", true);
  write_file_atomic(run.out_dir / "report.md", evaluation_markdown(report), true);
  return report;
}

std::string evaluation_markdown(const nlohmann::json& report) {
  std::ostringstream md;
  auto pct = [](const nlohmann::json& v) {
    if (!v.is_number()) return std::string("-");
    std::ostringstream os;
    os << std::fixed << std::setprecision(2) << 100 * v.get<double>() << "%";
    return os.str();
  };
  auto p = [](double v) {
    std::ostringstream os;
    os << std::setprecision(2) << v;
    return os.str();
  };
  md << "# Watermark robustness: " << report.value("dataset", "") << ", " << report.value("arch", "") << "\n\n"
     << report.value("train_samples", 0) << " training samples, " << report.value("epochs", 0) << " epochs, "
     << report.value("trigger_size", 0) << " triggers per key; attacker holds " << report.value("attacker_samples", 0)
     << " test images, accuracy measured on the other " << report.value("test_samples", 0) << ".\n\n"
     << "## Watermarked models\n\nClean model test accuracy: " << pct(report["clean_test_accuracy"]) << "\n\n"
     << "Mark acc is the trigger (or key) match rate for black-box schemes and 1 - bit error rate for white-box ones.\n\n"
     << "| scheme | label policy | test acc | mark acc | verified (p-value) |\n|---|---|---|---|---|\n";
  for (const auto& w : report["watermarked"]) {
    md << "| " << w.value("generator", "") << " | " << w.value("label_policy", "") << " | " << pct(w["test_accuracy"])
       << " | " << pct(w["trigger_accuracy"]) << " | " << (w.value("verified", false) ? "yes" : "**no**") << " ("
       << p(w.value("p_value", 1.0)) << ") |\n";
  }
  // One table per attack (and varied option), rows = strength, per generator: test / trigger acc, decision.
  std::vector<std::pair<std::string, std::string>> groups;
  for (const auto& c : report["cells"]) {
    std::pair<std::string, std::string> g{c.value("attack", ""), c.value("vary", "")};
    if (std::find(groups.begin(), groups.end(), g) == groups.end()) groups.push_back(g);
  }
  for (const auto& [attack, vary] : groups) {
    md << "\n## Attack: " << attack << (vary.empty() ? "" : " (" + vary + ")") << "\n\n| "
       << (vary.empty() ? "run" : vary);
    for (const auto& w : report["watermarked"]) {
      md << " | " << w.value("generator", "") << ": test acc | mark acc | verified";
    }
    md << " |\n|---";
    for (size_t i = 0; i < report["watermarked"].size(); ++i) md << "|---|---|---";
    md << "|\n";
    std::vector<nlohmann::json> values;
    for (const auto& c : report["cells"]) {
      if (c.value("attack", "") == attack && c.value("vary", "") == vary &&
          std::find(values.begin(), values.end(), c["value"]) == values.end()) {
        values.push_back(c["value"]);
      }
    }
    for (const auto& v : values) {
      md << "| " << (v.is_null() ? std::string("-") : value_text(v));
      for (const auto& w : report["watermarked"]) {
        const nlohmann::json* cell = nullptr;
        for (const auto& c : report["cells"]) {
          if (c["generator"] == w["generator"] && c["attack"] == attack && c["vary"] == vary && c["value"] == v) {
            cell = &c;
          }
        }
        if (!cell) {
          md << " | - | - | -";
          continue;
        }
        const auto& after = (*cell)["verification_after"];
        if (after.is_null()) {  // inversion: no model; report what the images revealed
          md << " | - | revealed " << pct((*cell)["inversion"].value("revealed_rate", nlohmann::json())) << " | -";
        } else {
          md << " | " << pct((*cell)["test_accuracy_after"]) << " | " << pct(after["match_rate"]) << " | "
             << (after.value("verified", false) ? "yes" : "**no**") << " (" << p(after.value("p_value", 1.0)) << ")";
        }
      }
      md << " |\n";
    }
  }
  const auto& fp = report["false_positive"];
  md << "\n## False positives\n\n" << fp.value("checks", 0) << " verifications of clean models against every key: "
     << fp.value("false_claims", 0) << " false claims; highest match rate " << pct(fp["highest_match_rate"])
     << ", lowest p-value " << p(fp.value("lowest_p_value", 1.0)) << "."
     << (fp.value("not_applicable", 0) > 0
             ? " " + std::to_string(fp.value("not_applicable", 0)) +
                   " pairs of a white-box key and a model without its layer were not applicable."
             : std::string())
     << "\n";
  if (!report["charts"].empty()) {
    md << "\n## Charts\n\n";
    for (const auto& c : report["charts"]) md << "![" << c.get<std::string>() << "](" << c.get<std::string>() << ")\n";
  }
  return md.str();
}

std::string svg_line_chart(const std::string& title, const std::string& x_label,
                           const std::vector<std::pair<std::string, std::vector<std::pair<double, double>>>>& series) {
  constexpr double width = 640, height = 400, left = 60, right = 190, top = 40, bottom = 50;
  const double plot_w = width - left - right, plot_h = height - top - bottom;
  double x_min = 0, x_max = 1;
  bool first = true;
  for (const auto& s : series) {
    for (const auto& [x, y] : s.second) {
      x_min = first ? x : std::min(x_min, x);
      x_max = first ? x : std::max(x_max, x);
      first = false;
    }
  }
  if (x_max <= x_min) x_max = x_min + 1;
  auto sx = [&](double x) { return left + (x - x_min) / (x_max - x_min) * plot_w; };
  auto sy = [&](double y) { return top + (1 - std::clamp(y, 0.0, 1.0)) * plot_h; };
  auto escape = [](const std::string& text) {
    std::string out;
    for (char ch : text) {
      if (ch == '<') out += "&lt;";
      else if (ch == '>') out += "&gt;";
      else if (ch == '&') out += "&amp;";
      else out += ch;
    }
    return out;
  };
  static const char* colours[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"};
  std::ostringstream svg;
  svg << std::fixed << std::setprecision(1);
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
      << "\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      << "<text x=\"" << width / 2 << "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">" << escape(title)
      << "</text>\n";
  for (int i = 0; i <= 5; ++i) {  // y grid: 0%..100%
    const double y = sy(i / 5.0);
    svg << "<line x1=\"" << left << "\" y1=\"" << y << "\" x2=\"" << left + plot_w << "\" y2=\"" << y
        << "\" stroke=\"#ddd\"/><text x=\"" << left - 6 << "\" y=\"" << y + 4 << "\" text-anchor=\"end\">" << i * 20
        << "%</text>\n";
  }
  for (int i = 0; i <= 4; ++i) {  // x ticks
    const double xv = x_min + (x_max - x_min) * i / 4.0;
    std::ostringstream label;
    label << std::setprecision(3) << xv;
    svg << "<text x=\"" << sx(xv) << "\" y=\"" << top + plot_h + 18 << "\" text-anchor=\"middle\">" << label.str()
        << "</text>\n";
  }
  svg << "<rect x=\"" << left << "\" y=\"" << top << "\" width=\"" << plot_w << "\" height=\"" << plot_h
      << "\" fill=\"none\" stroke=\"#333\"/>\n<text x=\"" << left + plot_w / 2 << "\" y=\"" << height - 10
      << "\" text-anchor=\"middle\">" << escape(x_label) << "</text>\n";
  for (size_t i = 0; i < series.size(); ++i) {
    const auto& [name, points] = series[i];
    const char* colour = colours[(i / 2) % 6];
    const bool dashed = name.find("test") != std::string::npos;
    svg << "<polyline fill=\"none\" stroke=\"" << colour << "\" stroke-width=\"2\""
        << (dashed ? " stroke-dasharray=\"6 4\"" : "") << " points=\"";
    for (const auto& [x, y] : points) svg << sx(x) << "," << sy(y) << " ";
    svg << "\"/>\n";
    for (const auto& [x, y] : points) {
      svg << "<circle cx=\"" << sx(x) << "\" cy=\"" << sy(y) << "\" r=\"3\" fill=\"" << colour << "\"/>\n";
    }
    const double ly = top + 14 + 18.0 * static_cast<double>(i);
    svg << "<line x1=\"" << left + plot_w + 12 << "\" y1=\"" << ly << "\" x2=\"" << left + plot_w + 36 << "\" y2=\""
        << ly << "\" stroke=\"" << colour << "\" stroke-width=\"2\"" << (dashed ? " stroke-dasharray=\"6 4\"" : "")
        << "/><text x=\"" << left + plot_w + 40 << "\" y=\"" << ly + 4 << "\">" << escape(name) << "</text>\n";
  }
  svg << "</svg>\n";
  return svg.str();
}

}  // namespace wmark

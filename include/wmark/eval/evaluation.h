/// \file
/// `wmark evaluate`: a grid of watermark schemes x attacks x attack strengths on one
/// dataset, plus the false-positive study, written as JSON, a Markdown table in the
/// paper's style and SVG charts. Resumable: every finished model and cell is stored
/// in the output folder and not recomputed.
///
/// Config (JSON; every key optional except "attacks"):
/// \code{.json}
/// {"dataset": "mnist", "data_dir": null, "subset": 0, "arch": "", "epochs": 0, "seed": 1 (or "seeds": [1, 2, 3]),
///  "trigger_size": 100,
///  "schemes": ["content", "noise", "unrelated", "deepsigns-output", "deepsigns", "uchida",
///              {"name": "ewe-fc1", "scheme": "ewe", "options": {"layers": "fc1"}}],
///  "attacker_samples": 0,
///  "attacks": [{"attack": "prune", "vary": "rate", "values": [0.2, 0.5, 0.8],
///               "options": {"finetune_epochs": 0}},
///              {"attack": "finetune", "vary": "epochs", "values": [1, 5]}],
///  "false_positive": {"models": 2, "other_archs": ["resnet18"], "epochs": 0}}
/// \endcode
/// 0 / "" mean the dataset's recipe (default_recipe()); attacker_samples 0 = half the
/// test split, held out by the seed (the other half measures accuracy). A scheme is any
/// registered scheme (watermark/scheme.h) or a trigger generator's name standing for
/// the trigger-set scheme with that generator (resolve_scheme()), with its default
/// options and the config's trigger_size for every scheme that has that option; an
/// object is a named variant (EvaluationConfig::scheme_variants), its options checked
/// by the scheme's schema; "generators" is accepted as the older name of "schemes".
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "wmark/util/export.h"
#include "wmark/watermark/scheme_choice.h"

namespace wmark {

/// One attack of the grid and the strengths it is run at.
struct AttackSweep {
  std::string attack;                                  ///< registry name
  nlohmann::json options = nlohmann::json::object();   ///< fixed options
  std::string vary;                                    ///< the option varied ("" = one run)
  std::vector<nlohmann::json> values;                  ///< its values, in order
};

/// What to evaluate (see the file comment for the JSON form).
struct WMARK_API EvaluationConfig {
  std::string dataset = "mnist";                    ///< dataset name
  std::optional<std::filesystem::path> data_dir;    ///< dataset folder (default lookup if unset)
  std::int64_t subset = 0;                          ///< training samples (0 = all)
  std::string arch;                                 ///< architecture ("" = recipe)
  std::int64_t epochs = 0;                          ///< training epochs (0 = recipe)
  std::uint64_t seed = 1;                           ///< seed of everything
  /// Several seeds ("seeds": [1, 2, 3], instead of "seed"): one evaluation per seed,
  /// summarised over them (run_seed_evaluations(), seed_summary.h); empty = `seed` alone.
  std::vector<std::uint64_t> seeds;
  std::int64_t trigger_size = 100;                  ///< triggers (or output keys) per key
  std::vector<std::string> schemes{"content", "noise", "unrelated"};  ///< generators or schemes
  /// Named variants among `schemes`: a config entry {"name", "scheme", "options"} is a
  /// scheme (or generator) with other options under a name of its own, which names its
  /// model, key and cells (e.g. {"name": "ewe-fc1", "scheme": "ewe", "options":
  /// {"layers": "fc1"}} beside "ewe").
  std::map<std::string, SchemeChoice> scheme_variants;
  std::int64_t attacker_samples = 0;                ///< attacker's test samples (0 = half)
  std::vector<AttackSweep> attacks;                 ///< the attack grid
  std::int64_t clean_models = 2;                    ///< clean models of `arch` for false positives
  std::vector<std::string> other_archs;             ///< one clean model of each, too
  std::int64_t clean_epochs = 0;                    ///< their epochs (0 = `epochs`)

  /// Parses and checks a config; throws wmark::Error naming `source` and the bad key
  /// (unknown keys, wrong types, unknown schemes or attacks, an empty grid).
  static EvaluationConfig from_json(const nlohmann::json& json, const std::string& source = "config");
  /// Reads a JSON file and parses it with from_json().
  static EvaluationConfig load(const std::filesystem::path& path);
};

/// Progress of a long evaluation: which step, how many, and whether it was cached.
struct EvaluationProgress {
  std::int64_t done = 0;   ///< steps finished (models and cells)
  std::int64_t total = 0;  ///< steps in all
  std::string step;        ///< e.g. "content/prune/rate=0.5"
  bool cached = false;     ///< taken from the output folder, not recomputed
  double eta_seconds = 0;  ///< estimate from the steps computed so far
};

/// Options of run_evaluation().
struct EvaluationRun {
  std::filesystem::path out_dir;                                ///< results, models, keys, cells
  std::string device = "cpu";                                   ///< torch device name
  std::function<void(const EvaluationProgress&)> on_progress;   ///< called after every step
  /// This process's share of the grid: shard `shard` of `shards` (0-based) computes the
  /// schemes (each with all its cells, which share its marked model) and clean models
  /// whose position modulo `shards` is `shard`, into out_dir, and writes no report, only
  /// its part (out_dir/shard-I-of-N.json: marked models and cells, no clean models). The
  /// shards may run at once, on machines sharing out_dir; a run with shards = 1 over the
  /// folder afterwards finds everything cached and writes the one report.
  std::int64_t shard = 0;
  std::int64_t shards = 1;  ///< 1 = the whole grid and the report
};

/// Runs (or resumes) the evaluation and writes out_dir/report.json, report.md and
/// charts/*.svg; returns the report. Keys are written into out_dir/models (mode 0600).
/// The report covers the folder: the config's schemes and cells first, then every other
/// marked model (models/NAME.wmk with NAME.pt) and cell (cells/*.json) that earlier runs
/// of other configs left there, and the false-positive study checks all their keys; a
/// scheme that did not embed is recorded in models/NAME.not_embedded.json and reported
/// under "not_embedded" until a run embeds it.
/// With run.shards > 1, computes only its shard and returns {"shard", "shards", "schemes",
/// "clean_models"}: what it computed or found cached.
WMARK_API nlohmann::json run_evaluation(const EvaluationConfig& config, const EvaluationRun& run);

/// The Markdown rendering of a report returned by run_evaluation().
WMARK_API std::string evaluation_markdown(const nlohmann::json& report);

/// An SVG line chart: one polyline per series over numeric x values, y in [0, 1].
/// `series` maps a name to its [x, y] points; names containing "test" are dashed.
WMARK_API std::string svg_line_chart(const std::string& title, const std::string& x_label,
                                     const std::vector<std::pair<std::string, std::vector<std::pair<double, double>>>>& series);

}  // namespace wmark

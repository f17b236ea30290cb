// Internal: what the evaluation's config reader, grid and report writers share.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "wmark/eval/evaluation.h"
#include "wmark/watermark/scheme.h"

namespace wmark::evaluation {

/// A sweep value as text: a string as is, anything else as JSON.
inline std::string value_text(const nlohmann::json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

/// One value of a sweep as a cell's name after its scheme: "prune/rate=0.5", or the
/// attack alone when nothing is varied. Two cells of one scheme must not share it.
inline std::string sweep_cell(const AttackSweep& sweep, const nlohmann::json& value) {
  return sweep.vary.empty() ? sweep.attack : sweep.attack + "/" + sweep.vary + "=" + value_text(value);
}

/// A file name for a cell: its name with '/' and '=' made safe.
std::string file_safe(std::string name);

/// A config's scheme name with its options: a named variant's, or the scheme's defaults,
/// and the config's trigger_size for every scheme that has one (triggers, output keys)
/// unless the variant sets its own.
SchemeChoice scheme_choice(const EvaluationConfig& config, const std::string& name);

/// A JSON file, its nesting bounded; throws wmark::Error naming the file.
nlohmann::json read_json(const std::filesystem::path& path);

/// Appends to `cells` every cell file in `cells_dir` of a scheme in `schemes` whose cell
/// is not among them yet (in file name order): what earlier parts of a grid left.
void add_folder_cells(const std::filesystem::path& cells_dir, const std::vector<std::string>& schemes,
                      nlohmann::json& cells);

/// The part of the report a shard gives without the clean models: `setup` (the report's
/// setup fields and seed), this run's marked models and failures, and every cell the folder
/// holds for their schemes, written to out_dir/shard-I-of-N.json so that `wmark summarize`
/// reads a folder whose merge has not run. Schemes an earlier run of the same shard (another
/// config, same setup) reported stay in it.
void write_shard_report(const std::filesystem::path& out_dir, std::int64_t shard, std::int64_t shards,
                        nlohmann::json setup, const nlohmann::json& watermarked, const nlohmann::json& not_embedded);

/// Writes out_dir/charts/ATTACK_VARY.svg for every numeric sweep among `cells`: each
/// scheme's mark and test accuracy against the varied value. Returns the files written.
nlohmann::json write_report_charts(const nlohmann::json& cells, const std::vector<std::string>& schemes,
                                   const std::filesystem::path& out_dir);

}  // namespace wmark::evaluation

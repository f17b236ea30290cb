#include "wmark/eval/seed_summary.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <map>
#include <set>
#include <sstream>

#include "wmark/util/error.h"
#include "../util/text.h"
#include "evaluation_support.h"

namespace wmark {
namespace {

using json = nlohmann::json;

// The fields that make reports one setup: the seed is the only thing allowed to differ.
const char* const kSetup[] = {"dataset", "arch", "epochs", "train_samples", "test_samples", "trigger_size",
                              "attacker_samples"};

// "1, 2, 3" for the headline and the unchecked-seeds sentence alike.
std::string join_seeds(const json& seeds) {
  std::string joined;
  for (const auto& seed : seeds) joined += (joined.empty() ? "" : ", ") + seed.dump();
  return joined;
}

const json& member(const json& object, const char* name, const std::string& source) {
  WMARK_CHECK(object.is_object() && object.contains(name), source, " is not an evaluation report: it has no \"", name,
              "\"");
  return object.at(name);
}

double number(const json& value, const char* name, const std::string& source) {
  WMARK_CHECK(value.is_number(), source, ": \"", name, "\" is not a number");
  return value.get<double>();
}

// Values of one quantity over the seeds.
struct Values {
  std::vector<double> values;
  // Absent (null) and unmeasured (negative, as a cell without test accuracy records it)
  // are skipped; anything else but a number is a broken report, not a value to drop.
  void add(const json& value, const char* name, const std::string& source) {
    if (value.is_null()) return;
    WMARK_CHECK(value.is_number(), source, ": \"", name, "\" is not a number");
    if (value.get<double>() >= 0) values.push_back(value.get<double>());
  }
  json stats() const {
    if (values.empty()) return nullptr;
    double mean = 0;
    for (const double v : values) mean += v;
    mean /= static_cast<double>(values.size());
    json sd = nullptr;  // the sample standard deviation needs two values
    if (values.size() > 1) {
      double squares = 0;
      for (const double v : values) squares += (v - mean) * (v - mean);
      sd = std::sqrt(squares / static_cast<double>(values.size() - 1));
    }
    return {{"n", values.size()},
            {"mean", mean},
            {"sd", sd},
            {"min", *std::min_element(values.begin(), values.end())},
            {"max", *std::max_element(values.begin(), values.end())}};
  }
};

// One row of the summary (a scheme's marked model, or a cell) as the seeds gave it.
struct Row {
  std::string scheme, attack;
  std::int64_t seeds = 0, verified = 0, kept = 0, destroyed = 0;
  Values test_accuracy, mark_accuracy;
};

bool flag(const json& object, const char* name) {
  const auto it = object.find(name);
  return it != object.end() && it->is_boolean() && it->get<bool>();
}

// Rows by name, in the order first seen.
struct Rows {
  std::vector<std::string> order;
  std::map<std::string, Row> rows;
  Row& at(const std::string& name) {
    if (!rows.count(name)) order.push_back(name);
    return rows[name];
  }
};

void add_report(const json& report, const std::string& source, Rows& schemes, Rows& cells) {
  for (const auto& marked : member(report, "watermarked", source)) {
    WMARK_CHECK(marked.is_object() && marked.contains("generator") && marked["generator"].is_string(), source,
                ": a watermarked entry names no scheme (\"generator\")");
    auto& row = schemes.at(marked["generator"].get<std::string>());
    row.scheme = marked["generator"].get<std::string>();
    ++row.seeds;
    row.verified += flag(marked, "verified");
    row.test_accuracy.add(marked.value("test_accuracy", json()), "test_accuracy", source);
    row.mark_accuracy.add(marked.value("trigger_accuracy", json()), "trigger_accuracy", source);
  }
  for (const auto& cell : member(report, "cells", source)) {
    WMARK_CHECK(cell.is_object() && cell.contains("cell") && cell["cell"].is_string() && cell.contains("generator") &&
                    cell["generator"].is_string(),
                source, ": a cell has no \"cell\" name or no \"generator\"");
    auto& row = cells.at(cell["cell"].get<std::string>());
    row.scheme = cell["generator"].get<std::string>();
    row.attack = cell.value("attack", "");
    ++row.seeds;
    const auto verification = cell.value("verification_after", json::object());
    const bool verified = flag(verification, "verified");
    row.verified += verified;
    const auto kept = cell.find("kept_accuracy");
    if (kept != cell.end() && kept->is_boolean()) {
      row.kept += kept->get<bool>();
      row.destroyed += !verified && !kept->get<bool>();
    }
    row.test_accuracy.add(cell.value("test_accuracy_after", json()), "test_accuracy_after", source);
    row.mark_accuracy.add(verification.value("match_rate", json()), "match_rate", source);
  }
}

std::string percent(const json& stats, bool with_spread) {
  if (stats.is_null()) return "-";
  std::ostringstream os;
  os << std::fixed << std::setprecision(1) << 100 * stats["mean"].get<double>();
  if (with_spread && stats["sd"].is_number()) os << " ± " << 100 * stats["sd"].get<double>();
  return os.str();
}

}  // namespace

json summarize_seeds(const std::vector<json>& reports, const std::vector<std::string>& sources) {
  WMARK_CHECK(!reports.empty() && reports.size() == sources.size(), "summarize_seeds: give one source name per report, "
              "and at least one report");
  json summary = json::object();
  for (const char* field : kSetup) summary[field] = member(reports[0], field, sources[0]);
  std::set<std::int64_t> seen;
  json seeds = json::array();
  Rows schemes, cells;
  Values clean;
  json false_positive = {{"checks", 0}, {"false_claims", 0}, {"highest_match_rate", 0.0},
                         {"unchecked_seeds", json::array()}};
  for (std::size_t i = 0; i < reports.size(); ++i) {
    const auto& report = reports[i];
    const auto& source = sources[i];
    for (const char* field : kSetup)
      WMARK_CHECK(member(report, field, source) == summary[field], source, ": its \"", field, "\" (",
                  report[field].dump(), ") differs from ", sources[0], "'s (", summary[field].dump(),
                  "): summarise the seeds of one setup only");
    const auto seed = static_cast<std::int64_t>(number(member(report, "seed", source), "seed", source));
    WMARK_CHECK(seen.insert(seed).second, source, ": seed ", seed, " is already in another report; each seed once");
    seeds.push_back(seed);
    clean.add(member(report, "clean_test_accuracy", source), "clean_test_accuracy", source);
    add_report(report, source, schemes, cells);
    if (!report.contains("false_positive")) false_positive["unchecked_seeds"].push_back(seed);
    const auto fp = report.value("false_positive", json::object());
    false_positive["checks"] = false_positive["checks"].get<std::int64_t>() + fp.value("checks", 0);
    false_positive["false_claims"] = false_positive["false_claims"].get<std::int64_t>() + fp.value("false_claims", 0);
    false_positive["highest_match_rate"] =
        std::max(false_positive["highest_match_rate"].get<double>(), fp.value("highest_match_rate", 0.0));
  }
  summary["seeds"] = seeds;
  summary["clean_test_accuracy"] = clean.stats();
  summary["schemes"] = json::array();
  for (const auto& name : schemes.order) {
    const auto& row = schemes.rows[name];
    summary["schemes"].push_back({{"scheme", name},
                                  {"seeds", row.seeds},
                                  {"test_accuracy", row.test_accuracy.stats()},
                                  {"mark_accuracy", row.mark_accuracy.stats()},
                                  {"verified", row.verified}});
  }
  summary["cells"] = json::array();
  for (const auto& name : cells.order) {
    const auto& row = cells.rows[name];
    summary["cells"].push_back({{"cell", name},
                                {"scheme", row.scheme},
                                {"attack", row.attack},
                                {"seeds", row.seeds},
                                {"test_accuracy", row.test_accuracy.stats()},
                                {"mark_accuracy", row.mark_accuracy.stats()},
                                {"verified", row.verified},
                                {"kept_accuracy", row.kept},
                                {"destroyed", row.destroyed}});
  }
  summary["false_positive"] = false_positive;
  return summary;
}

json read_evaluation_report(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(path)) return evaluation::read_json(path);
  if (fs::exists(path / "report.json")) return evaluation::read_json(path / "report.json");
  std::vector<fs::path> parts;
  for (const auto& entry : fs::directory_iterator(path)) {
    const auto name = entry.path().filename().string();
    if (starts_with(name, "shard-") && ends_with(name, ".json")) parts.push_back(entry.path());
  }
  WMARK_CHECK(!parts.empty(), path.string(), " holds no report.json and no shard-I-of-N.json: not an evaluation "
              "folder, or one whose run has not finished a shard");
  std::sort(parts.begin(), parts.end());
  std::vector<json> documents;
  for (const auto& part_path : parts) documents.push_back(evaluation::read_json(part_path));
  const auto& first = documents.front();
  json merged = {{"seed", member(first, "seed", parts.front().string())}};
  for (const char* field : kSetup) merged[field] = member(first, field, parts.front().string());
  for (std::size_t i = 1; i < parts.size(); ++i) {
    for (const auto& [field, value] : merged.items())
      WMARK_CHECK(member(documents[i], field.c_str(), parts[i].string()) == value, parts[i].string(), ": its \"", field,
                  "\" differs from ", parts.front().string(), "'s: shards of two evaluations in one folder");
  }
  merged["clean_test_accuracy"] = nullptr;  // the clean models are the merge's
  // Each scheme's entries and each cell once, as the first part to hold them gives them.
  for (const std::string list : {"watermarked", "not_embedded", "cells"}) {
    const char* name_field = list == "cells" ? "cell" : "generator";
    std::set<std::string> seen;
    merged[list] = json::array();
    for (std::size_t i = 0; i < parts.size(); ++i) {
      const auto& entries = member(documents[i], list.c_str(), parts[i].string());
      WMARK_CHECK(entries.is_array(), parts[i].string(), ": \"", list, "\" is not a list");
      for (const auto& entry : entries) {
        WMARK_CHECK(entry.is_object() && entry.contains(name_field) && entry[name_field].is_string(), parts[i].string(),
                    ": an entry of \"", list, "\" has no \"", name_field, "\"");
        if (seen.insert(entry[name_field].get<std::string>()).second) merged[list].push_back(entry);
      }
    }
  }
  return merged;
}

std::string seed_summary_markdown(const json& summary) {
  std::ostringstream md;
  const auto seed_count = summary.at("seeds").size();
  md << "# Over " << seed_count << (seed_count == 1 ? " seed (" : " seeds (") << join_seeds(summary.at("seeds")) << "): "
     << summary.value("dataset", "") << ", " << summary.value("arch", "") << "\n\n"
     << summary.value("train_samples", 0) << " training samples, " << summary.value("epochs", 0) << " epochs, "
     << summary.value("trigger_size", 0) << " triggers per key, the attacker holds " << summary.value("attacker_samples", 0)
     << " samples. "
     << (summary.at("clean_test_accuracy").is_null()
             ? std::string("No clean model in these folders (computed in shards, not merged).")
             : "Clean test accuracy " + percent(summary.at("clean_test_accuracy"), true) + "%.")
     << "\n\n"
     << "Cells: test accuracy / mark accuracy, in percent, mean ± sample standard deviation over the seeds, and "
        "in how many seeds the owner's claim verified; \"destroyed\": seeds in which the mark was lost only at a "
        "cost of more than 5 points of test accuracy.\n\n";
  std::vector<std::string> schemes;
  for (const auto& scheme : summary.at("schemes")) schemes.push_back(scheme.at("scheme").get<std::string>());
  for (const auto& cell : summary.at("cells"))
    if (std::find(schemes.begin(), schemes.end(), cell.at("scheme")) == schemes.end())
      schemes.push_back(cell.at("scheme").get<std::string>());
  auto entry = [](const json& row) {
    std::ostringstream os;
    os << percent(row.at("test_accuracy"), true) << " / " << percent(row.at("mark_accuracy"), true) << " / "
       << row.at("verified").get<std::int64_t>() << " of " << row.at("seeds").get<std::int64_t>();
    if (row.value("destroyed", 0) > 0) os << ", destroyed in " << row.at("destroyed").get<std::int64_t>();
    return os.str();
  };
  md << "|";
  for (const auto& scheme : schemes) md << " | " << scheme;
  md << " |\n|---";
  for (std::size_t i = 0; i < schemes.size(); ++i) md << "|---";
  md << "|\n| marked model";
  for (const auto& scheme : schemes) {
    std::string text = "-";
    for (const auto& row : summary.at("schemes"))
      if (row.at("scheme") == scheme) text = entry(row);
    md << " | " << text;
  }
  md << " |\n";
  // One row per attack and strength, the cell's name without its scheme.
  std::vector<std::string> attacks;
  std::map<std::pair<std::string, std::string>, std::string> texts;
  for (const auto& row : summary.at("cells")) {
    const auto scheme = row.at("scheme").get<std::string>();
    const auto name = row.at("cell").get<std::string>();
    const auto attack = starts_with(name, scheme + "/") ? name.substr(scheme.size() + 1) : name;
    if (std::find(attacks.begin(), attacks.end(), attack) == attacks.end()) attacks.push_back(attack);
    texts[{attack, scheme}] = entry(row);
  }
  for (const auto& attack : attacks) {
    md << "| " << attack;
    for (const auto& scheme : schemes) {
      const auto it = texts.find({attack, scheme});
      md << " | " << (it == texts.end() ? "-" : it->second);
    }
    md << " |\n";
  }
  const auto& fp = summary.at("false_positive");
  const auto unchecked = fp.value("unchecked_seeds", json::array());
  md << "\nFalse positives: ";
  if (unchecked.size() < summary.at("seeds").size())
    md << fp.value("false_claims", 0) << " claims in " << fp.value("checks", 0)
       << " checks of clean models against the keys (highest match rate " << std::fixed << std::setprecision(1)
       << 100 * fp.value("highest_match_rate", 0.0) << "%)" << (unchecked.empty() ? "" : "; ");
  if (!unchecked.empty()) {
    md << "not checked for seed" << (unchecked.size() > 1 ? "s " : " ") << join_seeds(unchecked)
       << ", run in shards whose clean models are not in the folder (merge with `wmark evaluate` to check)";
  }
  md << ".\n";
  return md.str();
}

}  // namespace wmark

// EvaluationConfig: the evaluation's JSON config, read and checked before any work.
#include "wmark/eval/evaluation.h"

#include <algorithm>
#include <cctype>
#include <map>

#include "../util/json_options.h"
#include "evaluation_support.h"
#include "wmark/attack/attack.h"
#include "wmark/data/catalog.h"
#include "wmark/models/registry.h"
#include "wmark/util/error.h"
#include "wmark/util/files.h"
#include "wmark/util/json_limits.h"
#include "wmark/watermark/trigger/trigger_generator.h"
#include "../util/text.h"

namespace fs = std::filesystem;

namespace wmark {
namespace evaluation {

std::string file_safe(std::string name) {
  for (auto& ch : name) {
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '.' && ch != '-' && ch != '_') ch = '_';
  }
  return name;
}

SchemeChoice scheme_choice(const EvaluationConfig& config, const std::string& name) {
  const auto variant = config.scheme_variants.find(name);
  auto choice = variant != config.scheme_variants.end() ? variant->second : resolve_scheme(name);
  if (!choice.options.contains("trigger_size") &&
      scheme_registry().create(choice.scheme, choice.options)->schema().find("trigger_size"))
    choice.options["trigger_size"] = config.trigger_size;
  return choice;
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

}  // namespace evaluation

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

// A config's named variant {"name", "scheme", "options"}: its name and the scheme with
// those options over its defaults. `where` names the entry in errors.
std::pair<std::string, SchemeChoice> read_scheme_variant(const nlohmann::json& entry, const std::string& where) {
  WMARK_CHECK(entry.is_object(), where, " must be a name or {\"name\", \"scheme\", \"options\"}");
  check_option_keys(entry, where, {"name", "scheme", "options"});
  const auto name = get<std::string>(entry, "name", "", where);
  WMARK_CHECK(!name.empty() && name.size() <= 64 && name == evaluation::file_safe(name) && name.front() != '.', where,
              ": 'name' must be 1 to 64 letters, digits, '-', '_' or '.' (it names files)");
  WMARK_CHECK(!scheme_registry().contains(name) && !trigger_registry().contains(name), where, ": '", name,
              "' is a scheme's own name; a variant needs a name of its own");
  // The folder's clean models are models/clean_*.pt: a variant must not name its model over them.
  WMARK_CHECK(!starts_with(name, "clean_"), where, ": '", name, "' starts with 'clean_', the folder's clean models' prefix");
  WMARK_CHECK(entry.contains("options") && entry.at("options").is_object(), where,
              ": 'options' must be an object (a variant without options is the scheme itself)");
  SchemeChoice choice;
  try {
    choice = resolve_scheme(get<std::string>(entry, "scheme", "", where));
  } catch (const Error& error) {
    WMARK_FAIL(where, ": ", error.what());
  }
  choice.options.update(entry.at("options"));
  return {name, std::move(choice)};
}

}  // namespace

using evaluation::read_json;
using evaluation::scheme_choice;

EvaluationConfig EvaluationConfig::from_json(const nlohmann::json& j, const std::string& source) {
  WMARK_CHECK(j.is_object(), source, ": an evaluation config must be a JSON object");
  check_option_keys(j, source, {"dataset", "data_dir", "subset", "arch", "epochs", "seed", "seeds", "trigger_size",
                                "schemes", "generators", "attacker_samples", "attacks", "false_positive"});
  EvaluationConfig c;
  c.dataset = canonical_dataset_name(get<std::string>(j, "dataset", c.dataset, source));
  if (j.contains("data_dir") && !j.at("data_dir").is_null()) c.data_dir = get<std::string>(j, "data_dir", "", source);
  c.subset = get<std::int64_t>(j, "subset", c.subset, source);
  c.arch = get<std::string>(j, "arch", c.arch, source);
  c.epochs = get<std::int64_t>(j, "epochs", c.epochs, source);
  c.seed = get<std::uint64_t>(j, "seed", c.seed, source);
  WMARK_CHECK(!(j.contains("seed") && j.contains("seeds")), source, ": give 'seed' or 'seeds', not both");
  c.seeds = get<std::vector<std::uint64_t>>(j, "seeds", c.seeds, source);
  if (j.contains("seeds")) {
    auto sorted = c.seeds;
    std::sort(sorted.begin(), sorted.end());
    WMARK_CHECK(!sorted.empty() && std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end(), source,
                ": 'seeds' must be a non-empty list of distinct seeds");
    c.seed = c.seeds.front();
  }
  c.trigger_size = get<std::int64_t>(j, "trigger_size", c.trigger_size, source);
  WMARK_CHECK(!(j.contains("schemes") && j.contains("generators")), source,
              ": give 'schemes' or its older name 'generators', not both");
  const char* schemes_key = j.contains("generators") ? "generators" : "schemes";
  if (j.contains(schemes_key)) {
    WMARK_CHECK(j.at(schemes_key).is_array(), source, ": '", schemes_key,
                "' must be an array of names or {\"name\", \"scheme\", \"options\"}");
    c.schemes.clear();
    for (const auto& entry : j.at(schemes_key)) {
      if (entry.is_string()) {
        c.schemes.push_back(entry.get<std::string>());
        continue;
      }
      const auto where = source + ": '" + schemes_key + "'[" + std::to_string(c.schemes.size()) + "]";
      auto [name, choice] = read_scheme_variant(entry, where);
      c.scheme_variants[name] = std::move(choice);
      c.schemes.push_back(name);
    }
  }
  {
    auto sorted = c.schemes;
    std::sort(sorted.begin(), sorted.end());
    const auto twice = std::adjacent_find(sorted.begin(), sorted.end());
    WMARK_CHECK(twice == sorted.end(), source, ": '", schemes_key, "' names '", twice == sorted.end() ? "" : *twice,
                "' twice");
  }
  c.attacker_samples = get<std::int64_t>(j, "attacker_samples", c.attacker_samples, source);
  WMARK_CHECK(c.subset >= 0 && c.epochs >= 0 && c.attacker_samples >= 0, source,
              ": subset, epochs and attacker_samples must not be negative");
  WMARK_CHECK(c.trigger_size >= 1, source, ": trigger_size must be at least 1");
  WMARK_CHECK(!c.schemes.empty(), source, ": '", schemes_key, "' is empty");
  for (const auto& scheme : c.schemes) {
    try {
      const auto choice = scheme_choice(c, scheme);  // refuses unknown names, listing the known
      scheme_registry().create(choice.scheme, choice.options);
    } catch (const Error& error) {
      WMARK_FAIL(source, ": '", schemes_key, "': ", error.what());
    }
  }
  if (!c.arch.empty()) WMARK_CHECK(model_registry().contains(c.arch), source, ": unknown arch '", c.arch, "'");

  WMARK_CHECK(j.contains("attacks") && j.at("attacks").is_array() && !j.at("attacks").empty(), source,
              ": 'attacks' must be a non-empty array of {\"attack\", \"options\", \"vary\", \"values\"}");
  std::map<std::string, std::size_t> cells;  // a cell's name (its result file) -> the entry making it
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
      // Two entries making one cell name would share one result: the second never run.
      const auto name = evaluation::sweep_cell(sweep, v);
      const auto [first, fresh] = cells.emplace(name, c.attacks.size());
      WMARK_CHECK(fresh, where, ": makes the cell '", name, "' that attacks[", first->second,
                  "] makes too; set \"vary\" to an option that tells them apart");
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

}  // namespace wmark

// The evaluation's report: Markdown tables in the paper's style and SVG line charts.
#include "wmark/eval/evaluation.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <set>
#include <sstream>
#include <vector>

#include "evaluation_support.h"
#include "wmark/eval/attack_report.h"
#include "wmark/util/error.h"
#include "wmark/util/files.h"

namespace wmark {

using evaluation::value_text;

namespace {

// The null-model fits, per key, that have no spread (NullModelThreshold::no_spread).
nlohmann::json flat_null_models(const nlohmann::json& report) {
  auto flat = nlohmann::json::object();
  const auto fits = report.value("false_positive", nlohmann::json::object()).value("null_model", nlohmann::json::object());
  for (const auto& [key, fit] : fits.items()) {
    if (fit.value("no_spread", false)) flat[key] = fit;
  }
  return flat;
}

// The null-model rule's decision for a watermarked model or cell: yes, no, or - (no fit);
// ‡ where the fit has no spread.
std::string null_model_text(const nlohmann::json& entry, const nlohmann::json& flat) {
  const auto it = entry.find("null_model_verified");
  if (it == entry.end() || !it->is_boolean()) return "-";
  return std::string(it->get<bool>() ? "yes" : "no") + (flat.contains(entry.value("generator", "")) ? "‡" : "");
}

}  // namespace

std::string evaluation_markdown(const nlohmann::json& report) {
  std::ostringstream md;
  const auto flat = flat_null_models(report);
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
  auto relative_text = [](const nlohmann::json& v) {
    if (!v.is_number()) return std::string("-");
    std::ostringstream os;
    os << std::setprecision(2) << v.get<double>();
    return os.str();
  };
  md << "# Watermark robustness: " << report.value("dataset", "") << ", " << report.value("arch", "") << "\n\n"
     << report.value("train_samples", 0) << " training samples, " << report.value("epochs", 0) << " epochs, "
     << report.value("trigger_size", 0) << " triggers per key; attacker holds " << report.value("attacker_samples", 0)
     << " test images, accuracy measured on the other " << report.value("test_samples", 0) << ".\n\n"
     << "## Watermarked models\n\nClean model test accuracy: " << pct(report["clean_test_accuracy"]) << "\n\n"
     << "Mark acc is the trigger (or key) match rate for black-box schemes and 1 - bit error rate for white-box ones.\n\n"
     << "Verified: wmark's binomial test (p-value); NM: the toolbox's null-model rule (match rate above the 95% "
        "quantile of a Gaussian fitted to the clean models' match rates).\n\n"
     << "| scheme | label policy | test acc | mark acc | verified (p-value) | NM |\n|---|---|---|---|---|---|\n";
  for (const auto& w : report["watermarked"]) {
    md << "| " << w.value("generator", "") << " | " << w.value("label_policy", "") << " | " << pct(w["test_accuracy"])
       << " | " << pct(w["trigger_accuracy"]) << " | " << (w.value("verified", false) ? "yes" : "**no**") << " ("
       << p(w.value("p_value", 1.0)) << ") | " << null_model_text(w, flat) << " |\n";
  }
  for (const auto& [key, fit] : flat.items()) {
    md << "\n‡ NM for **" << key << "** has no spread: its " << fit.value("models", 0)
       << " clean models all matched " << pct(fit["mean"])
       << ", so the fitted threshold is that rate and the rule calls any model above it the owner's; "
          "its NM answers are no evidence (the binomial test does not rest on a fit).\n";
  }
  for (const auto& w : report["watermarked"]) {
    if (!w.contains("certified_radius")) continue;
    if (w.value("certified_radius", 0.0) <= 0) {
      md << "\n**" << w.value("generator", "") << "** is not certified: its smoothed reading (parameter noise sigma "
         << p(w.value("smoothing_sigma", 0.0)) << ") does not verify, so its radius is 0.\n";
      continue;
    }
    md << "\n**" << w.value("generator", "") << "** is certified (parameter noise sigma " << p(w.value("smoothing_sigma", 0.0))
       << "): l2 radius " << p(w.value("certified_radius", 0.0)) << ", " << p(w.value("relative_certified_radius", 0.0))
       << " of the weight norm. No change of the weights within it brings the smoothed reading (`wmark certify`) "
          "below the threshold; an attack \"moved\" less is marked ≤r below.\n";
  }
  for (const auto& f : report.value("not_embedded", nlohmann::json::array())) {
    md << "\n**" << f.value("generator", "") << " did not embed**, so it is in no table below: "
       << f.value("error", "") << "\n";
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
      md << " | " << w.value("generator", "") << ": test acc | mark acc | verified | NM | moved";
    }
    md << " |\n|---";
    for (size_t i = 0; i < report["watermarked"].size(); ++i) md << "|---|---|---|---|---";
    md << "|\n";
    bool destroyed = false;  // a removal that cost more than the accuracy budget
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
          md << " | - | - | - | - | -";
          continue;
        }
        const auto& after = (*cell)["verification_after"];
        if (after.is_null()) {  // inversion: no model; report what the images revealed
          md << " | - | revealed " << pct((*cell)["inversion"].value("revealed_rate", nlohmann::json())) << " | - | - | -";
        } else {
          const bool verified = after.value("verified", false);
          const bool kept = cell->value("kept_accuracy", nlohmann::json(true)).get<bool>();
          destroyed = destroyed || (!verified && !kept);
          md << " | " << pct((*cell)["test_accuracy_after"]) << " | " << pct(after["match_rate"]) << " | "
             << (verified ? "yes" : kept ? "**no**" : "no†") << " (" << p(after.value("p_value", 1.0)) << ") | "
             << null_model_text(*cell, flat) << " | " << relative_text(cell->value("relative_weight_distance", nlohmann::json()));
          const auto moved = cell->value("relative_weight_distance", nlohmann::json());
          const double radius = w.value("relative_certified_radius", 0.0);
          if (moved.is_number() && radius > 0 && moved.get<double>() <= radius) {
            md << " ≤r";
          }
        }
      }
      md << " |\n";
    }
    if (destroyed) {
      md << "\n† not verified, but the attack cost more than " << 100 * kRemovalAccuracyBudget
         << " points of test accuracy: the model was destroyed rather than the mark removed.\n";
    }
  }
  md << "\n\"moved\": the l2 distance the attack moved the weights, relative to the victim's weight norm "
        "(- for a model of another architecture).\n";
  const auto& fp = report["false_positive"];
  md << "\n## False positives\n\n" << fp.value("checks", 0) << " verifications of clean models against every key: "
     << fp.value("false_claims", 0) << " false claims; highest match rate " << pct(fp["highest_match_rate"])
     << ", lowest p-value " << p(fp.value("lowest_p_value", 1.0)) << "."
     << (fp.value("not_applicable", 0) > 0
             ? " " + std::to_string(fp.value("not_applicable", 0)) +
                   " pairs of a white-box key and a model without its layer were not applicable."
             : std::string())
     << "\n";
  if (fp.value("null_model_checks", 0) > 0) {
    md << "\nThe null-model rule, fitted to all clean models but one, claimed the one left out "
       << fp.value("null_model_false_claims", 0) << " times in " << fp.value("null_model_checks", 0) << ".\n";
  }
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

namespace evaluation {

void add_folder_cells(const std::filesystem::path& cells_dir, const std::vector<std::string>& schemes,
                      nlohmann::json& cells) {
  std::set<std::string> reported;
  for (const auto& cell : cells) reported.insert(cell.value("cell", ""));
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(cells_dir))
    if (entry.path().extension() == ".json") files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  for (const auto& path : files) {
    auto cell = read_json(path);
    WMARK_CHECK(cell.is_object() && cell.contains("cell") && cell["cell"].is_string() && cell.contains("generator"),
                path.string(), " is not a cell of an evaluation (no 'cell' or 'generator')");
    const bool known = std::find(schemes.begin(), schemes.end(), cell["generator"]) != schemes.end();
    if (known && reported.insert(cell["cell"].get<std::string>()).second) cells.push_back(std::move(cell));
  }
}

void write_shard_report(const std::filesystem::path& out_dir, std::int64_t shard, std::int64_t shards,
                        nlohmann::json setup, const nlohmann::json& watermarked, const nlohmann::json& not_embedded) {
  const auto path = out_dir / ("shard-" + std::to_string(shard) + "-of-" + std::to_string(shards) + ".json");
  setup["clean_test_accuracy"] = nullptr;  // the clean models are the merge's
  auto marked = watermarked;
  auto failed = not_embedded;
  std::vector<std::string> schemes;
  for (const auto& entry : marked) schemes.push_back(entry["generator"].get<std::string>());
  for (const auto& entry : failed) schemes.push_back(entry["generator"].get<std::string>());
  if (std::filesystem::exists(path)) {
    // An earlier run of this shard with another config: its other schemes stay reported,
    // unless its setup differs (then it described models this folder no longer holds).
    const auto earlier = read_json(path);
    bool same_setup = earlier.is_object();
    for (const auto& [field, value] : setup.items())
      same_setup = same_setup && earlier.value(field, nlohmann::json()) == value;
    const auto keep = [&](const char* list, nlohmann::json& into) {
      for (const auto& entry : earlier.value(list, nlohmann::json::array())) {
        if (!entry.is_object() || !entry.contains("generator") || !entry["generator"].is_string()) continue;
        const auto name = entry["generator"].get<std::string>();
        if (std::find(schemes.begin(), schemes.end(), name) != schemes.end()) continue;
        schemes.push_back(name);
        into.push_back(entry);
      }
    };
    if (same_setup) {
      keep("watermarked", marked);
      keep("not_embedded", failed);
    }
  }
  auto cells = nlohmann::json::array();
  add_folder_cells(out_dir / "cells", schemes, cells);
  auto part = std::move(setup);
  part["shard"] = shard;
  part["shards"] = shards;
  part["watermarked"] = marked;
  part["not_embedded"] = failed;
  part["cells"] = cells;
  write_file_atomic(path, part.dump(2) + "\n", /*force=*/true);
}

nlohmann::json write_report_charts(const nlohmann::json& cells, const std::vector<std::string>& schemes,
                                   const std::filesystem::path& out_dir) {
  std::vector<std::pair<std::string, std::string>> sweeps;  // (attack, vary), first seen first
  for (const auto& cell : cells) {
    if (!cell["vary"].is_string() || cell["vary"].get<std::string>().empty() || !cell["value"].is_number()) continue;
    std::pair<std::string, std::string> sweep{cell["attack"].get<std::string>(), cell["vary"].get<std::string>()};
    if (std::find(sweeps.begin(), sweeps.end(), sweep) == sweeps.end()) sweeps.push_back(sweep);
  }
  nlohmann::json charts = nlohmann::json::array();
  for (const auto& [attack, vary] : sweeps) {
    std::vector<std::pair<std::string, std::vector<std::pair<double, double>>>> series;
    for (const auto& scheme : schemes) {
      std::vector<std::pair<double, double>> mark, test;
      for (const auto& cell : cells) {
        if (cell["generator"] != scheme || cell["attack"] != attack || cell["vary"] != vary || !cell["value"].is_number())
          continue;
        const double x = cell["value"].get<double>();
        const auto& after = cell["verification_after"];
        mark.emplace_back(x, after.is_null() ? 0.0 : after["match_rate"].get<double>());
        if (cell["test_accuracy_after"].is_number()) test.emplace_back(x, cell["test_accuracy_after"].get<double>());
      }
      series.emplace_back(scheme + " mark acc", mark);
      series.emplace_back(scheme + " test acc", test);
    }
    const auto file = "charts/" + file_safe(attack + "_" + vary) + ".svg";
    write_file_atomic(out_dir / file, svg_line_chart(attack + ": accuracy vs " + vary, vary, series), true);
    charts.push_back(file);
  }
  return charts;
}

}  // namespace evaluation

}  // namespace wmark

/// \file
/// One evaluation over several seeds. `wmark evaluate` runs one seed per folder (its config's
/// "seed": every model, trigger set, attacker split and attack draws from it); a decision
/// seen in one seed can be luck of that seed, so results are reported as the mean and
/// spread over at least three. summarize_seeds() takes the report.json of each folder, checks
/// that they are one setup, and gives per scheme and per cell the mean, sample standard
/// deviation and range of test accuracy and mark accuracy, with in how many seeds the
/// owner's claim verified and the attack stayed within the toolbox's 5 points of accuracy.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "wmark/eval/evaluation.h"
#include "wmark/util/export.h"

namespace wmark {

/// Summarises `reports` (report.json documents of run_evaluation(), one per seed;
/// `sources` names each, for errors). A cell (scheme/attack/strength) or scheme in only
/// some reports is summarised over those, its seed count saying so. Returns
/// {"seeds", the setup ("dataset", "arch", "epochs", "train_samples", "test_samples",
/// "trigger_size", "attacker_samples"), "clean_test_accuracy": stats, "schemes": [{"scheme",
/// "seeds", "test_accuracy", "mark_accuracy", "verified"}], "cells": [{"cell", "scheme",
/// "attack", "seeds", "test_accuracy", "mark_accuracy", "verified", "kept_accuracy",
/// "destroyed"}], "false_positive": {"checks", "false_claims", "highest_match_rate",
/// "unchecked_seeds": the seeds whose report has no false-positive study}}, where stats are
/// {"n", "mean", "sd" (null for one value), "min", "max"} (null when no report has the
/// value). Throws wmark::Error naming the source for a report that is not one, one of
/// another setup, or a repeated seed.
WMARK_API nlohmann::json summarize_seeds(const std::vector<nlohmann::json>& reports,
                                         const std::vector<std::string>& sources);

/// The report of one evaluation for summarize_seeds(): `path` is a report file, read as
/// is, or an evaluation folder: its report.json, or, when the folder was only computed in
/// shards (no merge yet), its shard-I-of-N.json parts merged (every marked model and cell
/// they hold; "clean_test_accuracy" null and no "false_positive", since the clean models
/// are the merge's). Throws wmark::Error naming the path when it holds neither, or parts of
/// two setups.
WMARK_API nlohmann::json read_evaluation_report(const std::filesystem::path& path);

/// Runs (or resumes) run_evaluation() once per seed of `config.seeds` (or its one `seed`),
/// each into run.out_dir/seed-N, then summarises them into run.out_dir/summary.json and
/// summary.md and returns the summary. Under run.shards > 1 each seed computes only its
/// shard and nothing is summarised: returns {"shard", "shards", "seeds": [the shards'
/// results]}. Throws what run_evaluation() or summarize_seeds() throw.
WMARK_API nlohmann::json run_seed_evaluations(const EvaluationConfig& config, const EvaluationRun& run);

/// The Markdown rendering of a summarize_seeds() result: one table of cells (rows) by
/// schemes (columns), each "test accuracy ± sd / mark accuracy ± sd / verified k of n".
WMARK_API std::string seed_summary_markdown(const nlohmann::json& summary);

}  // namespace wmark

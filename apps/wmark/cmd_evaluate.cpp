// wmark evaluate: the robustness grid (generators x attacks x strengths) and the
// false-positive study from a JSON config; resumable. Exit 0 when the evaluation ran
// and no clean model was claimed, 1 if a clean model was claimed, 2 on an error.
// wmark summarize: one table, mean and spread, over the folders of several seeds.
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <tuple>

#include <unistd.h>

#include "commands.h"
#include "wmark/claim/claim.h"
#include "wmark/eval/evaluation.h"
#include "wmark/eval/seed_summary.h"
#include "wmark/util/files.h"
#include "wmark/util/error.h"

namespace wmark::cli {
namespace {

struct EvaluateCommand {
  std::string config, out_dir, device = "cpu", shard;
  int threads = 0;
};

// "I/N" (0 <= I < N); without it, torchrun's RANK and WORLD_SIZE when it set them.
std::pair<std::int64_t, std::int64_t> parse_shard(const std::string& text) {
  std::string spec = text;
  if (spec.empty()) {
    const char* rank = std::getenv("RANK");
    const char* world = std::getenv("WORLD_SIZE");
    if (!rank || !world) return {0, 1};
    spec = std::string(rank) + "/" + world;
  }
  std::int64_t shard = -1, shards = 0;
  char slash = 0, extra = 0;
  std::istringstream in(spec);
  const bool ok = static_cast<bool>(in >> shard >> slash >> shards) && slash == '/' && !(in >> extra);
  WMARK_CHECK(ok && shards >= 1 && shard >= 0 && shard < shards, "--shard must be I/N with 0 <= I < N (from "
              "torchrun: RANK/WORLD_SIZE), got '", spec, "'");
  return {shard, shards};
}

int run_evaluate(const EvaluateCommand& c) {
  const auto config = EvaluationConfig::load(c.config);  // a bad config fails before any work
  setup_runtime(c.threads);
  parse_device(c.device);
  EvaluationRun run;
  run.out_dir = c.out_dir;
  run.device = c.device;
  std::tie(run.shard, run.shards) = parse_shard(c.shard);
  if (isatty(STDERR_FILENO)) {
    run.on_progress = [](const EvaluationProgress& p) {
      std::fprintf(stderr, "[%lld/%lld] %s%s, ETA %.0f min\n", (long long)p.done, (long long)p.total, p.step.c_str(),
                   p.cached ? " (cached)" : "", p.eta_seconds / 60);
    };
  }
  if (!config.seeds.empty()) {  // one folder per seed, and the summary over them
    const auto summary = run_seed_evaluations(config, run);
    if (run.shards > 1) {
      std::cout << "shard " << run.shard << "/" << run.shards << " of every seed written to " << c.out_dir
                << "\nrun wmark evaluate without --shard on the folder to merge and summarise\n";
      return 0;
    }
    std::cout << seed_summary_markdown(summary) << "\nwritten: " << c.out_dir
              << "/seed-N/ (one evaluation per seed), summary.json, summary.md\n";
    return summary["false_positive"].value("false_claims", 0) == 0 ? 0 : 1;
  }
  const auto report = run_evaluation(config, run);
  if (run.shards > 1) {
    std::cout << "shard " << run.shard << "/" << run.shards << " written to " << c.out_dir << ": " << report.dump()
              << "\nrun wmark evaluate without --shard on the folder to merge the report\n";
    return 0;
  }
  std::cout << evaluation_markdown(report) << "\nwritten: " << c.out_dir << "/report.json, report.md, charts/\n";
  return report["false_positive"].value("false_claims", 0) == 0 ? 0 : 1;
}

struct SummarizeCommand {
  std::vector<std::string> reports;
  std::string json_out, markdown_out;
  bool force = false;
};

// One evaluation folder per seed (or its report.json) in, one table over the seeds out.
int run_summarize(const SummarizeCommand& c) {
  if (!c.json_out.empty()) check_writable(c.json_out, c.force);
  if (!c.markdown_out.empty()) check_writable(c.markdown_out, c.force);
  std::vector<nlohmann::json> reports;
  std::vector<std::string> sources;
  for (const auto& given : c.reports) {
    reports.push_back(read_evaluation_report(given));
    sources.push_back(given);
  }
  const auto summary = summarize_seeds(reports, sources);
  const auto markdown = seed_summary_markdown(summary);
  if (!c.json_out.empty()) write_file_atomic(c.json_out, summary.dump(2) + "\n", c.force);
  if (!c.markdown_out.empty()) write_file_atomic(c.markdown_out, markdown, c.force);
  std::cout << markdown;
  return 0;
}

}  // namespace

void add_evaluate_command(CLI::App& app, Dispatch& dispatch) {
  auto c = std::make_shared<EvaluateCommand>();
  auto* sub = app.add_subcommand("evaluate", "Robustness grid and false-positive study from a JSON config");
  sub->add_option("--config", c->config, "evaluation config (see docs/robustness.md)")->required();
  sub->add_option("--out-dir", c->out_dir, "results folder; rerunning resumes from what it holds")->required();
  sub->add_option("--device", c->device, "cpu or cuda[:N]");
  sub->add_option("--shard", c->shard, "compute shard I/N of the grid only (default under torchrun: RANK/WORLD_SIZE); "
                  "then run without --shard to merge");
  sub->add_option("--threads", c->threads, "intra-op threads (default: all available cores)");
  sub->callback([&dispatch, c] { dispatch.action = [c] { return run_evaluate(*c); }; });

  auto s = std::make_shared<SummarizeCommand>();
  auto* summarize = app.add_subcommand("summarize", "Mean and spread over seeds of evaluations of one setup "
                                                    "(one wmark evaluate folder per seed)");
  summarize->add_option("reports", s->reports, "evaluation folders (merged, or only sharded) or their report.json, "
                        "one per seed")->required();
  summarize->add_option("--json", s->json_out, "write the summary as JSON here");
  summarize->add_option("--markdown", s->markdown_out, "write the Markdown table here");
  summarize->add_flag("--force", s->force, "overwrite existing outputs");
  summarize->callback([&dispatch, s] { dispatch.action = [s] { return run_summarize(*s); }; });
}

}  // namespace wmark::cli

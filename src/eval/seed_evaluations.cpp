// run_seed_evaluations: one evaluation folder per seed, then the summary over them.
#include <string>
#include <vector>

#include "wmark/eval/seed_summary.h"
#include "wmark/util/files.h"
#include "wmark/util/log.h"

namespace wmark {

nlohmann::json run_seed_evaluations(const EvaluationConfig& config, const EvaluationRun& run) {
  const auto seeds = config.seeds.empty() ? std::vector<std::uint64_t>{config.seed} : config.seeds;
  std::vector<nlohmann::json> reports;
  std::vector<std::string> sources;
  for (const auto seed : seeds) {
    auto one = config;
    one.seed = seed;
    one.seeds.clear();
    auto seed_run = run;
    seed_run.out_dir = run.out_dir / ("seed-" + std::to_string(seed));
    logger()->info("evaluation seed {} of {} into {}", reports.size() + 1, seeds.size(), seed_run.out_dir.string());
    reports.push_back(run_evaluation(one, seed_run));
    sources.push_back((seed_run.out_dir / "report.json").string());
  }
  if (run.shards > 1) return {{"shard", run.shard}, {"shards", run.shards}, {"seeds", reports}};
  const auto summary = summarize_seeds(reports, sources);
  // The folder is the evaluation's own: its summary is rewritten like its reports.
  write_file_atomic(run.out_dir / "summary.json", summary.dump(2) + "\n", true);
  write_file_atomic(run.out_dir / "summary.md", seed_summary_markdown(summary), true);
  return summary;
}

}  // namespace wmark

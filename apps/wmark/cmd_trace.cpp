// wmark trace: which users' fingerprinted copies a model was made from (DeepMarks keys,
// watermark/fingerprint.h). Exit 0 = users named, 1 = not traceable, 2 = error.
#include <iostream>

#include "commands.h"
#include "wmark/models/checkpoint.h"
#include "wmark/util/files.h"
#include "wmark/watermark/fingerprint.h"
#include "wmark/watermark/key.h"

namespace wmark::cli {
namespace {

struct TraceCommand {
  std::string model, key, arch, report;
  bool force = false;
};

int run_trace(const TraceCommand& c) {
  if (!c.report.empty()) check_writable(c.report, c.force);
  const auto key = WatermarkKey::load(c.key);
  auto loaded = load_network(c.model, c.arch);
  const auto trace = trace_colluders(*loaded.model, key);
  if (!c.report.empty()) {
    write_json(c.report,
               {{"model", c.model},
                {"key_commitment", key.commitment()},
                {"traceable", trace.traceable},
                {"users", trace.users},
                {"reason", trace.reason},
                {"levels", std::vector<double>(trace.levels.data_ptr<float>(),
                                               trace.levels.data_ptr<float>() + trace.levels.numel())}},
               c.force);
  }
  if (!trace.traceable) {
    std::cout << "not traceable: " << trace.reason << "\n";
    return 1;
  }
  std::cout << "made from the copies of user" << (trace.users.size() > 1 ? "s" : "");
  for (std::size_t i = 0; i < trace.users.size(); ++i) std::cout << (i ? ", " : " ") << trace.users[i];
  std::cout << "\n";
  return 0;
}

}  // namespace

void add_trace_command(CLI::App& app, Dispatch& dispatch) {
  auto c = std::make_shared<TraceCommand>();
  auto* sub = app.add_subcommand("trace", "Name the users whose fingerprinted copies a model was averaged from "
                                          "(deepmarks keys; exit 0 named, 1 not traceable, 2 error)");
  sub->add_option("--model", c->model, "wmark checkpoint of the suspect")->required()->check(CLI::ExistingFile);
  sub->add_option("--key", c->key, "any user's deepmarks key of the owner")->required()->check(CLI::ExistingFile);
  sub->add_option("--arch", c->arch, "architecture (checked against the file)");
  sub->add_option("--report", c->report, "write the trace as JSON here");
  sub->add_flag("--force", c->force, "overwrite an existing report");
  sub->callback([c, &dispatch] { dispatch.action = [c] { return run_trace(*c); }; });
}

}  // namespace wmark::cli

// wmark export: a checkpoint's weights as a Python state dict
// (model.load_state_dict(torch.load(path)) in PyTorch).
#include <iostream>

#include "commands.h"
#include "wmark/models/checkpoint.h"
#include "wmark/models/state_dict.h"
#include "wmark/util/error.h"
#include "wmark/util/files.h"

namespace wmark::cli {
namespace {

struct ExportCommand {
  std::string model, arch, format = "state-dict", out;
  bool force = false;
};

int run_export(const ExportCommand& c) {
  check_writable(c.out, c.force);
  auto loaded = load_checkpoint(c.model, c.arch.empty() ? std::nullopt : std::optional<std::string>(c.arch));
  save_state_dict(*loaded.model, c.out, c.force);
  std::cout << "state dict of " << c.model << " (" << loaded.info.arch << ", " << loaded.info.spec.input.str()
            << " inputs, " << loaded.info.spec.num_classes << " classes): " << c.out << "\n";
  return 0;
}

}  // namespace

void add_export_command(CLI::App& app, Dispatch& dispatch) {
  auto c = std::make_shared<ExportCommand>();
  auto* sub = app.add_subcommand("export", "Write a checkpoint's weights as a Python state dict (torch.load)");
  sub->add_option("--model", c->model, "wmark checkpoint")->required()->check(CLI::ExistingFile);
  sub->add_option("--arch", c->arch, "architecture (checked against the file)");
  sub->add_option("--format", c->format, "state-dict: a dict of tensors for model.load_state_dict()")
      ->check(CLI::IsMember({"state-dict"}));
  sub->add_option("--out", c->out, "file to write")->required();
  sub->add_flag("--force", c->force, "overwrite an existing file");
  sub->callback([c, &dispatch] { dispatch.action = [c] { return run_export(*c); }; });
}

}  // namespace wmark::cli

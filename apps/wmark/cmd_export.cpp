// wmark export / wmark import: a model to a Python state dict or TorchScript, and back
// from a state dict (model.load_state_dict(torch.load(path)) / torch.save(...)).
#include <iostream>

#include "commands.h"
#include "wmark/models/checkpoint.h"
#include "wmark/models/registry.h"
#include "wmark/models/state_dict.h"
#include "wmark/models/torchscript.h"
#include "wmark/util/error.h"
#include "wmark/util/files.h"

namespace wmark::cli {
namespace {

struct ExportCommand {
  std::string model, arch, format = "state-dict", out;
  bool force = false;
};

struct ImportCommand {
  DataFlags data;
  std::string state_dict, arch, out;
  bool force = false;
};

int run_export(const ExportCommand& c) {
  check_writable(c.out, c.force);
  auto loaded = load_network(c.model, c.arch);
  if (c.format == "torchscript") {
    save_torchscript(*loaded.model, loaded.spec.input, c.out, c.force);
  } else {
    save_state_dict(*loaded.model, c.out, c.force);
  }
  std::cout << c.format << " of " << c.model << " (" << loaded.arch << ", " << loaded.spec.input.str() << " inputs, "
            << loaded.spec.num_classes << " classes): " << c.out << "\n";
  return 0;
}

int run_import(const ImportCommand& c) {
  check_writable(c.out, c.force);
  // The dataset gives the input shape, class count and normalisation the model expects.
  auto data = load_data(c.data);
  CheckpointInfo info;
  info.arch = c.arch;
  info.spec = {data.splits.train.shape(), data.splits.train.num_classes};
  info.dataset = data.name;
  info.normalization = data.splits.train.normalization;
  auto model = model_registry().create(c.arch, info.spec);
  load_state_dict(*model, c.state_dict);
  save_checkpoint(c.out, *model, info, nullptr, c.force);
  std::cout << "checkpoint " << c.out << " (" << c.arch << " for " << data.name << ") from " << c.state_dict << "\n";
  return 0;
}

}  // namespace

void add_export_command(CLI::App& app, Dispatch& dispatch) {
  auto c = std::make_shared<ExportCommand>();
  auto* sub = app.add_subcommand("export", "Write a checkpoint as a Python state dict or a TorchScript model");
  sub->add_option("--model", c->model, "wmark checkpoint")->required()->check(CLI::ExistingFile);
  sub->add_option("--arch", c->arch, "architecture (checked against the file)");
  sub->add_option("--format", c->format,
                  "state-dict (a dict of tensors for model.load_state_dict(torch.load(path))) or torchscript "
                  "(the inference model for torch.jit.load)")
      ->check(CLI::IsMember({"state-dict", "torchscript"}));
  sub->add_option("--out", c->out, "file to write")->required();
  sub->add_flag("--force", c->force, "overwrite an existing file");
  sub->callback([c, &dispatch] { dispatch.action = [c] { return run_export(*c); }; });

  auto i = std::make_shared<ImportCommand>();
  auto* imp = app.add_subcommand("import", "Make a wmark checkpoint from a state dict saved by Python's torch.save");
  imp->add_option("--state-dict", i->state_dict, "torch.save(model.state_dict(), path) output")
      ->required()
      ->check(CLI::ExistingFile);
  imp->add_option("--arch", i->arch, "the registered architecture it belongs to")->required();
  add_data_flags(*imp, i->data);
  imp->add_option("--out", i->out, "checkpoint to write")->required();
  imp->add_flag("--force", i->force, "overwrite an existing file");
  imp->callback([i, &dispatch] { dispatch.action = [i] { return run_import(*i); }; });
}

}  // namespace wmark::cli

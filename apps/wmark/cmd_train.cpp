// wmark train: train a clean model on a dataset and save it as a checkpoint.
#include <torch/torch.h>

#include <iostream>

#include "commands.h"
#include "wmark/models/checkpoint.h"
#include "wmark/models/registry.h"
#include "wmark/train/recipe.h"
#include "wmark/train/trainer.h"
#include "wmark/util/files.h"

namespace wmark::cli {
namespace {

struct TrainCommand {
  DataFlags data;
  TrainFlags train;
  std::string model, out, metrics;
  bool force = false;
};

int run_train(const TrainCommand& c) {
  const int threads = setup_runtime(c.train.threads);
  const auto group = join_group(c.train);  // null unless data-parallel
  const bool lead = writes_outputs(group);
  if (lead) {
    check_writable(c.out, c.force);
    if (!c.metrics.empty()) check_writable(c.metrics, c.force);
  }
  auto data = load_data(c.data);
  const auto recipe = default_recipe(data.name);
  const std::string arch = c.model.empty() ? recipe.arch : c.model;

  CheckpointInfo info;
  info.arch = arch;
  info.spec = {data.splits.train.shape(), data.splits.train.num_classes};
  info.dataset = data.name;
  info.normalization = data.splits.train.normalization;

  torch::manual_seed(c.data.seed);
  auto model = model_registry().create(arch, info.spec);
  Trainer trainer(model, make_trainer_options(recipe.options, c.train, c.data.seed, c.force, group), info);
  const auto result = trainer.fit(data.splits.train, &data.splits.test);
  if (!lead) return 0;  // rank 0 writes the model and the metrics

  info.epoch = static_cast<std::int64_t>(result.history.size());
  info.extra = {{"test_accuracy", result.test_accuracy}, {"train_samples", data.splits.train.size()}};
  save_checkpoint(c.out, *model, info, nullptr, c.force);

  const auto metrics = training_metrics(data.name, arch, data.splits.train.size(), threads, result);
  if (!c.metrics.empty()) write_json(c.metrics, metrics, c.force);
  std::cout << "model: " << c.out << "\n"
            << "test_accuracy: " << result.test_accuracy << "\n"
            << "train_seconds: " << result.train_seconds << "\n"
            << "samples_per_second: " << result.samples_per_second << "\n";
  return 0;
}

}  // namespace

void add_train_command(CLI::App& app, Dispatch& dispatch) {
  auto c = std::make_shared<TrainCommand>();
  auto* sub = app.add_subcommand("train", "Train a clean model and save it as a checkpoint");
  add_data_flags(*sub, c->data);
  sub->add_option("--model", c->model, "architecture: mnist_cnn, cifar_cnn, resnet18 (default: per dataset)");
  add_train_flags(*sub, c->train);
  sub->add_option("--out", c->out, "checkpoint to write")->required();
  sub->add_option("--metrics", c->metrics, "write training metrics as JSON here");
  sub->add_flag("--force", c->force, "overwrite existing output files");
  sub->callback([c, &dispatch] { dispatch.action = [c] { return run_train(*c); }; });
}

}  // namespace wmark::cli

// wmark attack forge: the false accuser's forged key (Liu et al., USENIX Security 2024),
// to measure that wmark's default verification refuses it (attack/forge.h).
#include <iomanip>
#include <iostream>

#include "commands.h"
#include "wmark/attack/forge.h"
#include "wmark/data/catalog.h"
#include "wmark/models/checkpoint.h"
#include "wmark/util/error.h"
#include "wmark/util/files.h"

namespace wmark::cli {
namespace {

struct ForgeCommand {
  std::vector<std::string> surrogates;
  std::string dataset, data_dir, out, report, device = "cpu";
  ForgeOptions options;
  int threads = 0;
  bool force = false;
};

int run_forge(const ForgeCommand& c) {
  check_writable(c.out, c.force);
  if (!c.report.empty()) check_writable(c.report, c.force);
  setup_runtime(c.threads);
  const auto device = parse_device(c.device);
  std::vector<NetworkPtr> surrogates;
  std::string dataset = c.dataset.empty() ? std::string() : canonical_dataset_name(c.dataset);
  for (const auto& path : c.surrogates) {
    auto loaded = load_checkpoint(path);
    if (dataset.empty()) dataset = loaded.info.dataset;
    loaded.model->to(device);
    surrogates.push_back(loaded.model);
  }
  std::optional<std::filesystem::path> dir;
  if (!c.data_dir.empty()) dir = c.data_dir;
  // The accuser's own images: the public test split of the dataset.
  const auto sources = load_dataset(dataset, dir).test;
  const auto forged = forge_trigger_key(surrogates, sources, c.options, device);
  forged.key.save(c.out, c.force);
  if (!c.report.empty()) write_json(c.report, forged.details, c.force);
  std::cout << "forged key " << c.out << ": " << c.options.triggers() << " adversarial triggers from " << dataset
            << " test images, L-inf budget " << c.options.epsilon() << ", on " << surrogates.size()
            << " surrogate(s); target label on the surrogates:";
  for (const auto& rate : forged.details["surrogate_target_rate"])
    std::cout << " " << std::fixed << std::setprecision(1) << 100 * rate.get<double>() << "%";
  std::cout << std::defaultfloat
            << "\n  a legacy key: wmark verify refuses it unless --accept-unverifiable-keys (its triggers derive from "
               "no secret)\n";
  return 0;
}

}  // namespace

void add_forge_command(CLI::App& attack, Dispatch& dispatch) {
  auto c = std::make_shared<ForgeCommand>();
  auto* sub = attack.add_subcommand(
      "forge", "The false accuser: a key of transferable adversarial triggers crafted on surrogate models");
  sub->add_option("--surrogate", c->surrogates, "the accuser's own model checkpoint (repeat for an ensemble)")
      ->required()
      ->check(CLI::ExistingFile);
  sub->add_option("--out", c->out, "the forged key to write")->required();
  sub->add_option("--report", c->report, "write what the forgery measured as JSON here");
  sub->add_option("--dataset", c->dataset, "source images: this dataset's test split (default: the surrogates')");
  sub->add_option("--data-dir", c->data_dir, "folder holding the dataset");
  sub->add_option_function<std::int64_t>("--triggers", [c](std::int64_t v) { c->options.triggers(v); },
                                         "forged triggers (default 100)");
  sub->add_option_function<double>("--epsilon", [c](double v) { c->options.epsilon(v); },
                                   "L-infinity budget in [0,1] pixel units (default 0.3)");
  sub->add_option_function<std::int64_t>("--steps", [c](std::int64_t v) { c->options.steps(v); },
                                         "gradient steps (default 100)");
  sub->add_option_function<double>("--step-size", [c](double v) { c->options.step_size(v); },
                                   "step in [0,1] pixel units (default 0.01)");
  sub->add_option_function<double>("--momentum", [c](double v) { c->options.momentum(v); },
                                   "gradient momentum, 0 for plain PGD (default 1)");
  sub->add_option_function<std::uint64_t>("--seed", [c](std::uint64_t v) { c->options.seed(v); },
                                          "seed of the source images and target labels (default 1)");
  sub->add_option("--device", c->device, "cpu or cuda[:N]");
  sub->add_option("--threads", c->threads, "intra-op threads (default: all available cores)");
  sub->add_flag("--force", c->force, "overwrite existing outputs");
  sub->callback([c, &dispatch] { dispatch.action = [c] { return run_forge(*c); }; });
}

}  // namespace wmark::cli

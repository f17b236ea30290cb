// wmark dawn init | key: DAWN's server key, and the proof key made from the log of the
// answers a server changed with it (serve/dawn.h, docs/dawn.md).
#include <iostream>

#include "commands.h"
#include "wmark/data/catalog.h"
#include "wmark/models/load_network.h"
#include "wmark/serve/dawn.h"
#include "wmark/util/error.h"
#include "wmark/util/files.h"

namespace wmark::cli {
namespace {

struct DawnCommand {
  std::string model, arch, dataset, out, server_key, log;
  double rate = 0.005;
  DawnKeying keying;
  std::int64_t max_entries = 1000000;
  bool force = false;
};

int run_init(const DawnCommand& c) {
  check_writable(c.out, c.force);
  WMARK_CHECK(!c.dataset.empty() || is_wmark_checkpoint(c.model, c.arch), c.model,
              " is not a wmark checkpoint; a TorchScript model needs --dataset (its input shape and classes)");
  const auto loaded = load_network(c.model, c.arch, c.dataset.empty() ? std::nullopt : std::optional(dataset_traits(c.dataset)));
  const auto dataset = loaded.checkpoint ? loaded.checkpoint->dataset : canonical_dataset_name(c.dataset);
  const auto key = make_dawn_server_key(c.rate, loaded.spec.input, loaded.spec.num_classes, loaded.normalization, dataset,
                                        c.keying);
  key.save(c.out, c.force);
  std::cout << "DAWN server key for " << loaded.description << ": " << c.out << " (rate " << c.rate << ", keyed on "
            << (c.keying.keying == "pixels" ? "the exact pixels" : "perceptual buckets")
            << "; secret, mode 0600)\n  serve with: wmark serve --model " << c.model << " --dawn " << c.out
            << " --dawn-log answers.jsonl ...\n";
  return 0;
}

int run_key(const DawnCommand& c) {
  check_writable(c.out, c.force);
  const auto server_key = WatermarkKey::load(c.server_key);
  const auto key = dawn_proof_key(server_key, c.log, c.max_entries);
  key.save(c.out, c.force);
  std::cout << "DAWN proof key: " << c.out << ", " << key.tensor("labels").size(0) << " distinct changed answers (one per bucket) from "
            << key.params["log_entries"].get<std::int64_t>() << " log entries (log sha256 "
            << key.params["log_sha256"].get<std::string>() << ")\n  time-stamp it now (wmark claim): it is evidence "
            << "only against models that appeared after that time\n";
  return 0;
}

}  // namespace

void add_dawn_commands(CLI::App& app, Dispatch& dispatch) {
  auto* dawn = app.add_subcommand("dawn", "DAWN: mark a server's answers so that models extracted from it are provable")
                   ->require_subcommand(1);
  auto c = std::make_shared<DawnCommand>();
  auto* init = dawn->add_subcommand("init", "Create a DAWN server key for a model (secret, mode 0600)");
  init->add_option("--model", c->model, "the served model: a wmark checkpoint or a TorchScript file")
      ->required()->check(CLI::ExistingFile);
  init->add_option("--arch", c->arch, "architecture of a wmark checkpoint (checked against the file)");
  init->add_option("--dataset", c->dataset, "TorchScript models: the dataset they take (mnist, fashion, cifar10)");
  init->add_option("--rate", c->rate, "fraction of inputs whose answer is changed (the paper: e.g. 0.005)")
      ->check(CLI::Range(1e-9, 0.5));
  init->add_option("--keying", c->keying.keying, "what picks an input: its exact pixels, or a perceptual bucket its "
                   "near-twins share (a voting thief cannot outvote a changed answer)")
      ->check(CLI::IsMember({"pixels", "perceptual"}));
  init->add_option("--bits", c->keying.bits, "perceptual keying: keyed sign bits per image")->check(CLI::Range(1ll, 64ll));
  init->add_option("--grid", c->keying.grid, "perceptual keying: the image is averaged over grid x grid cells")
      ->check(CLI::Range(1ll, 4096ll));
  init->add_option("--out", c->out, "where to write the server key")->required();
  init->add_flag("--force", c->force, "overwrite an existing key");
  init->callback([&dispatch, c] { dispatch.action = [c] { return run_init(*c); }; });

  auto* key = dawn->add_subcommand("key", "Make the proof key from a DAWN server's log of changed answers");
  key->add_option("--server-key", c->server_key, "the server key (wmark dawn init)")->required()->check(CLI::ExistingFile);
  key->add_option("--log", c->log, "the log the server appended to (--dawn-log)")->required()->check(CLI::ExistingFile);
  key->add_option("--max-entries", c->max_entries, "refuse a log of more entries")->check(CLI::Range(1ll, 1ll << 40));
  key->add_option("--out", c->out, "where to write the proof key")->required();
  key->add_flag("--force", c->force, "overwrite an existing key");
  key->callback([&dispatch, c] { dispatch.action = [c] { return run_key(*c); }; });
}

}  // namespace wmark::cli

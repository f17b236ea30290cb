#include "common.h"

#include <unistd.h>

#include <cstdio>
#include <torch/cuda.h>
#include <spdlog/spdlog.h>

#include "wmark/data/catalog.h"
#include "wmark/models/checkpoint.h"
#include "wmark/data/subset.h"
#include "wmark/util/error.h"
#include "wmark/util/files.h"
#include "wmark/util/log.h"
#include "wmark/util/runtime.h"

namespace wmark::cli {

void add_data_flags(CLI::App& app, DataFlags& flags) {
  app.add_option("--dataset", flags.dataset,
                 "mnist, fashion or cifar10 (default: mnist if found, else fashion)");
  app.add_option("--data-dir", flags.data_dir,
                 "folder holding the dataset (default: $WMARK_DATA, ../shared/data, /usr/share/datasets)");
  app.add_option("--subset", flags.subset,
                 "train on N samples drawn with the seed, balanced by class (0 = all)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--seed", flags.seed, "seed for initialisation, subsets and shuffling");
}

LoadedData load_data(const DataFlags& flags) {
  std::optional<std::filesystem::path> dir;
  if (!flags.data_dir.empty()) dir = flags.data_dir;
  LoadedData data;
  data.name = flags.dataset.empty() ? default_dataset_name(dir) : canonical_dataset_name(flags.dataset);
  data.splits = load_dataset(data.name, dir);
  data.public_train = data.splits.train;
  data.splits.train = balanced_subset(data.splits.train, flags.subset, flags.seed);
  return data;
}

void add_train_flags(CLI::App& app, TrainFlags& flags) {
  app.add_option("--epochs", flags.epochs, "training epochs")->check(CLI::PositiveNumber);
  app.add_option("--batch-size", flags.batch_size, "batch size")->check(CLI::Range(2, 1 << 20));
  app.add_option("--lr", flags.lr, "learning rate")->check(CLI::PositiveNumber);
  app.add_option("--optimizer", flags.optimizer, "sgd or adam")->check(CLI::IsMember({"sgd", "adam"}));
  app.add_option("--momentum", flags.momentum, "SGD momentum")->check(CLI::Range(0.0, 1.0));
  app.add_option("--weight-decay", flags.weight_decay, "L2 weight decay")->check(CLI::NonNegativeNumber);
  app.add_option("--schedule", flags.schedule, "LR schedule: none, step or cosine")
      ->check(CLI::IsMember({"none", "step", "cosine"}));
  app.add_option("--augment", flags.augment, "random crop + flip (default: on for cifar10)");
  app.add_option("--device", flags.device, "cpu or cuda[:N]");
  app.add_option("--threads", flags.threads, "intra-op threads (default: all available cores)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--checkpoint", flags.checkpoint, "write a resumable checkpoint here after each epoch");
  app.add_option("--resume", flags.resume, "resume from a checkpoint written with --checkpoint");
  app.add_option("--rank", flags.rank, "data-parallel: this process's rank (default: $RANK from torchrun)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--world-size", flags.world_size, "data-parallel: number of processes (default: $WORLD_SIZE)")
      ->check(CLI::PositiveNumber);
  app.add_option("--master", flags.master, "data-parallel: ADDR:PORT of rank 0 (default: $MASTER_ADDR:$MASTER_PORT)");
  app.add_option("--backend", flags.backend, "data-parallel backend: gloo (CPU) or nccl (CUDA)")
      ->check(CLI::IsMember({"gloo", "nccl"}));
  app.add_option("--dist-timeout", flags.dist_timeout,
                 "data-parallel: seconds to wait for peers before giving up (rendezvous, each step)")
      ->check(CLI::PositiveNumber);
}

std::shared_ptr<ProcessGroup> join_group(const TrainFlags& f) {
  auto options = distributed_options_from_environment().value_or(DistributedOptions());
  if (f.world_size > 0) options.world_size(f.world_size);
  if (f.rank >= 0) options.rank(f.rank);
  if (!f.master.empty()) {
    const auto colon = f.master.rfind(':');
    WMARK_CHECK(colon != std::string::npos && colon > 0, "--master must be ADDR:PORT, got '", f.master, "'");
    options.master_addr(f.master.substr(0, colon));
    try {
      options.master_port(std::stoi(f.master.substr(colon + 1)));
    } catch (const std::exception&) {
      WMARK_FAIL("--master must be ADDR:PORT, got '", f.master, "'");
    }
  }
  if (options.world_size() <= 1) return nullptr;
  options.backend(f.backend).timeout_seconds(f.dist_timeout);
  auto group = std::make_shared<ProcessGroup>(options);
  // Rank 0 speaks for the group (as the Trainer does); the others report only problems.
  if (group->rank() != 0 && logger()->level() < spdlog::level::warn) set_log_level("warn");
  return group;
}

bool is_wmark_checkpoint(const std::string& path, const std::string& arch) {
  return !arch.empty() || is_checkpoint_file(path);
}

c10::Device parse_device(const std::string& name) {
  c10::Device device(c10::kCPU);
  try {
    device = c10::Device(name);
  } catch (const c10::Error&) {
    WMARK_FAIL("unknown device '", name, "'; use cpu or cuda[:N]");
  }
  WMARK_CHECK(!device.is_cuda() || torch::cuda::is_available(), "device '", name,
              "' requested but this LibTorch has no usable CUDA; use --device cpu");
  return device;
}

int setup_runtime(int threads) {
  // Processes sharing this machine (torchrun's LOCAL_WORLD_SIZE) share its cores.
  const int local = local_world_size_from_environment();
  if (threads == 0 && local > 1)
    threads = std::max(1, available_cores() / local);
  return configure_runtime(RuntimeOptions().threads(threads));
}

TrainerOptions make_trainer_options(const TrainerOptions& recipe, const TrainFlags& f,
                                    std::uint64_t seed, bool force, std::shared_ptr<ProcessGroup> group) {
  TrainerOptions o = recipe;
  o.process_group(std::move(group));
  if (f.epochs) o.epochs(*f.epochs);
  if (f.batch_size) o.batch_size(*f.batch_size);
  if (f.lr) o.lr(*f.lr);
  if (f.momentum) o.momentum(*f.momentum);
  if (f.weight_decay) o.weight_decay(*f.weight_decay);
  if (f.optimizer) o.optimizer(*f.optimizer);
  if (f.schedule) o.schedule(*f.schedule);
  if (f.augment) o.augment(*f.augment);
  o.device(parse_device(f.device)).seed(seed).force(force);
  o.checkpoint_path(f.checkpoint).resume_from(f.resume);
  if (isatty(STDERR_FILENO)) {
    // A live line on a terminal; plain per-epoch log lines otherwise.
    o.on_progress([](const Progress& p) {
      std::fprintf(stderr, "\r  epoch %lld/%lld  step %lld/%lld  loss %.4f  %.0f samples/s  ETA %.0fs   %s",
                   (long long)p.epoch, (long long)p.epochs, (long long)p.step, (long long)p.steps,
                   p.loss, p.samples_per_second, p.eta_seconds, p.step == p.steps ? "\r\033[K" : "");
      std::fflush(stderr);
    });
  }
  return o;
}

nlohmann::json training_metrics(const std::string& dataset, const std::string& arch, std::int64_t train_samples,
                                int threads, const TrainResult& result) {
  nlohmann::json history = nlohmann::json::array();
  for (const auto& e : result.history) {
    nlohmann::json epoch = {{"epoch", e.epoch}, {"train_loss", e.train_loss}, {"train_accuracy", e.train_accuracy},
                            {"test_accuracy", e.test_accuracy}, {"seconds", e.seconds},
                            {"samples_per_second", e.samples_per_second}, {"lr", e.lr}};
    for (const auto& [name, value] : e.metrics) epoch[name] = value;
    history.push_back(epoch);
  }
  return {{"dataset", dataset},
          {"model", arch},
          {"train_samples", train_samples},
          {"epochs", result.history.size()},
          {"threads", threads},
          {"test_accuracy", result.test_accuracy},
          {"train_seconds", result.train_seconds},
          {"samples_per_second", result.samples_per_second},
          {"history", history}};
}

void write_json(const std::string& path, const nlohmann::json& document, bool force) {
  write_file_atomic(path, document.dump(2) + "\n", force);
}

}  // namespace wmark::cli

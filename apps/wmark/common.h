// Flag groups shared by the subcommands, and helpers that turn flags into library calls.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "wmark/data/dataset.h"
#include "wmark/dist/process_group.h"
#include "wmark/models/load_network.h"
#include "wmark/train/options.h"
#include "wmark/train/trainer.h"

namespace wmark::cli {

/// A subcommand's action, run after parsing; returns the exit code.
using Action = std::function<int()>;

/// Where the chosen subcommand's action is stored.
struct Dispatch {
  Action action;
};

/// --dataset, --data-dir, --subset: which data to train on.
struct DataFlags {
  std::string dataset;  // empty = default_dataset_name()
  std::string data_dir;
  std::int64_t subset = 0;
  std::uint64_t seed = 1;
};
void add_data_flags(CLI::App& app, DataFlags& flags);

/// The loaded splits plus the resolved dataset name.
struct LoadedData {
  std::string name;
  DatasetSplits splits;    ///< the training split is the --subset when one is asked for
  Dataset public_train;    ///< the full public training split: where key secrets draw images
};
LoadedData load_data(const DataFlags& flags);

/// Training flags mapped one to one onto TrainerOptions; unset flags keep the recipe's value.
struct TrainFlags {
  std::optional<std::int64_t> epochs, batch_size;
  std::optional<double> lr, momentum, weight_decay;
  std::optional<std::string> optimizer, schedule;
  std::optional<bool> augment;
  std::string device = "cpu";
  std::string checkpoint, resume;
  int threads = 0;
  // Data-parallel training (c10d); unset flags come from torchrun's environment.
  int rank = -1, world_size = 0;
  std::string master, backend = "gloo";
  double dist_timeout = 300;
};
void add_train_flags(CLI::App& app, TrainFlags& flags);
/// The recipe's options with the given flags applied, and a live progress line on a TTY;
/// `group` (from join_group()) makes the training data-parallel.
TrainerOptions make_trainer_options(const TrainerOptions& recipe, const TrainFlags& flags,
                                    std::uint64_t seed, bool force,
                                    std::shared_ptr<ProcessGroup> group = nullptr);

/// Joins the process group that --rank/--world-size/--master or torchrun's environment
/// describe; null when neither asks for more than one process.
std::shared_ptr<ProcessGroup> join_group(const TrainFlags& flags);

/// Whether this process writes outputs: always, except on ranks other than 0.
inline bool writes_outputs(const std::shared_ptr<ProcessGroup>& group) { return !group || group->rank() == 0; }

/// Whether a suspect/served model file is a wmark checkpoint (always when --arch is
/// given); otherwise it is read as TorchScript.
bool is_wmark_checkpoint(const std::string& path, const std::string& arch);

/// Parses "cpu", "cuda", "cuda:1"; refuses CUDA when this LibTorch has none.
c10::Device parse_device(const std::string& name);

/// Applies --threads and the allocator settings; returns the thread count.
int setup_runtime(int threads);

/// The metrics every training command writes: dataset, model, sizes, threads, test
/// accuracy, time, throughput and the per-epoch history (with hook metrics).
nlohmann::json training_metrics(const std::string& dataset, const std::string& arch, std::int64_t train_samples,
                                int threads, const TrainResult& result);

/// Writes a JSON document (pretty) atomically; refuses to overwrite unless `force`.
void write_json(const std::string& path, const nlohmann::json& document, bool force);

}  // namespace wmark::cli

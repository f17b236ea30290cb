/// \file
/// Data-parallel training on PyTorch's own distributed engine, c10d: a process group
/// joined through a c10d TCPStore (hosted by rank 0) with the Gloo backend on CPU, and
/// the collectives the Trainer needs. wmark adds no cluster layer of its own: processes
/// are started by `torchrun` (or scripts/launch-local.sh), which sets RANK, WORLD_SIZE,
/// LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR and MASTER_PORT. See docs/distributed.md.
///
/// Failures: a peer that never joins, or dies, makes every collective of the others
/// throw wmark::Error naming this rank and the cause within `timeout_seconds`
/// (sooner when the dead peer's sockets close); nothing waits forever.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <torch/arg.h>

#include "wmark/util/export.h"

namespace wmark {

/// How to join a process group. Each field is a TORCH_ARG (chained setters).
struct WMARK_API DistributedOptions {
  /// This process's rank, in [0, world_size).
  TORCH_ARG(int, rank) = 0;
  /// Number of processes.
  TORCH_ARG(int, world_size) = 1;
  /// Address of rank 0, which hosts the TCPStore rendezvous.
  TORCH_ARG(std::string, master_addr) = "127.0.0.1";
  /// Port of the rendezvous on rank 0.
  TORCH_ARG(int, master_port) = 29500;
  /// "gloo" (CPU tensors) or "nccl" (CUDA; only in a LibTorch built with it).
  TORCH_ARG(std::string, backend) = "gloo";
  /// Longest wait for the rendezvous and for any collective, seconds.
  TORCH_ARG(double, timeout_seconds) = 300;
};

/// The options torchrun's environment describes (RANK, WORLD_SIZE, MASTER_ADDR,
/// MASTER_PORT), or nullopt when WORLD_SIZE is unset. Throws wmark::Error for values
/// that are set but malformed.
WMARK_API std::optional<DistributedOptions> distributed_options_from_environment();

/// Processes started on this machine (LOCAL_WORLD_SIZE, set by torchrun), 1 when unset.
WMARK_API int local_world_size_from_environment();

/// A joined c10d process group (see the file comment). Not copyable.
class WMARK_API ProcessGroup {
 public:
  /// Joins: rank 0 starts the TCPStore and waits for the others, every rank builds its
  /// Gloo context. Throws wmark::Error for bad options, a backend this LibTorch lacks,
  /// or a rendezvous that does not complete within the timeout.
  explicit ProcessGroup(DistributedOptions options);
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  /// This process's rank.
  int rank() const;
  /// Number of processes.
  int world_size() const;
  /// Rank 0's `tensors` into every rank's, in place (same shapes everywhere).
  void broadcast(std::vector<at::Tensor> tensors);
  /// The element-wise sum over ranks, in place in every rank's `tensors`.
  void allreduce_sum(std::vector<at::Tensor> tensors);
  /// Waits until every rank gets here.
  void barrier();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Averages the gradients of `parameters` over a group after backward(): gradients are
/// copied into a few flat buckets of about `bucket_bytes`, each bucket is summed with
/// one allreduce and divided by the world size, and copied back. A parameter without a
/// gradient contributes zeros (every rank must send the same buckets).
class WMARK_API GradientAverager {
 public:
  /// Buckets `parameters` in order; requires a group.
  GradientAverager(std::shared_ptr<ProcessGroup> group, std::vector<at::Tensor> parameters,
                   std::int64_t bucket_bytes = 25ll << 20);
  /// Averages every parameter's .grad() over the group, in place.
  void average();
  /// Seconds spent in allreduce so far.
  double communication_seconds() const { return seconds_; }
  /// Number of buckets (allreduce calls per step).
  std::size_t buckets() const { return buckets_.size(); }

 private:
  std::shared_ptr<ProcessGroup> group_;
  std::vector<at::Tensor> parameters_;
  std::vector<std::vector<std::size_t>> buckets_;  // parameter indices per bucket
  double seconds_ = 0;
};

}  // namespace wmark

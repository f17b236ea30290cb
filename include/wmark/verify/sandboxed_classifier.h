/// \file
/// A suspect TorchScript model run in a separate, resource-limited worker process, so
/// that its code (a TorchScript file is a program: loading runs `__setstate__`, every
/// query runs `forward`) never runs inside the verifier. What is and is not
/// confined: docs/sandbox.md.
///
/// The worker is a program re-executed with the argument `sandbox-worker` (by default
/// the running binary, /proc/self/exe: the wmark CLI, whose hidden `wmark sandbox-worker`
/// subcommand calls run_sandbox_worker()). It is started with fork + exec (nothing but
/// async-signal-safe system calls between the two), in its own session, with
/// PR_SET_NO_NEW_PRIVS, a parent-death signal, no inherited file descriptors but
/// /dev/null on stdin/stdout, stderr and the channel on fd 3, and the limits
///  - RLIMIT_CPU: CPU seconds over the worker's whole life (SIGXCPU, then SIGKILL);
///  - RLIMIT_FSIZE = 0 (writing any regular file kills it) and RLIMIT_CORE = 0;
///  - RLIMIT_AS: its start-up footprint plus SandboxOptions::memory_mb, set by the
///    worker itself before it loads the model (an allocation beyond it fails and the
///    worker exits with a dedicated status);
///  - after loading, RLIMIT_NOFILE = 4 (no new descriptor: no file or socket can be
///    opened) and RLIMIT_NPROC = 0 (no new process or thread; ignored for root);
///  - one intra-op and one inter-op thread.
/// The parent enforces a wall-clock deadline on start-up and on every query and kills
/// the worker's process group when it passes.
///
/// Wire protocol over a Unix stream socket (little-endian, host order), every size
/// checked on both sides:
///  - request:  u32 magic "WMQ1", u32 kind (1 = logits), i64 N, C, H, W, then N*C*H*W
///              float32 (the normalised batch);
///  - response: u32 magic "WMR1", u32 status (0 = logits, 1 = error, 2 = ready), u64
///              payload bytes, payload: logits = i64 N, i64 K, N*K float32; error = a
///              message (at most 4096 bytes); ready = empty.
/// The parent treats every answer as hostile: it reads no more than the batch can need,
/// takes the labels as the argmax of logits it checked ([N, K], 1 <= K <= max_classes),
/// and turns a worker that dies, stalls or writes garbage into wmark::Error
/// "suspect model FILE was stopped: REASON".
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include <torch/arg.h>

#include "wmark/util/export.h"
#include "wmark/verify/classifier.h"

namespace wmark {

/// Limits and location of the sandbox worker. Each field is a TORCH_ARG.
struct WMARK_API SandboxOptions {
  /// Address space the worker may add to its start-up footprint (RLIMIT_AS), MB.
  TORCH_ARG(std::int64_t, memory_mb) = 2048;
  /// CPU time of the worker over its whole life, loading and all queries (RLIMIT_CPU), seconds.
  TORCH_ARG(std::int64_t, cpu_seconds) = 600;
  /// Wall-clock deadline of the start-up (loading the model) and of each query, seconds.
  TORCH_ARG(double, timeout_seconds) = 120;
  /// The worker program, run as `PATH sandbox-worker --model FILE --memory-mb N`; empty
  /// = this process's own binary (/proc/self/exe), right for the wmark CLI. Library
  /// users point it at an installed `wmark`.
  TORCH_ARG(std::string, worker_path);
  /// Images per query.
  TORCH_ARG(std::int64_t, batch_size) = 500;
  /// Most logits per image accepted from the worker.
  TORCH_ARG(std::int64_t, max_classes) = 100000;
};

/// A TorchScript file classified in a sandboxed worker process (see the file comment).
class WMARK_API SandboxedClassifier : public Classifier {
 public:
  /// Starts the worker and waits until it has loaded `path`. Throws wmark::Error naming
  /// the file if it is missing, is not TorchScript, or the worker was stopped (limits,
  /// deadline, crash) or cannot be run.
  SandboxedClassifier(const std::filesystem::path& path, Normalization normalization,
                      SandboxOptions options = SandboxOptions());
  /// Kills and reaps the worker.
  ~SandboxedClassifier() override;
  /// Labels from the worker, in batches of options.batch_size(). Throws wmark::Error if
  /// the model rejects the batch (the worker lives on) or the worker was stopped.
  at::Tensor classify(const at::Tensor& images) override;
  /// The labels and the worker's logits (the same count per image in every batch, or
  /// the worker is stopped).
  SuspectAnswers answer(const at::Tensor& images) override;
  std::string describe() const override;
  /// The worker's process id, or -1 once it was stopped.
  int worker_pid() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// The worker's side: limits its address space to its footprint plus `memory_mb`,
/// loads `model_path` on the CPU, lowers its descriptor and process limits and answers
/// requests on descriptor `channel` until the parent closes it. Returns the process
/// exit status (0 at a clean end); exits at once with a dedicated status when an
/// allocation fails. Meant to be the whole body of `wmark sandbox-worker`.
WMARK_API int run_sandbox_worker(const std::filesystem::path& model_path, std::int64_t memory_mb, int channel = 3);

}  // namespace wmark

/// \file
/// Process-wide runtime settings for fast CPU training: intra-op threads and the
/// allocator. Explicit (called by applications), because they are process-global.
#pragma once

#include <cstdint>
#include <torch/arg.h>

#include "wmark/util/export.h"

namespace wmark {

/// What configure_runtime() sets. Each field is a TORCH_ARG: read it with
/// `options.threads()`, set it with the chained setter `options.threads(4)`.
struct RuntimeOptions {
  /// Intra-op threads; 0 = the cores this process may use.
  TORCH_ARG(int, threads) = 0;
  /// Keep freed tensor buffers in the heap instead of returning them to the kernel.
  TORCH_ARG(bool, tune_malloc) = true;
};

/// Applies the options; returns the number of intra-op threads now in use.
/// glibc malloc otherwise unmaps large tensor buffers after each step and faults them
/// in again on the next one, which costs more time than the training itself here.
WMARK_API int configure_runtime(const RuntimeOptions& options = {});

/// Number of cores this process may run on (sched_getaffinity), at least 1.
WMARK_API int available_cores();

}  // namespace wmark

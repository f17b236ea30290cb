#include "wmark/util/runtime.h"

#include <malloc.h>
#include <sched.h>

#include <thread>

#include <ATen/Parallel.h>

namespace wmark {

int available_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int count = CPU_COUNT(&set);
    if (count > 0) return count;
  }
  unsigned hw = std::thread::hardware_concurrency();
  return hw > 0 ? static_cast<int>(hw) : 1;
}

int configure_runtime(const RuntimeOptions& options) {
  if (options.tune_malloc()) {
    // 1 GiB thresholds: buffers up to that size are served from (and returned to)
    // the heap, so a training step reuses the previous step's memory.
    constexpr int kThreshold = 1 << 30;
    mallopt(M_MMAP_THRESHOLD, kThreshold);
    mallopt(M_TRIM_THRESHOLD, kThreshold);
    mallopt(M_TOP_PAD, 64 << 20);
  }
  const int threads = options.threads() > 0 ? options.threads() : available_cores();
  at::set_num_threads(threads);
  return at::get_num_threads();
}

}  // namespace wmark

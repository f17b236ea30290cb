// Internal: decides from a file's bytes alone, running nothing in it, whether LibTorch
// may open it as a wmark checkpoint in this process.
//
// A checkpoint is a LibTorch archive, and LibTorch opens archives with torch::jit::load,
// which compiles the TorchScript in the archive's code/ records and calls the
// __setstate__ methods it defines while unpickling. A suspect model handed to
// `wmark verify` is hostile input, so before that happens the archive must be plain data:
// every code record only declares attributes (the classes torch::serialize writes have no
// methods), every pickle nests a bounded number of levels (LibTorch frees nested values
// recursively), and the entries inflate to a bounded size. Files that fail are not
// checkpoints; a TorchScript model fails here and is opened in the sandbox instead.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "wmark/models/checkpoint.h"

namespace wmark {

constexpr std::uint64_t kMaxCheckpointBytes = std::uint64_t(4) << 30;  // all entries, inflated
constexpr std::uint64_t kMaxCheckpointCodeBytes = std::uint64_t(8) << 20;  // code and pickles, inflated
constexpr int kMaxCheckpointPickleDepth = 64;

// Throws wmark::Error naming `file` and the first reason `archive` is not a wmark
// checkpoint of plain data (including: its root class lacks the wmark metadata attribute).
void screen_checkpoint(std::string_view archive, const std::string& file);

// Whether `archive` passes screen_checkpoint() (the reason is dropped).
bool passes_checkpoint_screen(std::string_view archive, const std::string& file);

// load_checkpoint() of `bytes`, the contents of `path`, which passed screen_checkpoint()
// already (so a caller that probed a file reads and screens it once).
LoadedModel load_screened_checkpoint(const std::string& bytes, const std::filesystem::path& path,
                                     const std::optional<std::string>& expected_arch, const ModelRegistry& registry);

}  // namespace wmark

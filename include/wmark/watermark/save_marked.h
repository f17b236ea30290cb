/// \file
/// Writing a watermarked model together with its key, so that a failure never leaves
/// one without the other.
#pragma once

#include <filesystem>

#include "wmark/models/checkpoint.h"
#include "wmark/util/export.h"
#include "wmark/watermark/key.h"

namespace wmark {

/// Writes `key` to `key_path`, then `model` as a checkpoint to `model_path`. The key
/// goes first: a marked model without its key could never be claimed. If the checkpoint
/// cannot be written, the key just written is removed again, so a failed run leaves
/// neither file (with `force`, a key that was there before is then gone too: it was
/// being replaced). Without `force` nothing existing is replaced: both paths are
/// checked before anything is written. Throws wmark::Error naming the file that failed.
WMARK_API void save_marked_model(const WatermarkKey& key, const std::filesystem::path& key_path,
                                 torch::nn::Module& model, const CheckpointInfo& info,
                                 const std::filesystem::path& model_path, bool force);

}  // namespace wmark

// Internal: the two stages of schemes that craft their keys from a trained model
// (deepsigns-output, frontier-stitching): train (or take) the clean model, craft keys
// against it, then fine-tune with the keys mixed into the clean data.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "wmark/models/checkpoint.h"
#include "wmark/train/trainer.h"
#include "wmark/watermark/embed.h"
#include "wmark/watermark/embedder.h"

namespace wmark {

// The clean model the keys are crafted against.
struct CleanStage {
  TrainResult training;          // empty when the model came trained
  double accuracy_before = -1;   // its clean test accuracy (negative without a test split)
};

// Trains `model` on the clean training split unless `pretrained`; measures it either way.
CleanStage train_clean_model(const NetworkPtr& model, const DatasetSplits& splits, const TrainerOptions& training,
                             const CheckpointInfo& info, bool pretrained);

// Fine-tunes `model` with `keys` (images with the labels to learn) mixed into the clean
// data: a tenth of the LR unless the training has no schedule, no schedule, at most
// `epochs` epochs, stopping once every key is learnt, seed derived for `purpose`, at the
// automatic trigger ratio. The result's key is `base` with the keys' images and labels
// and that ratio; the clean stage's history and accuracy before are prepended.
EmbedResult fine_tune_on_keys(const NetworkPtr& model, const DatasetSplits& splits, const TrainerOptions& training,
                              const TriggerSet& keys, WatermarkKey base, std::int64_t epochs, const std::string& purpose,
                              const CheckpointInfo& info, const CleanStage& clean);

}  // namespace wmark

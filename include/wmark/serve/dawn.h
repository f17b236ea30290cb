/// \file
/// DAWN (Szyller et al., "DAWN: Dynamic Adversarial Watermarking of Neural Networks",
/// ACM MM 2021): the serving side marks its answers, not its model. For a keyed
/// fraction of inputs the served class is replaced by another one the key chooses; a
/// thief who trains a surrogate on the answers learns those changed answers, and the
/// server's log of them becomes a black-box key (method "dawn") that `wmark verify`
/// checks against the surrogate.
///
/// Which inputs: a keyed hash of the image (DawnChooser: its exact pixels, or a
/// perceptual bucket that near-twins of it share) below rate * 2^64 selects the input,
/// and gives the shift s in 1..C-1; the served class is (model's class + s) mod C.
/// A repeated query gets the same answer, whatever the protocol or input encoding.
///
/// What a proof rests on: the key's images are the clients' queries, not derived from
/// the secret, so a log written after a suspect appeared could be picked to fit it.
/// A DAWN key is evidence only with a time stamp from before the suspect existed
/// (`wmark claim` on the key made from the log so far); see docs/dawn.md.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "wmark/data/dataset.h"
#include "wmark/serve/dawn_chooser.h"
#include "wmark/util/export.h"
#include "wmark/watermark/key.h"

namespace wmark {

/// The answer-changing side of a server (InferenceServer calls it; thread-safe).
class WMARK_API DawnAnswers {
 public:
  /// Serves with `server_key` (method "dawn"), appending each changed answer to `log`
  /// as one JSON line {"image" (base64 pixels), "label" (served), "model_label",
  /// "time", "client"}; the log is created with mode 0600 if missing and appended to
  /// otherwise. Past `max_log_entries` lines in all, answers are still changed but no
  /// longer logged (a warning says so once). Throws wmark::Error naming the file if it
  /// cannot be opened, or for a key of another method.
  DawnAnswers(WatermarkKey server_key, std::filesystem::path log, std::int64_t max_log_entries = 1000000);
  ~DawnAnswers();
  DawnAnswers(const DawnAnswers&) = delete;
  DawnAnswers& operator=(const DawnAnswers&) = delete;

  /// Changes in place the rows of `logits` (float [N, classes]) whose image in `images`
  /// (uint8 [N,C,H,W], the pixels as received) DAWN picks: the model's class and the
  /// chosen one swap scores, so scores and label agree. Logs them with `client`.
  /// Returns the rows changed.
  std::int64_t apply(const at::Tensor& images, at::Tensor& logits, const std::string& client);
  /// Answers changed so far.
  std::int64_t changed() const;
  /// Entries in the log (including those of earlier runs).
  std::int64_t logged() const;
  /// The server key's input shape and class count, for checks against a served model.
  const WatermarkKey& server_key() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// The key that proves a surrogate learnt the logged answers: method "dawn", the server
/// key's secret and metadata, "images" and "labels" (the served classes) of the first
/// logged image of every bucket (DawnChooser::bucket: each distinct image when keyed on
/// pixels; one per bucket when perceptual, whose images share one keyed shift, so the
/// test's queries stay independent), "model_labels" (the model's own classes), params
/// {"rate", the keying, "log_entries", "log_sha256"}. Every line is checked against the secret (the input is
/// one DAWN picks and label = model_label + shift mod C); a line that fails, is not
/// JSON, exceeds 1 MiB or holds an image of another shape is an error naming the file
/// and line. At most `max_entries` lines are read.
WMARK_API WatermarkKey dawn_proof_key(const WatermarkKey& server_key, const std::filesystem::path& log,
                                      std::int64_t max_entries = 1000000);

}  // namespace wmark

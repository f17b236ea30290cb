/// \file
/// Whether a key is what its secret derives: the check that defeats keys chosen after
/// the fact (issue #17).
///
/// A false accuser can pick images, ask a victim model for its labels and store them as
/// a key, or pick a white-box projection after reading the victim's weights. A key whose
/// every trigger, label, projection and bit string is recomputed from its committed
/// secret (key_secret.h), the owner's public key and public inputs (the named dataset,
/// the options) leaves the accuser only one move: trying secrets until one happens to
/// fit, with probability C^-n per try for n triggers with random labels over C classes,
/// 2^-T for T white-box bits (docs/threat-model.md).
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "wmark/util/export.h"
#include "wmark/watermark/key.h"

namespace wmark {

/// The outcome of check_key_derivation().
struct KeyDerivation {
  /// Every secret part of the key was recomputed from its secret and is identical.
  bool derivable = false;
  /// Why not, in one sentence naming the part (empty when derivable).
  std::string reason;
};

/// Recomputes the key's secret parts from its secret, bound owner and public inputs and
/// compares them, through its scheme's Scheme::check_derivation() (watermark/scheme.h):
/// trigger sets made by the content (text stamps), noise and unrelated (from a public
/// dataset) generators from a full public training split, found under `data_dir` or
/// the standard lookup; Uchida keys (projection, and bits from the secret or from the
/// recorded signature text); DeepSigns keys (projection, bits, and key inputs drawn
/// from a full public split). Not derivable, with the reason: legacy (format-1) keys,
/// keys of a method no scheme is registered under, triggers or key inputs from user
/// files, folders or a private subset, keys whose parts differ from what the secret
/// derives, and deepsigns-output keys, whose labels depend on the model they were made
/// with. Throws wmark::Error when a dataset the derivation needs is missing.
WMARK_API KeyDerivation check_key_derivation(const WatermarkKey& key,
                                             const std::optional<std::filesystem::path>& data_dir = std::nullopt);

}  // namespace wmark

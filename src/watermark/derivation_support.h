// Internal: the pieces schemes' check_derivation() share (watermark/derivation.h).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <variant>

#include "wmark/data/dataset.h"
#include "wmark/watermark/derivation.h"
#include "wmark/watermark/key.h"

namespace wmark::derivation {

/// A verdict of "not derivable" for `reason`.
inline KeyDerivation not_derivable(std::string reason) { return {false, std::move(reason)}; }

/// True if `stored` equals `derived` in shape and value (compared in derived's dtype).
bool same(const at::Tensor& stored, const at::Tensor& derived);

/// The problem with a white-box key's "bits", or nullopt when they are the secret's
/// stream `purpose` or spell its recorded signature text.
std::optional<KeyDerivation> check_bits(const WatermarkKey& key, const std::string& purpose);

/// The public dataset the key's params `field` names ({dataset, size}), loaded in full,
/// or why the key's `what` cannot be re-derived from it. Throws wmark::Error when the
/// dataset is missing (an error of the verifier's setup, not a verdict).
std::variant<Dataset, KeyDerivation> public_sources(const WatermarkKey& key, const char* field, const char* what,
                                                    const std::optional<std::filesystem::path>& data_dir);

}  // namespace wmark::derivation

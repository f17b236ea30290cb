/// \file
/// Text for binary values (keys, signatures, digests, time-stamp tokens): lower-case
/// hexadecimal and standard Base64, by libsodium, which these helpers also start.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "wmark/util/export.h"

namespace wmark {

/// Initialises libsodium once (thread-safe); throws wmark::Error if it cannot start.
WMARK_API void ensure_sodium();

/// Lower-case hexadecimal of `size` bytes.
WMARK_API std::string hex_encode(const void* bytes, std::size_t size);

/// Decodes exactly 2 * `size` hex digits into `size` bytes at `out`; false (and `out`
/// unspecified) for any other input.
WMARK_API bool hex_decode(std::string_view hex, void* out, std::size_t size);

/// Whether `text` is exactly `digits` lower-case hexadecimal digits.
WMARK_API bool is_lower_hex(std::string_view text, std::size_t digits);

/// Standard Base64 with padding (RFC 4648, section 4).
WMARK_API std::string base64_encode(std::string_view bytes);

/// Decodes standard padded Base64 without whitespace; nullopt if malformed or if it would
/// decode to more than `max_bytes` bytes (checked before decoding).
WMARK_API std::optional<std::string> base64_decode(std::string_view text, std::size_t max_bytes);

}  // namespace wmark

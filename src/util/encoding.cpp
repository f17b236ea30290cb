#include "wmark/util/encoding.h"

#include <sodium.h>

#include "wmark/util/error.h"

namespace wmark {

void ensure_sodium() {
  // Once per process: callers sit on hot paths (DAWN hashes every served image).
  static const bool initialised = sodium_init() >= 0;
  WMARK_CHECK(initialised, "libsodium failed to initialise");
}

std::string hex_encode(const void* bytes, std::size_t size) {
  std::string hex(2 * size + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), static_cast<const unsigned char*>(bytes), size);
  hex.pop_back();
  return hex;
}

bool hex_decode(std::string_view hex, void* out, std::size_t size) {
  std::size_t length = 0;
  const char* end = nullptr;
  return hex.size() == 2 * size &&
         sodium_hex2bin(static_cast<unsigned char*>(out), size, hex.data(), hex.size(), nullptr, &length, &end) == 0 &&
         length == size && end == hex.data() + hex.size();
}

bool is_lower_hex(std::string_view text, std::size_t digits) {
  return text.size() == digits && text.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

std::string base64_encode(std::string_view bytes) {
  constexpr int variant = sodium_base64_VARIANT_ORIGINAL;
  std::string text(sodium_base64_ENCODED_LEN(bytes.size(), variant), '\0');
  sodium_bin2base64(text.data(), text.size(), reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(),
                    variant);
  text.pop_back();  // the terminating NUL
  return text;
}

std::optional<std::string> base64_decode(std::string_view text, std::size_t max_bytes) {
  if (text.size() % 4 != 0 || text.size() / 4 * 3 > max_bytes + 2) return std::nullopt;
  std::string bytes(text.size() / 4 * 3, '\0');
  std::size_t length = 0;
  const char* end = nullptr;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(bytes.data()), bytes.size(), text.data(), text.size(),
                        nullptr, &length, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != text.data() + text.size() || length > max_bytes)
    return std::nullopt;
  bytes.resize(length);
  return bytes;
}

}  // namespace wmark

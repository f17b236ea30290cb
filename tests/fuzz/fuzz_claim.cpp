// Ownership claims and identity files: check_claim() on any JSON, and the public and
// secret key file readers.
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "fuzz_input.h"
#include "wmark/claim/claim.h"
#include "wmark/claim/identity.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string public_key(64, 'a');
  const auto claim = nlohmann::json::parse(data, data + size, nullptr, false);
  if (!claim.is_discarded()) {
    const auto check = wmark::check_claim(claim, public_key);
    if (check.valid) __builtin_trap();  // nothing random is signed by this key
  }
  const auto path = wmark::fuzz::input_file(data, size, ".key");
  chmod(path.c_str(), 0600);
  wmark::fuzz::expect_value_or_error([&] { wmark::load_public_key(path); });
  wmark::fuzz::expect_value_or_error([&] { wmark::Identity::load(path); });
  return 0;
}

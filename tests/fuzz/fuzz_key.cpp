// Watermark key files (key.wmk): header JSON, tensor table, payload, commitment.
#include "fuzz_input.h"
#include "wmark/watermark/key.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto path = wmark::fuzz::input_file(data, size);
  wmark::fuzz::expect_value_or_error([&] { wmark::WatermarkKey::load(path).public_info(); });
  return 0;
}

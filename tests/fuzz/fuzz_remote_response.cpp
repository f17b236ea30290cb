// What a suspect's server sends the remote client: V2 model metadata, V2 infer
// responses (JSON, or JSON + binary tensor data) and V1 predictions, decoded under the
// limits the client uses for a batch of 16.
#include "fuzz_input.h"
#include "wmark/protocol/inference_protocol.h"
#include "wmark/protocol/model_metadata.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace wmark::protocol;
  if (size < 1) return 0;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  DecodeLimits limits;
  limits.max_json_values = 16 * (1 << 16) + 4096;
  limits.max_elements = 1 << 16;
  wmark::fuzz::expect_value_or_error([&] {
    switch (data[0] % 4) {
      case 0: {
        const auto metadata = decode_v2_model_metadata(text, limits);
        if (metadata.input_shape.size() > 8) __builtin_trap();  // the documented bound
        break;
      }
      case 1: decode_infer_response({text, std::nullopt}, limits); break;
      case 2: decode_infer_response({text, static_cast<std::size_t>(data[0] >> 2) * 4}, limits); break;
      default: decode_v1_predictions(text, limits); break;
    }
  });
  return 0;
}

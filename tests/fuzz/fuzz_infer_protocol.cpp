// HTTP bodies of the serving protocols: V2 requests and responses (JSON, or JSON +
// binary tensor data with the first two bytes giving the JSON length), V1 requests and
// predictions (the remote client's response parsers among them).
#include "fuzz_input.h"
#include "wmark/protocol/inference_protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace wmark::protocol;
  if (size < 1) return 0;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  DecodeLimits limits;
  limits.max_elements = 1 << 16;
  wmark::fuzz::expect_value_or_error([&] {
    switch (data[0] % 5) {
      case 0: decode_infer_request({text, std::nullopt}, limits); break;
      case 1: decode_infer_request({text, static_cast<std::size_t>(data[0]) * 2}, limits); break;
      case 2: decode_infer_response({text, text.empty() ? std::nullopt : std::optional<std::size_t>(text.size() / 2)}, limits); break;
      case 3: decode_v1_request(text, limits); break;
      default: decode_v1_predictions(text, limits); break;
    }
  });
  return 0;
}

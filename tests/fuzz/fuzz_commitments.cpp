// What owner and verifier hand each other in an adi dispute (watermark/trigger_commitments.h),
// each side possibly hostile: published commitments, open requests and openings, alone
// and as a whole exchange {"published": ..., "request": ..., "opening": ...}.
#include <nlohmann/json.hpp>

#include "fuzz_input.h"
#include "wmark/claim/claim.h"
#include "wmark/watermark/trigger_commitments.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto path = wmark::fuzz::input_file(data, size, ".json");
  wmark::fuzz::expect_value_or_error([&] {
    const auto document = wmark::read_json_object(path);
    wmark::fuzz::expect_value_or_error([&] { wmark::open_request(document, 1); });
    wmark::fuzz::expect_value_or_error([&] { wmark::requested_triggers(document, std::string(64, '0')); });
    wmark::fuzz::expect_value_or_error([&] { wmark::opening_from_json(document); });
    if (document.contains("published") && document.contains("request") && document.contains("opening")) {
      wmark::fuzz::expect_value_or_error([&] {
        wmark::key_from_exchange(document["published"], document["request"], document["opening"]);
      });
    }
  });
  return 0;
}

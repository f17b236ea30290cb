// RFC 3161 time stamps: what a TSA answers and what a claim or token file carries.
// The first byte picks the reader; for the checks that need trust anchors the input is
// PEM certificates up to the last "-----END CERTIFICATE-----\n", then the DER bytes.
#include <string>

#include "fuzz_input.h"
#include "wmark/claim/timestamp.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static const std::string commitment(64, '0');  // fuzz.sh's seeds stamp this commitment
  static const auto request = wmark::make_timestamp_request(commitment);
  const std::string input(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::string end_marker = "-----END CERTIFICATE-----\n";
  const auto split = input.rfind(end_marker);
  const auto pem = split == std::string::npos ? std::string() : input.substr(0, split + end_marker.size());
  const auto der = split == std::string::npos ? input : input.substr(split + end_marker.size());
  switch (data[0] % 3) {
    case 0:
      wmark::fuzz::expect_value_or_error([&] { wmark::read_timestamp_token(input, "token"); });
      break;
    case 1:
      wmark::fuzz::expect_value_or_error([&] { wmark::verify_timestamp_token(der, commitment, pem, "token"); });
      break;
    default:
      wmark::fuzz::expect_value_or_error([&] { wmark::accept_timestamp_response(der, request, pem, "response"); });
  }
  return 0;
}

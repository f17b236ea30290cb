#include "wmark/watermark/fingerprint.h"

#include <torch/torch.h>

#include <array>
#include <vector>

#include "wmark/util/error.h"
#include "wmark/watermark/whitebox/uchida.h"

namespace wmark {
namespace {

// The points (equally, the lines) of PG(2, q): one representative of each 1-dimensional
// subspace of F_q^3, its first non-zero coordinate 1.
std::vector<std::array<std::int64_t, 3>> projective_points(std::int64_t q) {
  std::vector<std::array<std::int64_t, 3>> points;
  for (std::int64_t a = 0; a < q; ++a)
    for (std::int64_t b = 0; b < q; ++b) points.push_back({1, a, b});
  for (std::int64_t a = 0; a < q; ++a) points.push_back({0, 1, a});
  points.push_back({0, 0, 1});
  return points;
}

bool is_prime(std::int64_t n) {
  for (std::int64_t d = 2; d * d <= n; ++d)
    if (n % d == 0) return false;
  return n >= 2;
}

}  // namespace

at::Tensor anti_collusion_codes(std::int64_t order) {
  WMARK_CHECK(order >= 2 && order <= 31 && is_prime(order), "deepmarks: the code order must be a prime in [2, 31], got ",
              order);
  const auto points = projective_points(order);
  const auto v = static_cast<std::int64_t>(points.size());
  auto codes = torch::ones({v, v}, torch::kUInt8);
  auto* out = codes.data_ptr<std::uint8_t>();
  // Point p lies on line l when their dot product is 0 mod q; user l's code is 0 there.
  for (std::int64_t l = 0; l < v; ++l)
    for (std::int64_t p = 0; p < v; ++p) {
      const auto& a = points[static_cast<std::size_t>(l)];
      const auto& b = points[static_cast<std::size_t>(p)];
      if ((a[0] * b[0] + a[1] * b[1] + a[2] * b[2]) % order == 0) out[l * v + p] = 0;
    }
  return codes;
}

ColluderTrace trace_colluders(Network& model, const WatermarkKey& key) {
  WMARK_CHECK(key.method == "deepmarks", "colluders are traced with a deepmarks key, not a '", key.method, "' key");
  const auto order = key.params.value("order", std::int64_t{0});
  const auto codes = anti_collusion_codes(order);
  const auto v = codes.size(0);
  const auto scores = projected_kernel(model, key.params.value("layer", std::string()), key.tensor("projection"));
  WMARK_CHECK(scores.size(0) % v == 0, "malformed deepmarks key: ", scores.size(0), " projections for a code of ", v,
              " bits");
  ColluderTrace trace;
  trace.levels = scores.view({v, -1}).mean(1);
  trace.code = trace.levels.gt(2.0 / 3.0).to(torch::kUInt8);
  const auto zeros = trace.code.eq(0);
  auto covered = torch::zeros({v}, torch::kBool);
  for (std::int64_t user = 0; user < v; ++user) {
    const auto line = codes[user].eq(0);
    if ((line & zeros).equal(line)) {
      trace.users.push_back(user);
      covered |= line;
    }
  }
  const auto accused = static_cast<std::int64_t>(trace.users.size());
  if (accused == 0) {
    trace.reason = "no user's code word explains the code read from the model";
  } else if (accused > order) {
    trace.reason = "the code read fits " + std::to_string(accused) + " users, more than the " + std::to_string(order) +
                   " colluders the code resists: no fingerprint of this key, or too many colluders";
  } else if (!covered.equal(zeros)) {
    trace.reason = "the code read is not the AND of the accused users' code words";
  }
  trace.traceable = trace.reason.empty();
  if (!trace.traceable) trace.users.clear();
  return trace;
}

}  // namespace wmark

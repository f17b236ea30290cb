// DeepMarks fingerprints: each user's copy carries its code word; colluders who average
// their copies are named by the average, and nobody is named from a clean model.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include "../support/test_support.h"
#include "small_mnist.h"
#include "wmark/models/clone.h"
#include "wmark/train/evaluate.h"
#include "wmark/util/error.h"
#include "wmark/verify/verifier.h"
#include "wmark/watermark/fingerprint.h"
#include "wmark/watermark/scheme.h"

using namespace wmark;
using Catch::Matchers::Contains;

namespace {

struct Copy {
  NetworkPtr model;
  WatermarkKey key;
};

// Users 0, 5 and 9 of an order-3 code (13 users), each fine-tuned from the same clean model
// under one owner secret.
const std::map<std::int64_t, Copy>& copies() {
  static const std::map<std::int64_t, Copy> made = [] {
    std::map<std::int64_t, Copy> out;
    for (const std::int64_t user : {0, 5, 9}) {
      auto model = clone_network(*test::small_mnist().clean_a, [] { return test::SmallMnist::fresh(0); });
      auto result = embed_watermark("deepmarks", {{"order", 3}, {"user", user}},
                                    test::small_mnist_request(model, "deepmarks-owner", true));
      out[user] = {model, result.key};
    }
    return out;
  }();
  return made;
}

// The colluders' attack: every weight the mean of their copies'.
NetworkPtr average(const std::vector<std::int64_t>& users) {
  auto mixed = clone_network(*copies().at(users[0]).model, [] { return test::SmallMnist::fresh(0); });
  torch::NoGradGuard no_grad;
  for (auto& item : mixed->named_parameters()) {
    auto sum = torch::zeros_like(item.value());
    for (const auto user : users) sum += copies().at(user).model->named_parameters()[item.key()];
    item.value().copy_(sum / static_cast<double>(users.size()));
  }
  return mixed;
}

}  // namespace

TEST_CASE("the anti-collusion codes are the lines of a projective plane", "[watermark]") {
  for (const std::int64_t q : {2, 3, 5}) {
    const auto codes = anti_collusion_codes(q);
    const auto v = q * q + q + 1;
    REQUIRE(codes.sizes() == torch::IntArrayRef({v, v}));
    const auto zeros = codes.eq(0).to(torch::kLong);
    CHECK(zeros.sum(1).eq(q + 1).all().item<bool>());        // q+1 points per line
    const auto meet = zeros.matmul(zeros.t());                // points two lines share
    CHECK(meet.diagonal().eq(q + 1).all().item<bool>());
    CHECK((meet + torch::eye(v, torch::kLong) * (1 - (q + 1))).eq(1).all().item<bool>());  // any two meet once
  }
  CHECK_THROWS_WITH(anti_collusion_codes(4), Contains("prime in [2, 31]"));
  CHECK_THROWS_WITH(anti_collusion_codes(37), Contains("prime in [2, 31]"));
  CHECK_THROWS_WITH(scheme_registry().create("deepmarks", {{"order", 3}, {"user", 13}}), Contains("user 13 does not exist"));
  CHECK_THROWS_WITH(scheme_registry().create("deepmarks", {{"order", 6}}), Contains("prime"));
  // --users N picks the smallest code with N users: PG(2,q) has q^2+q+1 lines for prime q.
  const auto order_for = [](const nlohmann::json& options) {
    return scheme_registry().create("deepmarks", options)->options().at("order").get<int>();
  };
  CHECK(order_for(nlohmann::json::object()) == 3);
  CHECK(order_for({{"users", 7}}) == 2);
  CHECK(order_for({{"users", 8}}) == 3);
  CHECK(order_for({{"users", 14}}) == 5);  // 4 is not prime
  CHECK(order_for({{"users", 993}}) == 31);
  CHECK(order_for({{"users", 7}, {"order", 5}}) == 5);
  CHECK_THROWS_WITH(scheme_registry().create("deepmarks", {{"users", 20}, {"order", 3}}),
                    Contains("order 3 has 13 users, fewer than the 20 asked for"));
  CHECK_THROWS_WITH(scheme_registry().create("deepmarks", {{"users", 994}}), Contains("'users' must be at most 993"));
  CHECK_THROWS_WITH(scheme_registry().create("deepmarks", {{"users", 7}, {"user", 7}}), Contains("user 7 does not exist"));
}

TEST_CASE("each user's copy verifies with its own key and names its user", "[watermark]") {
  const Verifier verifier;
  for (const auto& [user, copy] : copies()) {
    INFO("user " << user);
    CHECK(accuracy(*copy.model, test::small_mnist().splits.test, torch::kCPU) > 0.85);
    const auto own = verifier.verify_model(*copy.model, copy.key, "copy", torch::kCPU);
    CHECK(own.verified);
    CHECK(own.bit_error_rate == 0.0);
    const auto trace = trace_colluders(*copy.model, copy.key);
    CHECK(trace.traceable);
    CHECK(trace.users == std::vector<std::int64_t>{user});
    for (const auto& [other, other_copy] : copies()) {
      if (other != user) CHECK_FALSE(verifier.verify_model(*copy.model, other_copy.key, "copy", torch::kCPU).verified);
    }
  }
  // The clean model the copies came from carries no fingerprint: nobody is accused.
  const auto clean = trace_colluders(*test::small_mnist().clean_a, copies().at(0).key);
  CHECK_FALSE(clean.traceable);
  CHECK(clean.users.empty());
  CHECK_FALSE(verifier.verify_model(*test::small_mnist().clean_a, copies().at(0).key, "clean", torch::kCPU).verified);
}

TEST_CASE("colluders who average their copies are traced: two and three of them", "[watermark]") {
  for (const auto& colluders : {std::vector<std::int64_t>{0, 5}, std::vector<std::int64_t>{5, 9},
                                std::vector<std::int64_t>{0, 5, 9}}) {
    const auto mixed = average(colluders);
    INFO("colluders " << colluders.size());
    // The average still works: the attack is worth trying.
    CHECK(accuracy(*mixed, test::small_mnist().splits.test, torch::kCPU) > 0.85);
    // Any user's key traces them (the projections are the owner's, the code is public).
    const auto trace = trace_colluders(*mixed, copies().at(9).key);
    INFO("levels " << trace.levels);
    CHECK(trace.traceable);
    CHECK(trace.users == colluders);
  }
  CHECK_THROWS_WITH(trace_colluders(*average({0, 5}), WatermarkKey()), Contains("traced with a deepmarks key"));
}

// Adi et al.'s scheme: abstract images drawn from the secret alone, and per-trigger
// commitments that let an owner open only the triggers the verifier asks for.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include "../support/test_support.h"
#include "small_mnist.h"
#include "wmark/data/subset.h"
#include "wmark/models/registry.h"
#include "wmark/train/evaluate.h"
#include "wmark/train/trainer.h"
#include "wmark/util/error.h"
#include "wmark/verify/verifier.h"
#include "wmark/watermark/derivation.h"
#include "wmark/watermark/scheme.h"
#include "wmark/watermark/trigger/abstract_trigger.h"
#include "wmark/util/encoding.h"
#include "wmark/watermark/trigger_commitments.h"

using namespace wmark;
using Catch::Matchers::Contains;
using json = nlohmann::json;

namespace {

struct AdiFixture {
  NetworkPtr marked;
  NetworkPtr clean;  // same data, other initialisation, never marked
  WatermarkKey key;
};

const AdiFixture& adi() {
  static const AdiFixture fixture = [] {
    AdiFixture f;
    f.marked = test::SmallMnist::fresh(7);
    f.key = embed_watermark("adi", {{"trigger_size", 60}}, test::small_mnist_request(f.marked, "adi-test")).key;
    f.clean = test::small_mnist().clean_a;
    return f;
  }();
  return fixture;
}

Dataset shape_of(std::int64_t channels, std::int64_t side) {
  Dataset d;
  d.images = torch::zeros({1, channels, side, side}, torch::kUInt8);
  d.labels = torch::zeros({1}, torch::kLong);
  d.num_classes = 10;
  return d;
}

}  // namespace

TEST_CASE("abstract triggers are varied images of the model's shape, from the secret alone", "[watermark]") {
  TriggerSpec spec;
  spec.size = 40;
  spec.label_policy = "random";
  spec.secret = experiment_secret(1, "abstract");
  const AbstractTrigger generator;
  for (const auto& [channels, side] : {std::pair<std::int64_t, std::int64_t>{1, 28}, {3, 32}}) {
    const auto set = generator.generate(shape_of(channels, side), spec);
    REQUIRE(set.images.sizes() == torch::IntArrayRef({40, channels, side, side}));
    // Not flat: every image spans a wide range of intensities and differs from the others.
    const auto pixels = set.images.to(torch::kFloat).view({40, -1});
    CHECK((std::get<0>(pixels.max(1)) - std::get<0>(pixels.min(1))).min().item<float>() > 60);
    CHECK(torch::cdist(pixels, pixels).add(torch::eye(40) * 1e9).min().item<float>() > 100);
    CHECK(set.source_labels.eq(-1).all().item<bool>());
    CHECK(std::get<0>(at::_unique(set.labels)).size(0) >= 7);
  }
  // Only the secret and the shape matter: no training image enters.
  auto other_data = shape_of(1, 28);
  other_data.images.fill_(255);
  CHECK(torch::equal(generator.generate(shape_of(1, 28), spec).images, generator.generate(other_data, spec).images));
  CHECK_THROWS_WITH(AbstractTrigger(AbstractTriggerOptions().shapes(0)), Contains("the abstract trigger: 'shapes' must be at least 1"));
  CHECK_THROWS_WITH(scheme_registry().create("adi", {{"shapes", 65}}), Contains("'shapes' must be at most 64"));
}

TEST_CASE("an adi key re-derives from its secret, commitments included", "[watermark]") {
  const auto& key = adi().key;
  CHECK(key.method == "adi");
  CHECK(key.tensor("commitments").sizes() == torch::IntArrayRef({60, 32}));
  CHECK(check_key_derivation(key, std::nullopt).derivable);
  auto relabelled = key;
  relabelled.tensors["labels"] = (key.tensor("labels") + 1).remainder(10);
  CHECK_THAT(check_key_derivation(relabelled, std::nullopt).reason, Contains("labels are not the ones"));
  auto recommitted = key;
  recommitted.tensors["commitments"] = torch::zeros_like(key.tensor("commitments"));
  CHECK_THAT(check_key_derivation(recommitted, std::nullopt).reason, Contains("commitments are not the ones"));
}

TEST_CASE("opening the triggers the verifier asks for proves the marked model and not a clean one", "[watermark]") {
  const auto& f = adi();
  const auto published = json::parse(published_commitments(f.key).dump());  // as a file would carry it
  // The published document reveals no trigger, label, seed or secret.
  CHECK_FALSE(published.contains("labels"));
  CHECK(published.dump().find(f.key.secret.hex()) == std::string::npos);
  const auto seeds = trigger_seeds(f.key.secret, 60);
  const auto seed_hex = opening_to_json({{0}, seeds.narrow(0, 0, 1)})["seeds"][0].get<std::string>();
  CHECK(published.dump().find(seed_hex) == std::string::npos);
  CHECK(published["commitments"].size() == 60);

  const Verifier verifier;
  int marked_verified = 0, clean_verified = 0;
  for (int round = 0; round < 5; ++round) {
    const auto requested = choose_triggers_to_open(60, 30);
    const auto key = opened_key(published, open_triggers(f.key, requested), requested);
    // Re-drawn from the seeds alone, the opened triggers are the key's own.
    const auto at = torch::tensor(requested);
    CHECK(torch::equal(key.tensor("images"), f.key.tensor("images").index_select(0, at)));
    CHECK(torch::equal(key.tensor("labels"), f.key.tensor("labels").index_select(0, at)));
    marked_verified += verifier.verify_model(*f.marked, key, "marked", torch::kCPU).verified;
    const auto clean = verifier.verify_model(*f.clean, key, "clean", torch::kCPU);
    CHECK(clean.chance_rate == Approx(0.1));
    clean_verified += clean.verified;
  }
  CHECK(marked_verified == 5);
  CHECK(clean_verified == 0);
}

TEST_CASE("an owner cannot open triggers of their choosing or other triggers than committed", "[watermark]") {
  const auto& f = adi();
  const auto published = published_commitments(f.key);
  // The false accuser's move: open exactly the triggers a clean model happens to match.
  const auto answers = predict_labels(*f.clean, f.key.tensor("images"), f.key.normalization, torch::kCPU);
  std::vector<std::int64_t> lucky;
  for (std::int64_t i = 0; i < 60; ++i)
    if (answers[i].item<std::int64_t>() == f.key.tensor("labels")[i].item<std::int64_t>()) lucky.push_back(i);
  REQUIRE_FALSE(lucky.empty());
  const auto lucky_key = opened_key(published, open_triggers(f.key, lucky), lucky);
  CHECK(Verifier().verify_model(*f.clean, lucky_key, "clean", torch::kCPU).match_rate == 1.0);  // the danger
  const auto requested = choose_triggers_to_open(60, static_cast<std::int64_t>(lucky.size()));
  if (requested != lucky) {
    CHECK_THROWS_WITH(opened_key(published, open_triggers(f.key, lucky), requested),
                      Contains("does not open the triggers the verifier requested"));
  }

  // Seeds that do not open their commitments: altered, or of another key.
  const auto asked = choose_triggers_to_open(60, 10);
  const auto opening = open_triggers(f.key, asked);
  auto altered = opening;
  altered.seeds = opening.seeds.clone();
  altered.seeds[3][0] = static_cast<std::uint8_t>(altered.seeds[3][0].item<int>() ^ 1);
  CHECK_THROWS_WITH(opened_key(published, altered, asked),
                    Contains("opened trigger " + std::to_string(asked[3]) + " does not open its published commitment"));
  auto other = opening;
  other.seeds = trigger_seeds(experiment_secret(32, "adi-other"), 60).index_select(0, torch::tensor(asked));
  CHECK_THROWS_WITH(opened_key(published, other, asked), Contains("does not open its published commitment"));

  // The opening travels as JSON; malformed documents are refused with the reason.
  const auto through_json = opening_from_json(json::parse(opening_to_json(opening).dump()));
  CHECK(through_json.indices == opening.indices);
  CHECK(torch::equal(through_json.seeds, opening.seeds));
  CHECK_THROWS_WITH(opening_from_json({{"format", "wmark-trigger-opening-1"}, {"indices", {1}}, {"seeds", {"zz"}}}),
                    Contains("seed 0 is not 64 hex digits"));
  CHECK_THROWS_WITH(opening_from_json({{"format", "wmark-trigger-opening-1"}, {"indices", {1, 2}}, {"seeds", {}}}),
                    Contains("same length"));
  CHECK_THROWS_WITH(opening_from_json(json::array()), Contains("not a wmark-trigger-opening-1"));
  auto broken = published;
  broken["commitments"][asked[0]] = "zz";
  CHECK_THROWS_WITH(opened_key(broken, opening, asked), Contains("is not 64 hex digits"));
  broken = published;
  broken["commitments"] = json::array({published["commitments"][0]});
  CHECK_THROWS_WITH(opened_key(broken, opening, asked), Contains("does not exist"));
  broken = published;
  broken["input_shape"] = {1, 100000, 100000};
  CHECK_THROWS_WITH(opened_key(broken, opening, asked), Contains("[1, 1024]"));
  broken = published;
  broken["generator_options"] = {{"shapes", 1000}};
  CHECK_THROWS_WITH(opened_key(broken, opening, asked), Contains("\"shapes\" must be in [1, 64]"));
  CHECK_THROWS_WITH(opened_key(json::object(), opening, asked), Contains("not a wmark-trigger-commitments-1"));
  broken = published;
  broken["format"] = 7;  // a wrong type is a wmark::Error naming the document, not a JSON library exception
  CHECK_THROWS_WITH(opened_key(broken, opening, asked), Contains("not a wmark-trigger-commitments-1"));
  broken = published;
  broken["dataset"] = 5;
  CHECK_THROWS_WITH(opened_key(broken, opening, asked), Contains("\"dataset\" must be text"));

  // The documents as the CLI reads them: published, the verifier's request, the opening.
  const json request = {{"format", "wmark-open-request-1"}, {"key_commitment", f.key.commitment()}, {"indices", asked}};
  const auto exchanged = key_from_exchange(published, request, opening_to_json(opening));
  CHECK(torch::equal(exchanged.tensor("images"), opened_key(published, opening, asked).tensor("images")));
  auto for_other_key = request;
  for_other_key["key_commitment"] = std::string(64, '0');
  CHECK_THROWS_WITH(key_from_exchange(published, for_other_key, opening_to_json(opening)), Contains("another key"));
  CHECK_THROWS_WITH(key_from_exchange(json::array(), request, opening_to_json(opening)), Contains("not a JSON object"));

  // A hostile owner commits to their own seeds for huge images: the verifier would draw
  // 100 images of 4x1024x1024 (400 MiB); opened trigger pixels are bounded.
  const auto own_seeds = torch::randint(0, 256, {100, 32}, torch::kUInt8);
  const auto own_commitments = commit_seeds(own_seeds);
  auto huge = published;
  huge["input_shape"] = {4, 1024, 1024};
  huge["commitments"] = json::array();
  std::vector<std::int64_t> all(100);
  for (std::int64_t i = 0; i < 100; ++i) {
    all[i] = i;
    huge["commitments"].push_back(hex_encode(own_commitments[i].data_ptr<std::uint8_t>(), 32));
  }
  CHECK_THROWS_WITH(opened_key(huge, TriggerOpening{all, own_seeds}, all), Contains("exceed the limit"));
  const std::vector<std::int64_t> few{0, 1};
  CHECK(opened_key(huge, TriggerOpening{few, own_seeds.narrow(0, 0, 2)}, few).tensor("images").size(3) == 1024);
  CHECK_THROWS_WITH(open_triggers(f.key, {0, 0}), Contains("opened twice"));
  CHECK_THROWS_WITH(open_triggers(f.key, {60}), Contains("does not exist"));
  CHECK_THROWS_WITH(choose_triggers_to_open(60, 61), Contains("cannot open 61 of 60"));
  CHECK_THROWS_WITH(published_commitments(WatermarkKey()), Contains("only adi keys"));
}

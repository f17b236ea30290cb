// Signed ownership: identities, key signatures and claims that a third party checks with
// the public key alone; any altered byte of a claim is caught.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <chrono>
#include <cmath>

#include "../support/test_support.h"
#include "../support/watermarked_fixture.h"
#include "wmark/claim/claim.h"
#include "wmark/claim/identity.h"
#include "wmark/util/error.h"
#include "wmark/util/files.h"
#include "wmark/util/sha256.h"
#include "wmark/verify/statistics.h"
#include "wmark/verify/verifier.h"

using namespace wmark;
using json = nlohmann::json;
namespace fs = std::filesystem;

using test::verified_report;

TEST_CASE("an identity is written 0600, read back, and refused when others may read it", "[claim]") {
  test::TempDir dir;
  const auto owner = Identity::generate();
  owner.save(dir / "owner");
  const auto secret = dir / "owner.key";
  CHECK((fs::status(secret).permissions() & fs::perms::all) == (fs::perms::owner_read | fs::perms::owner_write));
  CHECK(load_public_key(dir / "owner.pub") == owner.public_key());
  const auto loaded = Identity::load(secret);
  CHECK(loaded.public_key() == owner.public_key());
  CHECK(verify_signature(owner.public_key(), "message", loaded.sign("message")));
  CHECK_FALSE(verify_signature(owner.public_key(), "message!", loaded.sign("message")));
  CHECK_FALSE(verify_signature(Identity::generate().public_key(), "message", loaded.sign("message")));
  CHECK_FALSE(verify_signature("zz", "message", "00"));

  CHECK_THROWS_WITH(owner.save(dir / "owner"), Catch::Contains("exists"));       // no silent overwrite
  CHECK_THROWS_WITH(load_public_key(secret), Catch::Contains("secret identity"));  // a .key is not handed out
  fs::permissions(secret, fs::perms::group_read, fs::perm_options::add);
  CHECK_THROWS_WITH(Identity::load(secret), Catch::Contains("chmod 600"));
  fs::permissions(secret, fs::perms::group_read, fs::perm_options::remove);
  // A public key swapped in the secret file is caught.
  auto document = json::parse(read_file(secret));
  document["public_key"] = Identity::generate().public_key();
  write_file_atomic(secret, document.dump(), true, fs::perms::owner_read | fs::perms::owner_write);
  CHECK_THROWS_WITH(Identity::load(secret), Catch::Contains("does not belong"));
  test::write_bytes(dir / "junk.key", "{\"format\": 1}", true);
  fs::permissions(dir / "junk.key", fs::perms::owner_read | fs::perms::owner_write);
  CHECK_THROWS_WITH(Identity::load(dir / "junk.key"), Catch::Contains("junk.key"));
}

TEST_CASE("a signed key keeps its commitment and its signature through save and load", "[claim]") {
  test::TempDir dir;
  const auto& owner = *test::watermarked_mnist().owner;  // the identity its secret is bound to
  auto key = test::watermarked_mnist().key;
  const auto commitment = key.commitment();
  CHECK_THROWS_WITH(sign_key(key, Identity::generate()), Catch::Contains("bound to another owner"));
  sign_key(key, owner);
  CHECK(key.commitment() == commitment);
  CHECK(key_signature_valid(key, owner.public_key()));
  CHECK_FALSE(key_signature_valid(key, Identity::generate().public_key()));
  key.save(dir / "key.wmk");
  const auto loaded = WatermarkKey::load(dir / "key.wmk");
  CHECK(key_signature_valid(loaded, owner.public_key()));
  CHECK(loaded.public_info()["signature"]["public_key"] == owner.public_key());
  // The signature covers the metadata: a key relabelled as another dataset fails it.
  auto relabelled = loaded;
  relabelled.dataset = "cifar10";
  CHECK_FALSE(key_signature_valid(relabelled, owner.public_key()));
}

TEST_CASE("a claim checks with the owner's public key, and fails with any other", "[claim]") {
  const auto& owner = *test::watermarked_mnist().owner;  // the identity its secret is bound to
  auto key = test::watermarked_mnist().key;
  sign_key(key, owner);
  const auto claim = make_claim(key, verified_report(), owner);
  CHECK(claim["commitment"] == key.commitment());
  // Public: no seed, no labels, no trigger bytes (tensor shapes only).
  CHECK(claim.dump().find("\"seed\"") == std::string::npos);
  CHECK(claim.dump().size() < 8000);
  const auto check = check_claim(claim, owner.public_key());
  INFO((check.problems.empty() ? "" : check.problems.front()));
  CHECK(check.valid);
  const auto other = check_claim(claim, Identity::generate().public_key());
  CHECK_FALSE(other.valid);
  CHECK_THAT(other.problems.front(), Catch::Contains("signed by another key"));

  // make_claim refuses what a claim cannot stand on.
  auto unverified = verified_report();
  unverified["verified"] = false;
  CHECK_THROWS_WITH(make_claim(key, unverified, owner), Catch::Contains("does not verify"));
  auto other_key = verified_report();
  other_key["key_commitment"] = std::string(64, '0');
  CHECK_THROWS_WITH(make_claim(key, other_key, owner), Catch::Contains("another key"));
  auto inflated = verified_report();  // numbers that do not give the stated p-value
  inflated["matches"] = inflated["matches"].get<int>() - 10;
  inflated["match_rate"] = inflated["matches"].get<double>() / inflated["queries"].get<double>();
  CHECK_THROWS_WITH(make_claim(key, inflated, owner), Catch::Contains("log10_p_value"));
  CHECK_THROWS_WITH(make_claim(key, verified_report(), Identity::generate()), Catch::Contains("signed by another"));
}

namespace {

// The owner as false accuser: edits the report, recomputes what the report derives,
// and signs the result with their own (valid) identity.
json resigned(json claim, const Identity& owner) {
  auto& r = claim["report"];
  const auto n = r["queries"].get<std::int64_t>(), k = r["matches"].get<std::int64_t>();
  r["match_rate"] = static_cast<double>(k) / static_cast<double>(n);
  double log10_p = n <= kMaxBinomialCount ? binomial_upper_tail_log10(k, n, r["chance_rate"].get<double>()) : 0.0;
  if (r.contains("control") && r["control"].contains("queries") && k <= n && n < kMaxFisherCount) {
    const auto& c = r["control"];  // a target-label key's control answers: Fisher's test too
    log10_p = std::max(log10_p, fisher_exact_greater_log10(k, n, c["target_answers"].get<std::int64_t>(),
                                                           c["queries"].get<std::int64_t>()));
  }
  r["log10_p_value"] = log10_p;
  r["p_value"] = std::pow(10.0, log10_p);
  r["verified"] = log10_p < std::log10(r["p_threshold"].get<double>()) &&
                  r["match_rate"].get<double>() >= r["min_match_rate"].get<double>();
  claim.erase("signature");
  claim["signature"] = owner.sign("wmark-claim-v1\n" + claim.dump());
  return claim;
}

std::string problems_of(const ClaimCheck& check) {
  std::string all;
  for (const auto& p : check.problems) all += p + "\n";
  return all;
}

}  // namespace

TEST_CASE("a signed claim cannot assert more than its key and the evidence standard allow", "[claim]") {
  const auto& owner = *test::watermarked_mnist().owner;  // the identity its secret is bound to
  auto key = test::watermarked_mnist().key;
  sign_key(key, owner);
  const auto honest = make_claim(key, verified_report(), owner);
  REQUIRE(check_claim(resigned(honest, owner), owner.public_key()).valid);  // re-signing alone changes nothing
  const auto triggers = key.tensor("labels").size(0);

  // Weak evidence called "verified" by lowering the bars: p = 0.3 at threshold 0.9.
  auto weak = honest;
  weak["report"]["matches"] = 6;
  weak["report"]["p_threshold"] = 0.9;
  weak["report"]["min_match_rate"] = 0.1;
  auto check = check_claim(resigned(weak, owner), owner.public_key());
  CHECK_FALSE(check.valid);
  CHECK_THAT(problems_of(check), Catch::Contains("above 1e-6") && Catch::Contains("below 0.5") &&
                                     Catch::Contains("not verified by its numbers"));

  // A chance rate below what the key's label policy implies: 30 of 50 at "chance" 0.01
  // has p ~ 1e-40, at the key's own rate not nearly enough.
  auto cheap = honest;
  cheap["report"]["matches"] = 30;
  cheap["report"]["chance_rate"] = 0.01;
  check = check_claim(resigned(cheap, owner), owner.public_key());
  CHECK_FALSE(check.valid);
  CHECK_THAT(problems_of(check), Catch::Contains("chance rate") && Catch::Contains("label policy"));

  // More queries than the key has triggers; and 4e18 of them, refused at once.
  auto inflated = honest;
  inflated["report"]["queries"] = triggers * 10;
  inflated["report"]["matches"] = triggers * 10;
  check = check_claim(resigned(inflated, owner), owner.public_key());
  CHECK_FALSE(check.valid);
  CHECK_THAT(problems_of(check), Catch::Contains("the key has only " + std::to_string(triggers)));
  auto absurd = honest;
  absurd["report"]["queries"] = std::int64_t{4000000000000000000};
  absurd["report"]["matches"] = std::int64_t{3000000000000000000};
  const auto t0 = std::chrono::steady_clock::now();
  check = check_claim(resigned(absurd, owner), owner.public_key());
  CHECK(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < 1.0);
  CHECK_FALSE(check.valid);

  // The suspect's answers to the key's control images left out (they would show a
  // suspect that gives the target class to everything), or more of them than the key has.
  REQUIRE(honest["report"]["control"].contains("queries"));
  auto uncontrolled = honest;
  uncontrolled["report"].erase("control");
  check = check_claim(resigned(uncontrolled, owner), owner.public_key());
  CHECK_FALSE(check.valid);
  CHECK_THAT(problems_of(check), Catch::Contains("\"control\" is missing"));
  auto padded = honest;
  padded["report"]["control"]["queries"] = key.tensor("control_images").size(0) * 100;
  check = check_claim(resigned(padded, owner), owner.public_key());
  CHECK_FALSE(check.valid);
  CHECK_THAT(problems_of(check), Catch::Contains("control images"));

  // A report that did not re-derive the key, or found it forgeable: refused.
  ModuleClassifier suspect(test::watermarked_mnist().model, key.normalization, "suspect.pt");
  const auto unchecked = json::parse(Verifier().verify(suspect, key).to_json().dump());
  CHECK_THROWS_WITH(make_claim(key, unchecked, owner), Catch::Contains("re-derived"));
  auto forgeable = honest;
  forgeable["report"]["key_derivation"] = "not derivable: chosen after the fact";
  forgeable["report"]["key_forgeable"] = true;
  check = check_claim(resigned(forgeable, owner), owner.public_key());
  CHECK_FALSE(check.valid);
  CHECK_THAT(problems_of(check), Catch::Contains("re-derived from its secret"));

  // An unsigned key: make_claim refuses it, and a claim over one does not check.
  const auto unsigned_key = test::watermarked_mnist().key;
  CHECK_THROWS_WITH(make_claim(unsigned_key, verified_report(), owner), Catch::Contains("not signed"));
  auto bare = honest;
  bare["key"].erase("signature");
  check = check_claim(resigned(bare, owner), owner.public_key());
  CHECK_FALSE(check.valid);
  CHECK_THAT(problems_of(check), Catch::Contains("the key is not signed"));
}

TEST_CASE("a claim with any one byte altered is rejected or means the same", "[claim]") {
  const auto& owner = *test::watermarked_mnist().owner;  // the identity its secret is bound to
  auto key = test::watermarked_mnist().key;
  sign_key(key, owner);
  const auto text = make_claim(key, verified_report(), owner).dump(2);
  const auto original = json::parse(text);
  int rejected = 0, unchanged = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    auto altered = text;
    altered[i] = static_cast<char>(altered[i] ^ 0x01);
    const auto parsed = json::parse(altered, nullptr, false);
    if (parsed.is_discarded()) {
      ++rejected;  // wmark check-claim stops at the parse error
      continue;
    }
    if (parsed == original) {
      ++unchanged;  // e.g. "e-07" -> "E-07": the same claim
      continue;
    }
    const auto check = check_claim(parsed, owner.public_key());
    INFO("byte " << i << " ('" << text[i] << "' -> '" << altered[i] << "')");
    CHECK_FALSE(check.valid);
    ++rejected;
  }
  CHECK(rejected + unchanged == static_cast<int>(text.size()));
  CHECK(rejected > static_cast<int>(text.size()) * 9 / 10);
}

TEST_CASE("claim and key files that are not JSON objects are refused naming the file", "[claim]") {
  test::TempDir dir;
  test::write_bytes(dir / "claim.json", "{\"format\": \"wmark-claim-1\", ", true);
  CHECK_THROWS_WITH(read_json_object(dir / "claim.json"), Catch::Contains("claim.json") && Catch::Contains("malformed JSON"));
  test::write_bytes(dir / "list.json", "[1, 2]", true);
  CHECK_THROWS_WITH(read_json_object(dir / "list.json"), Catch::Contains("list.json") && Catch::Contains("JSON object"));
  CHECK_THROWS_WITH(read_json_object(dir / "none.json"), Catch::Contains("none.json") && Catch::Contains("does not exist"));
  // A claim of the wrong shape is invalid, never a crash.
  const auto check = check_claim(json{{"format", 7}, {"report", "x"}, {"key", json::array()}}, std::string(64, 'a'));
  CHECK_FALSE(check.valid);
  CHECK(check.problems.size() >= 2);
}

TEST_CASE("claim, report and identity files nested 100,000 deep are refused before parsing", "[claim]") {
  test::TempDir dir;
  const auto deep = "{\"format\": \"wmark-claim-1\", \"report\": " + test::deeply_nested_json(100000) + "}";
  test::write_bytes(dir / "claim.json", deep, true);
  // What `wmark check-claim` reads its claim and report with, before it copies and dumps them.
  CHECK_THROWS_WITH(read_json_object(dir / "claim.json"), Catch::Contains("claim.json") && Catch::Contains("nested deeper than 64"));
  test::write_bytes(dir / "owner.key", deep, true);
  fs::permissions(dir / "owner.key", fs::perms::owner_read | fs::perms::owner_write);
  CHECK_THROWS_WITH(Identity::load(dir / "owner.key"), Catch::Contains("owner.key") && Catch::Contains("nested deeper"));
  test::write_bytes(dir / "owner.pub", deep, true);
  CHECK_THROWS_WITH(load_public_key(dir / "owner.pub"), Catch::Contains("owner.pub") && Catch::Contains("nested deeper"));
  // Brackets inside strings are text, not nesting.
  test::write_bytes(dir / "text.json", "{\"note\": \"" + test::deeply_nested_json(100000) + "\"}", true);
  CHECK(read_json_object(dir / "text.json")["note"].get<std::string>().size() == 200000);
}

TEST_CASE("a claim names its model by content; checked against another file it is refused", "[claim]") {
  const auto& owner = *test::watermarked_mnist().owner;
  auto key = test::watermarked_mnist().key;
  sign_key(key, owner);
  auto report = verified_report();
  report["model_sha256"] = sha256_hex("the bytes of model A");
  const auto claim = make_claim(key, report, owner);
  CHECK(check_claim(claim, owner.public_key(), {sha256_hex("the bytes of model A"), std::nullopt}).valid);
  const auto other = check_claim(claim, owner.public_key(), {sha256_hex("the bytes of model B"), std::nullopt});
  CHECK_FALSE(other.valid);
  CHECK_THAT(problems_of(other), Catch::Contains("the claim is for another model"));
  // A claim that names no file (a remote suspect) cannot be checked against one.
  const auto unnamed = make_claim(key, verified_report(), owner);
  const auto check = check_claim(unnamed, owner.public_key(), {sha256_hex("the bytes of model A"), std::nullopt});
  CHECK_FALSE(check.valid);
  CHECK_THAT(problems_of(check), Catch::Contains("names no model file by content"));
}

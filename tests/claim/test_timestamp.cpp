// Trusted time: RFC 3161 tokens over a key's commitment from a local TSA (openssl ts),
// refused when they stamp something else, come from an untrusted TSA or are malformed;
// and carried by claims that check-claim verifies.
#include <catch2/catch.hpp>

#include <chrono>
#include <ctime>

#include <nlohmann/json.hpp>

#include "../support/local_tsa.h"
#include "../support/test_support.h"
#include "../support/watermarked_fixture.h"
#include "wmark/claim/claim.h"
#include "wmark/claim/priority.h"
#include "wmark/claim/tsa_client.h"
#include "wmark/util/encoding.h"
#include "wmark/util/error.h"
#include "wmark/util/files.h"
#include "wmark/util/sha256.h"

using namespace wmark;
using json = nlohmann::json;
using Behaviour = test::LocalTsa::Behaviour;

namespace {

// Seconds between an ISO 8601 UTC time and now.
double seconds_from_now(const std::string& iso) {
  std::tm tm{};
  REQUIRE(strptime(iso.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm) != nullptr);
  return std::difftime(timegm(&tm), std::time(nullptr));
}

std::string all_problems(const ClaimCheck& check) {
  std::string all;
  for (const auto& problem : check.problems) all += problem + "\n";
  return all;
}

}  // namespace

TEST_CASE("a time stamp from a local TSA attests the commitment, and OpenSSL's own check agrees", "[claim]") {
  test::LocalTsa tsa("wmark test");
  const auto commitment = sha256_hex("a key's salted commitment");
  const auto token = request_timestamp(commitment, tsa.url(), tsa.ca_pem());
  const auto info = verify_timestamp_token(token, commitment, tsa.ca_pem(), "token");
  CHECK(std::abs(seconds_from_now(info.time)) < 120);
  CHECK_THAT(info.tsa, Catch::Contains("CN=wmark test TSA"));
  CHECK(info.policy == "1.3.6.1.4.1.59999.1");
  CHECK(info.imprint_sha256 == sha256_hex(commitment));
  CHECK_FALSE(info.serial.empty());
  // Two requests get two tokens (fresh nonces and serials).
  CHECK(read_timestamp_token(request_timestamp(commitment, tsa.url(), tsa.ca_pem()), "second").serial != info.serial);

  // The arbiter's check with OpenSSL alone, as claim/timestamp.h documents it.
  test::TempDir dir;
  write_file_atomic(dir / "commitment.txt", commitment, false);
  write_file_atomic(dir / "key.wmk.tst", token, false);
  std::string out;
  CHECK(test::run_command("openssl ts -verify -data " + (dir / "commitment.txt").string() + " -in " +
                              (dir / "key.wmk.tst").string() + " -token_in -CAfile " + tsa.ca_pem_path().string(),
                          out) == 0);
  CHECK_THAT(out, Catch::Contains("Verification: OK"));
}

TEST_CASE("a token over another commitment, from an untrusted TSA, or malformed is refused", "[claim]") {
  test::LocalTsa tsa("wmark test");
  test::LocalTsa other("impostor");
  const auto commitment = sha256_hex("the owner's key");
  const auto token = request_timestamp(commitment, tsa.url(), tsa.ca_pem());
  // A false accuser re-uses a genuine token for a key made later.
  CHECK_THROWS_WITH(verify_timestamp_token(token, sha256_hex("a key made after the theft"), tsa.ca_pem(), "token"),
                    Catch::Contains("another commitment"));
  // Or stamps the key with a TSA of their own making.
  const auto self_made = request_timestamp(commitment, other.url(), other.ca_pem());
  CHECK_THROWS_WITH(verify_timestamp_token(self_made, commitment, tsa.ca_pem(), "self-made"),
                    Catch::Contains("self-made") && Catch::Contains("does not check against the TSA certificate"));
  CHECK_THROWS_WITH(request_timestamp(commitment, other.url(), tsa.ca_pem()), Catch::Contains("does not check"));
  // A token made by openssl over the commitment's bytes verifies; over other bytes, not.
  CHECK_THAT(verify_timestamp_token(tsa.stamp(commitment), commitment, tsa.ca_pem(), "direct").tsa,
             Catch::Contains("CN=wmark test TSA"));
  CHECK_THROWS_WITH(verify_timestamp_token(tsa.stamp(commitment + "\n"), commitment, tsa.ca_pem(), "direct"),
                    Catch::Contains("another commitment"));

  // Malformed tokens: a clear error naming the source, never a crash.
  for (const auto& [bad, why] : std::vector<std::pair<std::string, std::string>>{
           {"", "empty"},
           {token.substr(0, token.size() / 2), "not a DER-encoded"},
           {token + "x", "not a DER-encoded"},
           {std::string(kMaxTimestampBytes + 1, '\x30'), "larger than"},
           {std::string("\x30\x03\x02\x01\x01", 5), "not a DER-encoded"}}) {
    INFO(why);
    CHECK_THROWS_WITH(verify_timestamp_token(bad, commitment, tsa.ca_pem(), "bad.tst"),
                      Catch::Contains("bad.tst") && Catch::Contains(why));
  }
  auto flipped = token;
  flipped[flipped.size() - 10] ^= 0x01;  // inside the signature
  CHECK_THROWS_AS(verify_timestamp_token(flipped, commitment, tsa.ca_pem(), "flipped"), Error);
  CHECK_THROWS_WITH(verify_timestamp_token(token, commitment, "not a certificate", "token"),
                    Catch::Contains("no PEM certificate"));
  test::TempDir dir;
  write_file_atomic(dir / "junk.pem", "not a certificate", false);
  CHECK_THROWS_WITH(read_trusted_certificates(dir / "junk.pem"),
                    Catch::Contains("junk.pem") && Catch::Contains("no PEM certificate"));
  CHECK_THROWS_WITH(read_trusted_certificates(dir / "missing.pem"), Catch::Contains("missing.pem"));
  CHECK(read_trusted_certificates(tsa.ca_pem_path()) == tsa.ca_pem());
  CHECK_THROWS_WITH(make_timestamp_request("ABC"), Catch::Contains("64 lower-case hex"));
}

TEST_CASE("a TSA that is unreachable, refuses, replays or answers junk gets a clear error", "[claim]") {
  test::LocalTsa tsa("wmark test");
  const auto commitment = sha256_hex("the owner's key");
  const auto ca = tsa.ca_pem();
  REQUIRE_FALSE(request_timestamp(commitment, tsa.url(), ca).empty());  // the first answer, replayed below
  const std::vector<std::pair<Behaviour, std::string>> cases = {
      {Behaviour::replay, "does not check"},  // an old answer: the nonce and imprint differ
      {Behaviour::http_error, "answered HTTP 500"},
      {Behaviour::wrong_type, "not application/timestamp-reply"},
      {Behaviour::garbage, "not a DER-encoded time-stamp response"},
      {Behaviour::oversized, "larger than"},
      {Behaviour::rejection, "the TSA refused the request"}};
  for (const auto& [behaviour, why] : cases) {
    INFO(why);
    tsa.set_behaviour(behaviour);
    CHECK_THROWS_WITH(request_timestamp(sha256_hex("another key"), tsa.url(), ca),
                      Catch::Contains("TSA " + tsa.url()) && Catch::Contains(why));
  }
  CHECK_THROWS_WITH(request_timestamp(commitment, "http://127.0.0.1:9/tsr", ca, 5), Catch::Contains("cannot reach"));
  CHECK_THROWS_WITH(request_timestamp(commitment, "ftp://tsa.example/", ca), Catch::Contains("must look like"));
  CHECK_THROWS_WITH(request_timestamp(commitment, "http://tsa.example/a b", ca), Catch::Contains("must look like"));
}

TEST_CASE("wmark timestamp, claim and check-claim: a claim carries the attested time of its key", "[claim]") {
  test::TempDir dir;
  test::LocalTsa tsa("wmark test");
  test::LocalTsa other("impostor");
  const auto& f = test::watermarked_mnist();
  const auto owner = (dir / "owner").string();
  f.owner->save(owner);
  auto signed_key = f.key;
  sign_key(signed_key, *f.owner);
  const auto key = (dir / "key.wmk").string();
  signed_key.save(key);
  write_file_atomic(dir / "report.json", test::verified_report().dump(2), false);
  const auto ca = tsa.ca_pem_path().string(), other_ca = other.ca_pem_path().string();
  std::string out;

  // Errors leave nothing behind: an unreachable TSA, a TSA the certificate does not match.
  CHECK(test::run_wmark("timestamp --key " + key + " --tsa http://127.0.0.1:9/tsr --timeout 5 --tsa-cert " + ca, out) == 2);
  CHECK_THAT(out, Catch::Contains("cannot reach"));
  CHECK(test::run_wmark("timestamp --key " + key + " --tsa " + other.url() + " --tsa-cert " + ca, out) == 2);
  CHECK_THAT(out, Catch::Contains("does not check"));
  CHECK_FALSE(std::filesystem::exists(key + ".tst"));

  REQUIRE(test::run_wmark("timestamp --key " + key + " --tsa " + tsa.url() + " --tsa-cert " + ca, out) == 0);
  CHECK_THAT(out, Catch::Contains("existed at") && Catch::Contains("CN=wmark test TSA"));
  const auto token = read_file(key + ".tst");
  CHECK(test::run_wmark("timestamp --key " + key + " --tsa " + tsa.url() + " --tsa-cert " + ca, out) == 2);  // kept
  CHECK(read_file(key + ".tst") == token);

  // The claim picks the token up beside the key; the arbiter trusts the TSA's CA.
  const auto claim = (dir / "claim.json").string();
  REQUIRE(test::run_wmark("claim --report " + (dir / "report.json").string() + " --key " + key + " --identity " + owner +
                        ".key --out " + claim,
                    out) == 0);
  CHECK_THAT(out, Catch::Contains("time stamp"));
  CHECK(base64_decode(read_json_object(claim)["timestamp"]["token"].get<std::string>(), kMaxTimestampBytes) == token);
  REQUIRE(test::run_wmark("check-claim " + claim + " --pub " + owner + ".pub --tsa-cert " + ca, out) == 0);
  const auto attested = read_timestamp_token(token, "token").time;
  CHECK_THAT(out, Catch::Contains("timestamped " + attested + " by CN=wmark test TSA") &&
                      Catch::Contains("the TSA's signature on the time stamp"));
  CHECK(test::run_wmark("check-claim " + claim + " --pub " + owner + ".pub", out) == 0);
  CHECK_THAT(out, Catch::Contains("its time stamp is not checked"));
  CHECK(test::run_wmark("check-claim " + claim + " --pub " + owner + ".pub --tsa-cert " + other_ca, out) == 1);
  CHECK_THAT(out, Catch::Contains("does not check against the TSA certificate"));
  // Files that are not there: exit 2 naming them.
  const auto missing = (dir / "missing.pem").string();
  CHECK(test::run_wmark("check-claim " + claim + " --pub " + owner + ".pub --tsa-cert " + missing, out) == 2);
  CHECK_THAT(out, Catch::Contains("missing.pem"));
  write_file_atomic(dir / "junk.pem", "not a certificate", false);
  CHECK(test::run_wmark("check-claim " + claim + " --pub " + owner + ".pub --tsa-cert " + (dir / "junk.pem").string(), out) ==
        2);  // the arbiter's input is wrong, not the claim
  CHECK_THAT(out, Catch::Contains("junk.pem") && Catch::Contains("no PEM certificate"));
  CHECK(test::run_wmark("check-claim " + claim + " --pub " + owner + ".pub --model " + missing, out) == 2);
  CHECK_THAT(out, Catch::Contains("missing.pem"));
  CHECK(test::run_wmark("timestamp --key " + key + " --tsa " + tsa.url() + " --tsa-cert " + missing + " --out " +
                      (dir / "other.tst").string(),
                  out) == 2);
  CHECK_FALSE(std::filesystem::exists(dir / "other.tst"));

  // A false accuser re-signs a claim whose token stamps another key: refused.
  auto swapped = read_json_object(claim);
  swapped["timestamp"]["token"] = base64_encode(request_timestamp(sha256_hex("x"), tsa.url(), tsa.ca_pem()));
  swapped.erase("signature");
  swapped["signature"] = f.owner->sign("wmark-claim-v1\n" + swapped.dump());
  auto check = check_claim(swapped, f.owner->public_key(), {std::nullopt, tsa.ca_pem()});
  CHECK_FALSE(check.valid);
  CHECK_THAT(all_problems(check), Catch::Contains("another commitment"));
  CHECK_FALSE(check_claim(swapped, f.owner->public_key()).valid);  // even without a TSA to trust
  swapped["timestamp"]["token"] = "%%%";
  CHECK_THAT(all_problems(check_claim(swapped, f.owner->public_key())), Catch::Contains("not Base64"));
  // A claim without a time stamp, checked by an arbiter who requires one.
  const auto bare = make_claim(signed_key, test::verified_report(), *f.owner);
  check = check_claim(bare, f.owner->public_key(), {std::nullopt, tsa.ca_pem()});
  CHECK_FALSE(check.valid);
  CHECK_THAT(all_problems(check), Catch::Contains("no time stamp"));
  // make_claim refuses a token over another commitment.
  CHECK_THROWS_WITH(make_claim(signed_key, test::verified_report(), *f.owner, tsa.stamp("other")),
                    Catch::Contains("another commitment"));
}

// Priority (claim/priority.h): a checked time stamp older than the suspect's time lets an
// aligned white-box decision count; the times are parsed strictly, and a token that does
// not check (another commitment, an untrusted TSA) is an error, not a "no".
TEST_CASE("a key's priority over a suspect comes from a checked time stamp, compared strictly", "[claim]") {
  CHECK(parse_utc_time("1970-01-01", "t") == 0);
  CHECK(parse_utc_time("2000-03-01T00:00:01Z", "t") == 951868801);
  CHECK(parse_utc_time("2024-02-29", "t") == parse_utc_time("2024-02-28T00:00:00Z", "t") + 86400);
  for (const auto* bad : {"2023-02-29", "2026-13-01", "2026-12-01T24:00:00Z", "2026-12-01 10:00:00", "26-12-01",
                          "2026-12-01T10:00:00", "1969-12-31", "2026-12-01T10:00:00Z trailing", ""})
    CHECK_THROWS_WITH(parse_utc_time(bad, "--suspect-since"), Catch::Contains("--suspect-since"));

  test::LocalTsa tsa("wmark test");
  test::LocalTsa other("impostor");
  const auto& key = test::watermarked_mnist().key;
  const auto token = request_timestamp(key.commitment(), tsa.url(), tsa.ca_pem());
  const auto later = check_key_priority(key, token, tsa.ca_pem(), "2100-01-01", "key.tst");
  CHECK(later.predates);
  CHECK_THAT(later.statement, Catch::Contains(key.commitment()) && Catch::Contains("before the suspect's time 2100-01-01"));
  const auto earlier = check_key_priority(key, token, tsa.ca_pem(), "2000-01-01", "key.tst");
  CHECK_FALSE(earlier.predates);
  CHECK_THAT(earlier.statement, Catch::Contains("not before"));
  // The token's own second is not before itself.
  CHECK_FALSE(check_key_priority(key, token, tsa.ca_pem(), later.timestamp.time, "key.tst").predates);
  CHECK_THROWS_WITH(check_key_priority(key, token, other.ca_pem(), "2100-01-01", "key.tst"), Catch::Contains("key.tst"));
  auto another = key;
  another.tensors["labels"] = (key.tensor("labels") + 1).remainder(10);  // another commitment
  CHECK_THROWS_WITH(check_key_priority(another, token, tsa.ca_pem(), "2100-01-01", "key.tst"),
                    Catch::Contains("key.tst"));
}

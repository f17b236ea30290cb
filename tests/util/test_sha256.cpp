#include <catch2/catch.hpp>

#include "wmark/util/sha256.h"

using wmark::sha256_hex;

TEST_CASE("SHA-256 matches the FIPS 180-4 test vectors", "[util]") {
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(sha256_hex(std::string(1000000, 'a')) ==
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("SHA-256 fed in pieces equals one call", "[util]") {
  std::string text;
  for (int i = 0; i < 1000; ++i) text += std::to_string(i * 7919);
  wmark::Sha256 hasher;
  for (std::size_t at = 0; at < text.size(); at += 37) hasher.update(text.substr(at, 37));
  CHECK(wmark::to_hex(hasher.finish()) == sha256_hex(text));
}

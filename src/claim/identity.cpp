#include "wmark/claim/identity.h"

#include <sodium.h>

#include <nlohmann/json.hpp>

#include "wmark/util/encoding.h"
#include "wmark/util/error.h"
#include "wmark/util/files.h"
#include "wmark/util/json_limits.h"
#include "wmark/util/sha256.h"

namespace fs = std::filesystem;

namespace wmark {
namespace {

constexpr const char* kSecretFormat = "wmark-identity-1";
constexpr const char* kPublicFormat = "wmark-public-key-1";

nlohmann::json read_document(const fs::path& path, const char* what) {
  const auto text = read_file(path);
  check_json_nesting(text, kMaxJsonDepth, path.string());
  auto document = nlohmann::json::parse(text, nullptr, false);
  WMARK_CHECK(document.is_object(), path.string(), ": not a wmark ", what, " file (not a JSON object)");
  return document;
}

std::string string_field(const nlohmann::json& document, const char* key, const fs::path& path) {
  auto it = document.find(key);
  WMARK_CHECK(it != document.end() && it->is_string(), path.string(), ": \"", key, "\" is missing or not a string");
  return it->get<std::string>();
}

// A string member, or "" when it is missing or not a string.
std::string text_or_empty(const nlohmann::json& document, const char* key) {
  auto it = document.find(key);
  return it != document.end() && it->is_string() ? it->get<std::string>() : std::string();
}

fs::path with_extension(fs::path base, const char* extension) {
  if (base.extension() == ".key" || base.extension() == ".pub") base.replace_extension();
  base += extension;
  return base;
}

}  // namespace

Identity Identity::generate() {
  ensure_sodium();
  Identity identity;
  unsigned char public_key[crypto_sign_PUBLICKEYBYTES];
  identity.secret_.resize(crypto_sign_SECRETKEYBYTES);
  crypto_sign_keypair(public_key, identity.secret_.data());
  identity.public_hex_ = hex_encode(public_key, sizeof(public_key));
  return identity;
}

Identity Identity::load(const fs::path& path) {
  ensure_sodium();
  WMARK_CHECK(fs::is_regular_file(path), "identity file ", path.string(), " does not exist");
  const auto perms = fs::status(path).permissions();
  WMARK_CHECK((perms & (fs::perms::group_all | fs::perms::others_all)) == fs::perms::none, path.string(),
              " is a secret key readable by group or others; restrict it with: chmod 600 ", path.string());
  const auto document = read_document(path, "identity");
  WMARK_CHECK(text_or_empty(document, "format") == kSecretFormat, path.string(), ": not a wmark identity (format is not \"",
              kSecretFormat, "\"); pass the .key file written by wmark identity");
  WMARK_CHECK(text_or_empty(document, "algorithm") == "ed25519", path.string(), ": algorithm must be ed25519");
  Identity identity;
  identity.secret_.resize(crypto_sign_SECRETKEYBYTES);
  std::string secret_hex = string_field(document, "secret_key", path);
  const bool ok = hex_decode(secret_hex, identity.secret_.data(), identity.secret_.size());
  sodium_memzero(secret_hex.data(), secret_hex.size());
  WMARK_CHECK(ok, path.string(), ": \"secret_key\" must be ", 2 * crypto_sign_SECRETKEYBYTES, " hex digits");
  unsigned char derived[crypto_sign_PUBLICKEYBYTES];
  crypto_sign_ed25519_sk_to_pk(derived, identity.secret_.data());
  identity.public_hex_ = hex_encode(derived, sizeof(derived));
  WMARK_CHECK(identity.public_hex_ == string_field(document, "public_key", path), path.string(),
              ": the public key does not belong to the secret key (the file was altered)");
  return identity;
}

void Identity::save(const fs::path& base, bool force) const {
  const auto secret_path = with_extension(base, ".key");
  const auto public_path = with_extension(base, ".pub");
  check_writable(secret_path, force);
  check_writable(public_path, force);
  std::string secret_hex = hex_encode(secret_.data(), secret_.size());
  std::string text = nlohmann::json{{"format", kSecretFormat},
                                    {"algorithm", "ed25519"},
                                    {"public_key", public_hex_},
                                    {"secret_key", secret_hex}}
                         .dump(2) + "\n";
  try {
    write_file_atomic(secret_path, text, force, fs::perms::owner_read | fs::perms::owner_write);
  } catch (...) {
    sodium_memzero(secret_hex.data(), secret_hex.size());
    sodium_memzero(text.data(), text.size());
    throw;
  }
  sodium_memzero(secret_hex.data(), secret_hex.size());
  sodium_memzero(text.data(), text.size());
  write_file_atomic(public_path,
                    nlohmann::json{{"format", kPublicFormat}, {"algorithm", "ed25519"}, {"public_key", public_hex_}}
                            .dump(2) + "\n",
                    force);
}

std::string Identity::fingerprint() const { return public_key_fingerprint(public_hex_); }

std::string Identity::sign(const std::string& message) const {
  ensure_sodium();
  WMARK_CHECK(secret_.size() == crypto_sign_SECRETKEYBYTES, "identity has no secret key");
  unsigned char signature[crypto_sign_BYTES];
  crypto_sign_detached(signature, nullptr, reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                       secret_.data());
  return hex_encode(signature, sizeof(signature));
}

Identity::Identity(Identity&& other) noexcept
    : public_hex_(std::move(other.public_hex_)), secret_(std::move(other.secret_)) {}

Identity& Identity::operator=(Identity&& other) noexcept {
  if (this != &other) {
    if (!secret_.empty()) sodium_memzero(secret_.data(), secret_.size());
    public_hex_ = std::move(other.public_hex_);
    secret_ = std::move(other.secret_);
  }
  return *this;
}

Identity::~Identity() {
  if (!secret_.empty()) sodium_memzero(secret_.data(), secret_.size());
}

std::string load_public_key(const fs::path& path) {
  WMARK_CHECK(fs::is_regular_file(path), "public key file ", path.string(), " does not exist");
  const auto document = read_document(path, "public key");
  WMARK_CHECK(text_or_empty(document, "format") != kSecretFormat, path.string(),
              " is a secret identity; pass the owner's .pub file instead (and keep the .key secret)");
  WMARK_CHECK(text_or_empty(document, "format") == kPublicFormat, path.string(), ": not a wmark public key (format is not \"",
              kPublicFormat, "\")");
  WMARK_CHECK(text_or_empty(document, "algorithm") == "ed25519", path.string(), ": algorithm must be ed25519");
  const auto hex = string_field(document, "public_key", path);
  unsigned char bytes[crypto_sign_PUBLICKEYBYTES];
  WMARK_CHECK(hex_decode(hex, bytes, sizeof(bytes)), path.string(), ": \"public_key\" must be ",
              2 * crypto_sign_PUBLICKEYBYTES, " hex digits");
  return hex;
}

bool verify_signature(const std::string& public_key_hex, const std::string& message,
                      const std::string& signature_hex) {
  ensure_sodium();
  unsigned char public_key[crypto_sign_PUBLICKEYBYTES];
  unsigned char signature[crypto_sign_BYTES];
  if (!hex_decode(public_key_hex, public_key, sizeof(public_key)) || !hex_decode(signature_hex, signature, sizeof(signature)))
    return false;
  return crypto_sign_verify_detached(signature, reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                                     public_key) == 0;
}

std::string public_key_fingerprint(const std::string& public_key_hex) {
  Sha256 hasher;
  hasher.update(public_key_hex);
  return to_hex(hasher.finish()).substr(0, 16);
}

}  // namespace wmark

// A certificate authority for tests, made with the openssl command: a CA certificate and
// certificates it issues (a TSA's, an https server's) with the extensions a test needs.
#pragma once

#include <filesystem>
#include <string>

#include "test_support.h"

namespace wmark::test {

class TestCa {
 public:
  /// A certificate and its private key, PEM files.
  struct Issued {
    std::filesystem::path certificate, key;
  };

  /// Creates the CA "CN=<name> CA" (P-256, valid two days) in a fresh folder.
  explicit TestCa(const std::string& name);
  /// Issues "CN=<subject>" with `extensions` (openssl x509v3 config lines, e.g.
  /// "extendedKeyUsage=critical,timeStamping"), files named after `file_stem`.
  Issued issue(const std::string& subject, const std::string& extensions, const std::string& file_stem) const;
  /// The CA certificate, PEM: what a client trusts.
  const std::filesystem::path& certificate() const { return certificate_; }
  /// The folder holding the CA's files (and anything a user keeps beside them).
  const std::filesystem::path& dir() const { return dir_.path(); }
  /// Runs `openssl ARGUMENTS` in the CA's folder; throws std::runtime_error with its output on failure.
  void openssl(const std::string& arguments) const;

 private:
  TempDir dir_;
  std::filesystem::path certificate_;
};

/// SHA-256 fingerprint of a PEM certificate's DER encoding, lower-case hex (openssl x509).
std::string certificate_sha256(const std::filesystem::path& pem);

}  // namespace wmark::test

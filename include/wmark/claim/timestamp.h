/// \file
/// Trusted time for a key: an RFC 3161 time-stamp token, signed by a time-stamping
/// authority (TSA), over the key's commitment. It shows that the commitment, and so the
/// key's secret, triggers and labels, existed at the TSA's time; in a dispute the
/// earliest attested commitment that predates the suspect wins (docs/threat-model.md).
///
/// The token's message imprint is the SHA-256 of the commitment as its 64 ASCII hex
/// digits, so an arbiter can check a token with OpenSSL alone:
///   printf %s COMMITMENT > commitment.txt
///   openssl ts -verify -data commitment.txt -in key.wmk.tst -token_in -CAfile tsa-ca.pem
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>

#include "wmark/util/export.h"

namespace wmark {

/// The largest token or TSA response wmark reads (real ones are a few KiB).
inline constexpr std::size_t kMaxTimestampBytes = 64 * 1024;

/// What a time-stamp token states.
struct WMARK_API TimestampInfo {
  std::string time;            ///< the TSA's genTime, ISO 8601 UTC ("2026-12-01T10:00:00Z")
  std::string tsa;             ///< subject of the certificate that signed the token (RFC 2253)
  std::string serial;          ///< the token's serial number, hexadecimal
  std::string policy;          ///< the TSA's policy OID
  std::string imprint_sha256;  ///< the stamped digest, hexadecimal
};

/// A time-stamp request (DER TimeStampReq) over a commitment: SHA-256 imprint, a fresh
/// 64-bit nonce from the OS CSPRNG, and a request for the TSA's certificate.
struct WMARK_API TimestampRequest {
  std::string der;         ///< the request to POST to the TSA
  std::string commitment;  ///< what it stamps
};

/// Reads a file of PEM certificates to trust (a TSA, its CA); throws wmark::Error naming
/// the file if it is missing, unreadable or holds no certificate.
WMARK_API std::string read_trusted_certificates(const std::filesystem::path& path);

/// Builds the request for `commitment` (64 lower-case hex digits; throws wmark::Error otherwise).
WMARK_API TimestampRequest make_timestamp_request(const std::string& commitment);

/// Accepts a TSA's answer (DER TimeStampResp) to `request`: status granted, the imprint
/// and nonce of the request, a token signed by a time-stamping certificate that chains
/// to one of `trusted_pem` (PEM certificates: the TSA's CA, or the TSA itself). Returns
/// the token (DER TimeStampToken). Throws wmark::Error naming `source` otherwise.
WMARK_API std::string accept_timestamp_response(const std::string& response_der, const TimestampRequest& request,
                                                const std::string& trusted_pem, const std::string& source);

/// Checks a stored token: it stamps `commitment` with SHA-256, and is signed by a
/// time-stamping certificate that chains to one of `trusted_pem`. Returns what it states;
/// throws wmark::Error naming `source` and the problem otherwise.
WMARK_API TimestampInfo verify_timestamp_token(const std::string& token_der, const std::string& commitment,
                                               const std::string& trusted_pem, const std::string& source);

/// What a token states, without checking its signature (for display, and to refuse a
/// token over another commitment before anything is written). Throws wmark::Error naming
/// `source` if it is not a time-stamp token.
WMARK_API TimestampInfo read_timestamp_token(const std::string& token_der, const std::string& source);

}  // namespace wmark

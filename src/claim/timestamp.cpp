#include "wmark/claim/timestamp.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/ts.h>
#include <openssl/x509.h>

#include <ctime>
#include <memory>

#include <sodium.h>

#include "wmark/util/encoding.h"
#include "wmark/util/error.h"
#include "wmark/util/files.h"
#include "wmark/util/sha256.h"

namespace wmark {
namespace {

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
template <typename T, void (*Free)(T*)>
using Owned = std::unique_ptr<T, Deleter<T, Free>>;

using Bio = Owned<BIO, BIO_free_all>;
using Bignum = Owned<BIGNUM, BN_free>;
using Integer = Owned<ASN1_INTEGER, ASN1_INTEGER_free>;
using Pkcs7 = Owned<PKCS7, PKCS7_free>;
using Request = Owned<TS_REQ, TS_REQ_free>;
using Response = Owned<TS_RESP, TS_RESP_free>;
using TstInfo = Owned<TS_TST_INFO, TS_TST_INFO_free>;
using VerifyContext = Owned<TS_VERIFY_CTX, TS_VERIFY_CTX_free>;
using Store = Owned<X509_STORE, X509_STORE_free>;
using Certificate = Owned<X509, X509_free>;
using Algorithm = Owned<X509_ALGOR, X509_ALGOR_free>;
using Imprint = Owned<TS_MSG_IMPRINT, TS_MSG_IMPRINT_free>;

// OpenSSL's queued errors as one line (emptying the queue), for messages.
std::string openssl_errors() {
  std::string text;
  for (unsigned long code = ERR_get_error(); code != 0; code = ERR_get_error()) {
    char line[256];
    ERR_error_string_n(code, line, sizeof(line));
    text += (text.empty() ? "" : "; ") + std::string(line);
  }
  return text.empty() ? "no detail from OpenSSL" : text;
}

Sha256::Digest commitment_digest(const std::string& commitment) {
  WMARK_CHECK(is_lower_hex(commitment, 64), "a commitment to time-stamp must be 64 lower-case hex digits");
  return Sha256().update(commitment).finish();
}

const unsigned char* bytes_of(const std::string& der) { return reinterpret_cast<const unsigned char*>(der.data()); }

// One whole DER value of type T, or an error naming `source`; trailing bytes are refused.
template <typename T, T* (*Decode)(T**, const unsigned char**, long), void (*Free)(T*)>
Owned<T, Free> decode_der(const std::string& der, const std::string& source, const char* what) {
  WMARK_CHECK(!der.empty() && der.size() <= kMaxTimestampBytes, source, ": the ", what, " is empty or larger than ",
              kMaxTimestampBytes, " bytes");
  const unsigned char* cursor = bytes_of(der);
  Owned<T, Free> value(Decode(nullptr, &cursor, static_cast<long>(der.size())));
  const bool whole = value && cursor == bytes_of(der) + der.size();
  ERR_clear_error();
  WMARK_CHECK(whole, source, ": not a DER-encoded ", what);
  return value;
}

template <typename T, int (*Encode)(const T*, unsigned char**)>
std::string encode_der(const T* value) {
  const int size = Encode(value, nullptr);
  WMARK_CHECK(size > 0, "cannot encode a time-stamp structure: ", openssl_errors());
  std::string der(static_cast<std::size_t>(size), '\0');
  auto* cursor = reinterpret_cast<unsigned char*>(der.data());
  WMARK_CHECK(Encode(value, &cursor) == size, "cannot encode a time-stamp structure: ", openssl_errors());
  return der;
}

// Every PEM certificate in `trusted_pem` as a trust anchor; at least one is required.
// Chains are checked for the time-stamping purpose (extended key usage timeStamping).
Store trust_store(const std::string& trusted_pem, const std::string& source = "the trusted TSA certificate text") {
  Store store(X509_STORE_new());
  Bio bio(BIO_new_mem_buf(trusted_pem.data(), static_cast<int>(trusted_pem.size())));
  WMARK_CHECK(store && bio, "out of memory reading TSA certificates");
  int count = 0;
  while (Certificate certificate{PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)}) {
    WMARK_CHECK(X509_STORE_add_cert(store.get(), certificate.get()) == 1, "cannot use a TSA certificate: ",
                openssl_errors());
    ++count;
  }
  ERR_clear_error();  // reading past the last certificate queues an error
  WMARK_CHECK(count > 0, source, " holds no PEM certificate");
  return store;
}

std::string iso8601(const ASN1_GENERALIZEDTIME* time, const std::string& source) {
  std::tm tm{};
  WMARK_CHECK(time && ASN1_TIME_to_tm(time, &tm) == 1, source, ": the token's time is malformed");
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

std::string hex_integer(const ASN1_INTEGER* value) {
  Bignum number(value ? ASN1_INTEGER_to_BN(value, nullptr) : nullptr);
  char* hex = number ? BN_bn2hex(number.get()) : nullptr;
  std::string text = hex ? hex : "";
  OPENSSL_free(hex);
  return text;
}

// The subject of the certificate that signed the token, when the token carries it.
std::string signer_subject(PKCS7* token) {
  STACK_OF(X509)* signers = PKCS7_get0_signers(token, nullptr, 0);
  std::string subject;
  Bio out(BIO_new(BIO_s_mem()));
  if (signers && sk_X509_num(signers) == 1 && out &&
      X509_NAME_print_ex(out.get(), X509_get_subject_name(sk_X509_value(signers, 0)), 0, XN_FLAG_RFC2253) >= 0) {
    char* data = nullptr;
    const long size = BIO_get_mem_data(out.get(), &data);
    if (data && size > 0) subject.assign(data, static_cast<std::size_t>(std::min(size, 512L)));
  }
  sk_X509_free(signers);
  ERR_clear_error();
  return subject;
}

TimestampInfo describe(PKCS7* token, const std::string& source) {
  TstInfo tst(PKCS7_to_TS_TST_INFO(token));
  ERR_clear_error();
  WMARK_CHECK(tst, source, ": not a time-stamp token (it holds no TSTInfo)");
  TimestampInfo info;
  info.time = iso8601(TS_TST_INFO_get_time(tst.get()), source);
  info.serial = hex_integer(TS_TST_INFO_get_serial(tst.get()));
  char policy[128] = "";
  if (const auto* oid = TS_TST_INFO_get_policy_id(tst.get())) OBJ_obj2txt(policy, sizeof(policy), oid, 1);
  info.policy = policy;
  auto* imprint = TS_TST_INFO_get_msg_imprint(tst.get());
  const auto* algorithm = imprint ? TS_MSG_IMPRINT_get_algo(imprint) : nullptr;
  WMARK_CHECK(algorithm && OBJ_obj2nid(algorithm->algorithm) == NID_sha256, source,
              ": the token does not stamp a SHA-256 digest");
  const auto* digest = TS_MSG_IMPRINT_get_msg(imprint);
  WMARK_CHECK(digest && ASN1_STRING_length(digest) == 32, source, ": the token's SHA-256 digest is not 32 bytes");
  info.imprint_sha256 = hex_encode(ASN1_STRING_get0_data(digest), 32);
  info.tsa = signer_subject(token);
  return info;
}

}  // namespace

std::string read_trusted_certificates(const std::filesystem::path& path) {
  auto pem = read_file(path);
  trust_store(pem, "TSA certificate file " + path.string());  // refuse it now, naming the file
  return pem;
}

TimestampRequest make_timestamp_request(const std::string& commitment) {
  ensure_sodium();  // the nonce comes from libsodium's CSPRNG
  const auto digest = commitment_digest(commitment);
  Request request(TS_REQ_new());
  Algorithm algorithm(X509_ALGOR_new());
  Imprint imprint(TS_MSG_IMPRINT_new());
  WMARK_CHECK(request && algorithm && imprint, "out of memory building a time-stamp request");
  X509_ALGOR_set0(algorithm.get(), OBJ_nid2obj(NID_sha256), V_ASN1_NULL, nullptr);
  // A fresh nonce ties the answer to this request: a replayed old answer is refused.
  unsigned char nonce_bytes[8];
  randombytes_buf(nonce_bytes, sizeof(nonce_bytes));
  Bignum nonce_number(BN_bin2bn(nonce_bytes, sizeof(nonce_bytes), nullptr));
  Integer nonce(nonce_number ? BN_to_ASN1_INTEGER(nonce_number.get(), nullptr) : nullptr);
  const bool built = TS_MSG_IMPRINT_set_algo(imprint.get(), algorithm.get()) == 1 &&
                     TS_MSG_IMPRINT_set_msg(imprint.get(), const_cast<unsigned char*>(digest.data()),
                                            static_cast<int>(digest.size())) == 1 &&
                     TS_REQ_set_version(request.get(), 1) == 1 &&
                     TS_REQ_set_msg_imprint(request.get(), imprint.get()) == 1 && nonce &&
                     TS_REQ_set_nonce(request.get(), nonce.get()) == 1 && TS_REQ_set_cert_req(request.get(), 1) == 1;
  WMARK_CHECK(built, "cannot build a time-stamp request: ", openssl_errors());
  return {encode_der<TS_REQ, i2d_TS_REQ>(request.get()), commitment};
}

std::string accept_timestamp_response(const std::string& response_der, const TimestampRequest& timestamp_request,
                                      const std::string& trusted_pem, const std::string& source) {
  auto response = decode_der<TS_RESP, d2i_TS_RESP, TS_RESP_free>(response_der, source, "time-stamp response");
  auto* status_info = TS_RESP_get_status_info(response.get());
  const long status = status_info ? ASN1_INTEGER_get(TS_STATUS_INFO_get0_status(status_info)) : -1;
  if (status != TS_STATUS_GRANTED && status != TS_STATUS_GRANTED_WITH_MODS) {
    std::string reason;
    const auto* texts = status_info ? TS_STATUS_INFO_get0_text(status_info) : nullptr;
    if (texts && sk_ASN1_UTF8STRING_num(texts) > 0) {
      const auto* first = sk_ASN1_UTF8STRING_value(texts, 0);
      reason.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(first)),
                    static_cast<std::size_t>(std::min(ASN1_STRING_length(first), 200)));
    }
    WMARK_FAIL(source, ": the TSA refused the request (status ", status, reason.empty() ? "" : ": " + reason, ")");
  }
  auto request = decode_der<TS_REQ, d2i_TS_REQ, TS_REQ_free>(timestamp_request.der, "the request", "time-stamp request");
  // Version, policy, imprint and nonce of the request, and the signature.
  VerifyContext context(TS_REQ_to_TS_VERIFY_CTX(request.get(), nullptr));
  WMARK_CHECK(context, "cannot check a time-stamp response: ", openssl_errors());
  TS_VERIFY_CTX_add_flags(context.get(), TS_VFY_SIGNATURE);
  TS_VERIFY_CTX_set_store(context.get(), trust_store(trusted_pem).release());
  if (TS_RESP_verify_response(context.get(), response.get()) != 1)
    WMARK_FAIL(source, ": the TSA's answer does not check (wrong TSA certificate, or an answer to another request): ",
               openssl_errors());
  const auto token = encode_der<PKCS7, i2d_PKCS7>(TS_RESP_get_token(response.get()));
  const auto info = read_timestamp_token(token, source);
  WMARK_CHECK(info.imprint_sha256 == to_hex(commitment_digest(timestamp_request.commitment)), source,
              ": the token stamps another digest than the request's");
  return token;
}

TimestampInfo verify_timestamp_token(const std::string& token_der, const std::string& commitment,
                                     const std::string& trusted_pem, const std::string& source) {
  auto token = decode_der<PKCS7, d2i_PKCS7, PKCS7_free>(token_der, source, "time-stamp token");
  auto info = describe(token.get(), source);
  const auto digest = commitment_digest(commitment);
  WMARK_CHECK(info.imprint_sha256 == to_hex(digest), source, ": the token stamps another commitment (not ",
              commitment.substr(0, 16), "...)");
  VerifyContext context(TS_VERIFY_CTX_new());
  auto* imprint = static_cast<unsigned char*>(OPENSSL_memdup(digest.data(), digest.size()));
  WMARK_CHECK(context && imprint, "out of memory checking a time-stamp token");
  TS_VERIFY_CTX_set_flags(context.get(), TS_VFY_VERSION | TS_VFY_SIGNATURE | TS_VFY_IMPRINT);
  TS_VERIFY_CTX_set_imprint(context.get(), imprint, static_cast<long>(digest.size()));  // the context owns it
  TS_VERIFY_CTX_set_store(context.get(), trust_store(trusted_pem).release());
  if (TS_RESP_verify_token(context.get(), token.get()) != 1)
    WMARK_FAIL(source, ": the token's signature does not check against the TSA certificate: ", openssl_errors());
  return info;
}

TimestampInfo read_timestamp_token(const std::string& token_der, const std::string& source) {
  auto token = decode_der<PKCS7, d2i_PKCS7, PKCS7_free>(token_der, source, "time-stamp token");
  return describe(token.get(), source);
}

}  // namespace wmark

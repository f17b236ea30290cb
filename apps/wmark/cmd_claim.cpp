// wmark identity / timestamp / claim / check-claim: signed ownership claims that a third party
// checks with the owner's public key alone (no secret trigger leaves the owner).
#include <iostream>

#include "commands.h"
#include "wmark/claim/claim.h"
#include "wmark/claim/identity.h"
#include "wmark/claim/tsa_client.h"
#include "wmark/util/error.h"
#include "wmark/util/files.h"
#include "wmark/util/sha256.h"
#include "wmark/watermark/key.h"

namespace wmark::cli {
namespace {

struct IdentityCommand {
  std::string out;
  bool force = false;
};

struct TimestampCommand {
  std::string key, tsa, tsa_cert, out;
  double timeout = 30;
  bool force = false;
};

struct ClaimCommand {
  std::string report, key, identity, timestamp, out;
  bool force = false;
};

struct CheckClaimCommand {
  std::string claim, public_key, model, tsa_cert;
};

int run_identity(const IdentityCommand& c) {
  const auto identity = Identity::generate();
  identity.save(c.out, c.force);
  std::cout << "identity " << identity.fingerprint() << ": secret key " << c.out
            << ".key (mode 0600; keep it private), public key " << c.out << ".pub (hand this out)\n";
  return 0;
}

int run_timestamp(const TimestampCommand& c) {
  const auto out = c.out.empty() ? timestamp_path(c.key) : std::filesystem::path(c.out);
  check_writable(out, c.force);
  const auto key = WatermarkKey::load(c.key);
  const auto token = request_timestamp(key.commitment(), c.tsa, read_trusted_certificates(c.tsa_cert), c.timeout);
  write_file_atomic(out, token, c.force);
  const auto info = read_timestamp_token(token, out.string());
  std::cout << "time stamp " << out.string() << ": key " << key.commitment().substr(0, 16) << "... existed at "
            << info.time << ", attested by " << (info.tsa.empty() ? "the TSA" : info.tsa) << " (serial " << info.serial
            << ")\n";
  return 0;
}

int run_claim(const ClaimCommand& c) {
  check_writable(c.out, c.force);
  const auto owner = Identity::load(c.identity);
  const auto key = WatermarkKey::load(c.key);
  const auto report = read_json_object(c.report);
  // The token kept beside the key by wmark timestamp, unless another is named.
  const auto stamp = c.timestamp.empty() ? timestamp_path(c.key) : std::filesystem::path(c.timestamp);
  const auto token = std::filesystem::exists(stamp) ? read_file(stamp) : std::string();
  const auto claim = make_claim(key, report, owner, token);
  write_json(c.out, claim, c.force);
  std::cout << "claim " << c.out << ": key " << key.commitment().substr(0, 16) << "..., "
            << report.value("matches", 0) << "/" << report.value("queries", 0) << " matched, signed by "
            << owner.fingerprint()
            << (token.empty() ? ", no time stamp (wmark timestamp adds one)"
                              : ", time stamp " + read_timestamp_token(token, stamp.string()).time + " from " + stamp.string())
            << "\n";
  return 0;
}

int run_check_claim(const CheckClaimCommand& c) {
  const auto public_key = load_public_key(c.public_key);
  const auto claim = read_json_object(c.claim);
  ClaimCheckOptions options;
  if (!c.model.empty()) options.model_sha256 = file_sha256_hex(c.model);
  if (!c.tsa_cert.empty()) options.tsa_certificates_pem = read_trusted_certificates(c.tsa_cert);
  const auto check = check_claim(claim, public_key, options);
  if (!check.valid) {
    std::cout << "CLAIM INVALID: " << c.claim << "\n";
    for (const auto& problem : check.problems) std::cout << "  - " << problem << "\n";
    return 1;
  }
  const auto& report = claim["report"];
  const auto text = [](const nlohmann::json& object, const char* name) {
    return object.contains(name) && object[name].is_string() ? object[name].get<std::string>() : std::string("?");
  };
  const auto when = check.timestamp ? "timestamped " + check.timestamp->time + " by " + check.timestamp->tsa +
                                          " (the key's commitment existed then)"
                    : "made " + text(claim, "created") + " by the signer's own clock" +
                          (check.has_timestamp ? " (its time stamp is not checked: give --tsa-cert)" : " (no time stamp)");
  std::cout << "CLAIM VALID: a signed assertion by owner " << public_key_fingerprint(public_key) << ", " << when << "\n"
            << "  key " << text(claim, "commitment") << ", bound to that owner and signed at embedding "
            << text(claim["key"]["signature"], "signed_at") << "\n"
            << "  suspect: " << text(report, "model")
            << (report.contains("model_sha256") ? ", file sha256 " + text(report, "model_sha256") : std::string())
            << (report.contains("transcript_sha256") ? ", transcript sha256 " + text(report, "transcript_sha256")
                                                      : std::string())
            << (report.contains("tls_certificate_sha256")
                    ? ", TLS certificate sha256 " + text(report, "tls_certificate_sha256")
                    : std::string())
            << "\n  " << report.value("matches", 0) << "/" << report.value("queries", 0) << " matched at chance rate "
            << report.value("chance_rate", 0.0) << ", p-value " << report.value("p_value", 1.0) << " (threshold "
            << report.value("p_threshold", 0.0) << "), verified " << text(report, "verified_at") << "\n"
            << "checked: the owner's signatures on the claim and the key, that key and report name the same "
               "commitment and owner, the decision recomputed from the counts at the key's chance rate within "
               "its size and the minimum evidence, that the verification re-derived the key before deciding"
            << (c.model.empty() ? "" : ", that the claim names " + c.model + " by content")
            << (check.timestamp ? ", the TSA's signature on the time stamp over the key's commitment" : "") << "\n"
            << "not checked: that the suspect answered as reported (repeat wmark verify with the opened key)"
            << (check.timestamp ? "" : ", when the key existed (wmark timestamp; check-claim --tsa-cert)")
            << (c.model.empty() ? ", which model file the claim is for (--model FILE)" : "") << "\n";
  return 0;
}

}  // namespace

void add_claim_commands(CLI::App& app, Dispatch& dispatch) {
  auto i = std::make_shared<IdentityCommand>();
  auto* identity = app.add_subcommand("identity", "Create the owner's Ed25519 key pair: NAME.key (secret) and NAME.pub");
  identity->add_option("--out", i->out, "base name of the two files")->required();
  identity->add_flag("--force", i->force, "overwrite existing files");
  identity->callback([i, &dispatch] { dispatch.action = [i] { return run_identity(*i); }; });

  auto t = std::make_shared<TimestampCommand>();
  auto* timestamp = app.add_subcommand(
      "timestamp", "Get an RFC 3161 time stamp over a key's commitment from a time-stamping authority (TSA)");
  timestamp->add_option("--key", t->key, "the watermark key")->required()->check(CLI::ExistingFile);
  timestamp->add_option("--tsa", t->tsa, "the TSA's URL, http[s]://HOST[:PORT][/PATH]")->required();
  timestamp->add_option("--tsa-cert", t->tsa_cert, "PEM certificate(s) of the TSA or its CA, to check the answer")
      ->required()
      ->check(CLI::ExistingFile);
  timestamp->add_option("--out", t->out, "token file to write (default: KEY.tst, where wmark claim looks)");
  timestamp->add_option("--timeout", t->timeout, "seconds to wait for the TSA")->capture_default_str();
  timestamp->add_flag("--force", t->force, "overwrite an existing token");
  timestamp->callback([t, &dispatch] { dispatch.action = [t] { return run_timestamp(*t); }; });

  auto c = std::make_shared<ClaimCommand>();
  auto* claim = app.add_subcommand("claim", "Bundle a verification report with the key's commitment, signed by the owner");
  claim->add_option("--report", c->report, "report of wmark verify --report (must verify ownership)")
      ->required()
      ->check(CLI::ExistingFile);
  claim->add_option("--key", c->key, "the watermark key the report is for")->required()->check(CLI::ExistingFile);
  claim->add_option("--identity", c->identity, "the owner's secret key (.key)")->required()->check(CLI::ExistingFile);
  claim->add_option("--timestamp", c->timestamp, "the key's time-stamp token (default: KEY.tst when it exists)")
      ->check(CLI::ExistingFile);
  claim->add_option("--out", c->out, "claim file to write (public)")->required();
  claim->add_flag("--force", c->force, "overwrite an existing claim");
  claim->callback([c, &dispatch] { dispatch.action = [c] { return run_claim(*c); }; });

  auto k = std::make_shared<CheckClaimCommand>();
  auto* check = app.add_subcommand("check-claim", "Check a claim with the owner's public key (exit 0 valid, 1 invalid, 2 error)");
  check->add_option("claim", k->claim, "claim file")->required()->check(CLI::ExistingFile);
  check->add_option("--pub", k->public_key, "the owner's public key (.pub)")->required()->check(CLI::ExistingFile);
  check->add_option("--model", k->model, "refuse the claim unless it names this model file by content (SHA-256)")
      ->check(CLI::ExistingFile);
  check->add_option("--tsa-cert", k->tsa_cert, "PEM certificate(s) of the TSAs you trust: require and check the time stamp")
      ->check(CLI::ExistingFile);
  check->callback([k, &dispatch] { dispatch.action = [k] { return run_check_claim(*k); }; });
}

}  // namespace wmark::cli

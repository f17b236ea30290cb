// wmark identity / claim / check-claim: signed ownership claims that a third party
// checks with the owner's public key alone (no secret trigger leaves the owner).
#include <iostream>

#include "commands.h"
#include "wmark/claim/claim.h"
#include "wmark/claim/identity.h"
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

struct ClaimCommand {
  std::string report, key, identity, out;
  bool force = false;
};

struct CheckClaimCommand {
  std::string claim, public_key, model;
};

int run_identity(const IdentityCommand& c) {
  const auto identity = Identity::generate();
  identity.save(c.out, c.force);
  std::cout << "identity " << identity.fingerprint() << ": secret key " << c.out
            << ".key (mode 0600; keep it private), public key " << c.out << ".pub (hand this out)\n";
  return 0;
}

int run_claim(const ClaimCommand& c) {
  check_writable(c.out, c.force);
  const auto owner = Identity::load(c.identity);
  const auto key = WatermarkKey::load(c.key);
  const auto report = read_json_object(c.report);
  const auto claim = make_claim(key, report, owner);
  write_json(c.out, claim, c.force);
  std::cout << "claim " << c.out << ": key " << key.commitment().substr(0, 16) << "..., "
            << report.value("matches", 0) << "/" << report.value("queries", 0) << " matched, signed by "
            << owner.fingerprint() << "\n";
  return 0;
}

int run_check_claim(const CheckClaimCommand& c) {
  const auto public_key = load_public_key(c.public_key);
  const auto claim = read_json_object(c.claim);
  const auto model_sha256 = c.model.empty() ? std::nullopt : std::optional<std::string>(sha256_hex(read_file(c.model)));
  const auto check = check_claim(claim, public_key, model_sha256);
  if (!check.valid) {
    std::cout << "CLAIM INVALID: " << c.claim << "\n";
    for (const auto& problem : check.problems) std::cout << "  - " << problem << "\n";
    return 1;
  }
  const auto& report = claim["report"];
  const auto text = [](const nlohmann::json& object, const char* name) {
    return object.contains(name) && object[name].is_string() ? object[name].get<std::string>() : std::string("?");
  };
  std::cout << "CLAIM VALID: a signed assertion by owner " << public_key_fingerprint(public_key) << ", made "
            << text(claim, "created") << " by the signer's own clock (no trusted time stamp)\n"
            << "  key " << text(claim, "commitment") << ", bound to that owner and signed at embedding "
            << text(claim["key"]["signature"], "signed_at") << "\n"
            << "  suspect: " << text(report, "model")
            << (report.contains("model_sha256") ? ", file sha256 " + text(report, "model_sha256") : std::string())
            << (report.contains("transcript_sha256") ? ", transcript sha256 " + text(report, "transcript_sha256")
                                                      : std::string())
            << "\n  " << report.value("matches", 0) << "/" << report.value("queries", 0) << " matched at chance rate "
            << report.value("chance_rate", 0.0) << ", p-value " << report.value("p_value", 1.0) << " (threshold "
            << report.value("p_threshold", 0.0) << "), verified " << text(report, "verified_at") << "\n"
            << "checked: the owner's signatures on the claim and the key, that key and report name the same "
               "commitment and owner, the decision recomputed from the counts at the key's chance rate within "
               "its size and the minimum evidence, that the verification re-derived the key before deciding"
            << (c.model.empty() ? "" : ", that the claim names " + c.model + " by content") << "\n"
            << "not checked: that the suspect answered as reported (repeat wmark verify with the opened key), when "
               "the key was made (no trusted time stamp yet)"
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

  auto c = std::make_shared<ClaimCommand>();
  auto* claim = app.add_subcommand("claim", "Bundle a verification report with the key's commitment, signed by the owner");
  claim->add_option("--report", c->report, "report of wmark verify --report (must verify ownership)")
      ->required()
      ->check(CLI::ExistingFile);
  claim->add_option("--key", c->key, "the watermark key the report is for")->required()->check(CLI::ExistingFile);
  claim->add_option("--identity", c->identity, "the owner's secret key (.key)")->required()->check(CLI::ExistingFile);
  claim->add_option("--out", c->out, "claim file to write (public)")->required();
  claim->add_flag("--force", c->force, "overwrite an existing claim");
  claim->callback([c, &dispatch] { dispatch.action = [c] { return run_claim(*c); }; });

  auto k = std::make_shared<CheckClaimCommand>();
  auto* check = app.add_subcommand("check-claim", "Check a claim with the owner's public key (exit 0 valid, 1 invalid, 2 error)");
  check->add_option("claim", k->claim, "claim file")->required()->check(CLI::ExistingFile);
  check->add_option("--pub", k->public_key, "the owner's public key (.pub)")->required()->check(CLI::ExistingFile);
  check->add_option("--model", k->model, "refuse the claim unless it names this model file by content (SHA-256)")
      ->check(CLI::ExistingFile);
  check->callback([k, &dispatch] { dispatch.action = [k] { return run_check_claim(*k); }; });
}

}  // namespace wmark::cli

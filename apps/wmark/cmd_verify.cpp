// wmark verify: does a suspect model carry the watermark of a key?
// Exit code 0 = ownership verified, 1 = not verified, 2 = error (like grep).
#include <filesystem>
#include <iostream>
#include <vector>

#include "commands.h"
#include "wmark/claim/claim.h"
#include "wmark/claim/priority.h"
#include "wmark/claim/tsa_client.h"
#include "wmark/util/error.h"
#include "wmark/verify/sandboxed_classifier.h"
#include "wmark/verify/suspect.h"
#include "wmark/verify/verifier.h"
#include "wmark/watermark/key.h"
#include "wmark/watermark/trigger_commitments.h"

namespace wmark::cli {
namespace {

struct VerifyCommand {
  std::vector<std::string> models, keys, null_models;
  // Or an adi key's opened triggers: the published commitments, the verifier's request, the opening.
  std::string published, request, opening;
  std::string arch, report, device = "cpu";
  // The library's defaults, stated once (verifier.h).
  double p_threshold = VerifierOptions().p_threshold(), min_match_rate = VerifierOptions().min_match_rate(),
         chance_rate = VerifierOptions().chance_rate(), max_bit_error_rate = VerifierOptions().max_bit_error_rate();
  int threads = 0;
  bool force = false, accept_unverifiable_keys = false, labels_only = false;
  std::string data_dir;
  std::int64_t max_queries = 0;
  // The suspect behind a server (--remote) instead of a file.
  std::string remote, remote_model, remote_ca, protocol = "v2", input_scale = "unit";
  bool binary = false;
  std::int64_t batch_size = 64;
  double timeout = 30;
  int retries = 3;
  // A TorchScript suspect runs in a resource-limited worker process unless --no-sandbox.
  bool no_sandbox = false;
  std::int64_t sandbox_memory = 2048, sandbox_cpu = 600;
  double sandbox_timeout = 120;
  // The keys' priority over the suspect: time stamps checked against trusted TSAs.
  std::string suspect_since, timestamp, tsa_cert;
};

// With --suspect-since: per key, the statement that its time stamp predates the suspect
// (empty when it does not), each printed as checked.
std::vector<std::string> key_priorities(const VerifyCommand& c, const std::vector<WatermarkKey>& keys,
                                        const std::vector<std::string>& key_names) {
  std::vector<std::string> priorities(keys.size());
  if (c.suspect_since.empty()) {
    WMARK_CHECK(c.timestamp.empty() && c.tsa_cert.empty(), "--timestamp and --tsa-cert need --suspect-since, the "
                "earliest time the suspect (or a model it descends from) was available");
    return priorities;
  }
  WMARK_CHECK(!c.tsa_cert.empty(), "--suspect-since needs --tsa-cert, the TSAs whose time stamps you trust");
  WMARK_CHECK(c.timestamp.empty() || c.keys.size() == 1, "--timestamp names one key's token; with several keys each "
              "token is found beside its key (KEY.tst)");
  const auto trusted = read_trusted_certificates(c.tsa_cert);
  for (std::size_t k = 0; k < c.keys.size(); ++k) {
    const auto stamp = c.timestamp.empty() ? timestamp_path(key_names[k]) : std::filesystem::path(c.timestamp);
    const auto priority = check_key_priority_file(keys[k], stamp, trusted, c.suspect_since);
    std::cout << "key " << key_names[k] << ": " << priority.statement
              << (priority.predates ? "; a decision on its unit reference counts"
                                    : "; a decision on its unit reference stays not derivable")
              << "\n";
    if (priority.predates) priorities[k] = priority.statement;
  }
  return priorities;
}

RemoteOptions remote_options(const VerifyCommand& c) {
  return RemoteOptions()
      .url(c.remote)
      .model(c.remote_model)
      .protocol(c.protocol)
      .binary(c.binary)
      .batch_size(c.batch_size)
      .timeout_seconds(c.timeout)
      .retries(c.retries)
      .max_queries(c.max_queries)
      .input_scale(c.input_scale)
      .ca_file(c.remote_ca);
}

SuspectFileOptions file_options(const VerifyCommand& c) {
  return SuspectFileOptions()
      .arch(c.arch)
      .device(parse_device(c.device))
      .sandbox(!c.no_sandbox)
      .sandbox_options(
          SandboxOptions().memory_mb(c.sandbox_memory).cpu_seconds(c.sandbox_cpu).timeout_seconds(c.sandbox_timeout));
}

// One line per decision; with several, each names its suspect and key.
void print_outcome(const SuspectVerification& checked, bool family) {
  const auto& report = checked.report;
  const auto& key_name = checked.key;
  if (family) std::cout << checked.suspect << " with key " << key_name << ": ";
  std::cout << report.summary();
  if (family) std::cout << ", Holm-adjusted over " << report.family_size << ": log10 " << report.family_log10_p_value;
  std::cout << "\n";
  if (report.control.contains("missing")) std::cout << "warning: " << report.control["missing"].get<std::string>() << "\n";
  if (report.refused_key())
    std::cout << "key " << key_name << " refused: " << report.key_derivation
              << ". A key that is not what its secret derives could have been chosen after seeing the suspect; "
                 "--accept-unverifiable-keys decides anyway and marks the report forgeable\n";
  else if (report.key_forgeable)
    std::cout << "warning: key " << key_name << " is " << report.key_derivation
              << "; accepted on request, so this decision proves nothing against a false accuser\n";
  const auto& alignment = report.unit_alignment;
  if (alignment.is_object() && alignment.value("decided_on", "") == "aligned" &&
      !alignment.value("aligned_chance_rate_measured", false))
    std::cout << "note: the aligned reading was decided against 1/2 per bit; aligned to the key's reference, a model "
                 "trained apart from the marked one can agree with more (docs/robustness.md): --null-model measures it\n";
  if (!checked.remote.is_null())
    std::cout << "remote: " << report.queries + report.control.value("queries", std::int64_t{0}) << " images in " << checked.remote["requests"].get<std::int64_t>()
              << " requests, " << report.seconds << " s\n";
}

int run_verify(const VerifyCommand& c) {
  WMARK_CHECK(c.models.empty() != c.remote.empty(), "give the suspect as --model FILE or as --remote URL --remote-model NAME");
  WMARK_CHECK(c.remote.empty() || !c.remote_model.empty(), "--remote needs --remote-model, the model's name on the server");
  if (!c.report.empty()) check_writable(c.report, c.force);
  setup_runtime(c.threads);
  const bool opened = !c.opening.empty();
  WMARK_CHECK(opened != !c.keys.empty(), "give the key as --key FILE, or an adi key's opened triggers as "
              "--published P --request R --opening O");
  WMARK_CHECK(!opened || (!c.published.empty() && !c.request.empty()),
              "--opening needs --published (the owner's commitments) and --request (your open request)");
  std::vector<WatermarkKey> keys;
  std::vector<std::string> key_names = c.keys;
  for (const auto& path : c.keys) keys.push_back(WatermarkKey::load(path));
  if (opened) {
    // Each opened trigger is re-drawn from its seed and checked against its commitment:
    // that, not a derivation from a secret the verifier never sees, binds it to the key.
    keys.push_back(key_from_exchange(read_json_object(c.published), read_json_object(c.request),
                                     read_json_object(c.opening)));
    key_names.push_back(c.opening);
  }
  const auto options = VerifierOptions().p_threshold(c.p_threshold).min_match_rate(c.min_match_rate).chance_rate(c.chance_rate)
                        .max_bit_error_rate(c.max_bit_error_rate).max_queries(c.max_queries).read_scores(!c.labels_only)
                        .require_derivable_key(!opened).accept_unverifiable_keys(c.accept_unverifiable_keys)
                        .data_dir(c.data_dir.empty() ? std::nullopt : std::optional<std::filesystem::path>(c.data_dir));
  const auto priorities = key_priorities(c, keys, key_names);
  std::vector<NamedKey> named;
  for (std::size_t k = 0; k < keys.size(); ++k)
    named.push_back({std::move(keys[k]), Verifier(VerifierOptions(options).key_priority(priorities[k])), key_names[k]});
  if (!c.null_models.empty()) {
    const auto rates =
        measure_aligned_chance_rates(suspect_files({c.null_models.begin(), c.null_models.end()}), named, file_options(c));
    for (std::size_t k = 0; k < named.size(); ++k) {
      named[k].verifier = Verifier(VerifierOptions(options).key_priority(priorities[k]).aligned_chance_rate(rates[k]));
      std::cout << "key " << named[k].name << ": aligned readings decided against " << rates[k]
                << " per bit, the most any of the independent models agrees with once aligned\n";
    }
  }
  const auto checks = c.remote.empty()
                          ? verify_suspects(suspect_files({c.models.begin(), c.models.end()}), named, file_options(c))
                          : verify_remote_suspects(remote_options(c), named);
  if (!c.report.empty()) write_json(c.report, verification_document(checks), c.force);
  const bool family = checks.size() > 1;
  bool any = false;
  for (const auto& check : checks) {
    print_outcome(check, family);
    any = any || check.report.verified;
  }
  if (family)
    std::cout << "family of " << checks.size() << " checks: Holm-Bonferroni keeps the chance of claiming any innocent "
              << "model at most " << c.p_threshold << "\n";
  return any ? 0 : 1;
}

}  // namespace

void add_verify_command(CLI::App& app, Dispatch& dispatch) {
  auto c = std::make_shared<VerifyCommand>();
  auto* sub = app.add_subcommand("verify", "Check a suspect model for a watermark (exit 0 verified, 1 not, 2 error)");
  sub->add_option("--model", c->models,
                  "suspect model: a wmark checkpoint or a TorchScript file, or a folder of them (repeatable; several "
                  "suspects are one family, Holm-Bonferroni)");
  sub->add_option("--remote", c->remote, "or a suspect behind a server: http[s]://HOST:PORT (Triton, KServe, wmark serve, ...)");
  sub->add_option("--remote-model", c->remote_model, "the suspect's model name on that server");
  sub->add_option("--remote-ca", c->remote_ca, "https: PEM certificates to trust for the server (default: the system's)")
      ->check(CLI::ExistingFile);
  sub->add_option("--protocol", c->protocol, "v2 (Open Inference Protocol) or v1 (predict)")
      ->check(CLI::IsMember({"v2", "v1"}));
  sub->add_flag("--binary", c->binary, "v2: send and receive tensors with the binary tensor data extension");
  sub->add_option("--input-scale", c->input_scale,
                  "FP32 inputs the server expects: unit (pixels in [0,1], wmark serve's default), normalized "
                  "(the key's normalisation) or raw (0..255)")
      ->check(CLI::IsMember({"unit", "normalized", "raw"}));
  sub->add_option("--batch-size", c->batch_size, "remote: images per request")->check(CLI::Range(1ll, 1ll << 20));
  sub->add_option("--timeout", c->timeout, "remote: seconds per request")->check(CLI::Range(0.001, 3600.0));
  sub->add_option("--retries", c->retries, "remote: retries after a connection error or 5xx")->check(CLI::Range(0, 20));
  sub->add_option("--max-queries", c->max_queries, "send at most this many images: a fresh random subset of the key's triggers (listed in the report) and of a target-label key's control images, in the key's proportion")
      ->check(CLI::Range(1ll, 1ll << 40));
  sub->add_flag("--labels-only", c->labels_only,
                "decide from the suspect's labels even where the key's scheme reads class scores (dawn)");
  sub->add_option("--arch", c->arch, "architecture of a wmark checkpoint (checked against the file)");
  sub->add_option("--key", c->keys, "the secret watermark key (repeatable: several keys are one family)");
  sub->add_option("--published", c->published, "or an adi key's published commitments (wmark commitments)")
      ->check(CLI::ExistingFile);
  sub->add_option("--request", c->request, "with --published: your open request (wmark open-request)")
      ->check(CLI::ExistingFile);
  sub->add_option("--opening", c->opening, "with --published: the owner's opening of that request (wmark open)")
      ->check(CLI::ExistingFile);
  sub->add_option("--report", c->report, "write the verification report as JSON here");
  sub->add_option("--p-threshold", c->p_threshold, "claim ownership only below this p-value")->check(CLI::Range(1e-300, 0.5));
  sub->add_option("--min-match-rate", c->min_match_rate, "and only at or above this trigger match rate (waived for dawn keys, whose chance rate is exact)")
      ->check(CLI::Range(0.0, 1.0));
  sub->add_option("--chance-rate", c->chance_rate,
                  "match rate of an unwatermarked model (default: the key's, from its label policy; or one measured on reference models)")
      ->check(CLI::Range(0.0, 0.999));
  sub->add_option("--max-bit-error-rate", c->max_bit_error_rate,
                  "white-box keys: and only at or below this bit error rate")->check(CLI::Range(0.0, 0.49));
  sub->add_option("--null-model", c->null_models,
                  "white-box keys: models trained independently of the marked one (files or folders); the aligned "
                  "reading is decided against the most of the key's bits any of them agrees with once aligned");
  sub->add_option("--device", c->device, "cpu or cuda[:N]");
  sub->add_option("--threads", c->threads, "intra-op threads (default: all cores)");
  sub->add_flag("--accept-unverifiable-keys", c->accept_unverifiable_keys,
                "decide even for a key that is not what its secret derives (legacy keys, triggers from user "
                "files, deepsigns-output); the report then says the key is forgeable");
  sub->add_option("--data-dir", c->data_dir, "where the public dataset the key's triggers derive from is found");
  sub->add_option("--suspect-since", c->suspect_since,
                  "the earliest time the suspect, or a model it descends from, was available to anyone but its "
                  "maker (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, UTC): a key time-stamped before it may be decided "
                  "on its unit reference (aligned white-box readings)");
  sub->add_option("--timestamp", c->timestamp, "with --suspect-since: the key's time-stamp token (default: KEY.tst)")
      ->check(CLI::ExistingFile);
  sub->add_option("--tsa-cert", c->tsa_cert, "with --suspect-since: PEM certificates of the TSAs you trust")
      ->check(CLI::ExistingFile);
  sub->add_flag("--force", c->force, "overwrite an existing report");
  sub->add_flag("--no-sandbox", c->no_sandbox,
                "run a TorchScript suspect's code inside wmark instead of a resource-limited worker process "
                "(needed for white-box keys on TorchScript files and for --device cuda)");
  sub->add_option("--sandbox-memory", c->sandbox_memory, "sandbox: memory the suspect may allocate, MB")
      ->check(CLI::Range(16ll, 1ll << 24));
  sub->add_option("--sandbox-cpu", c->sandbox_cpu, "sandbox: CPU seconds for loading and all queries")
      ->check(CLI::Range(1ll, 1ll << 24));
  sub->add_option("--sandbox-timeout", c->sandbox_timeout, "sandbox: wall-clock seconds for loading and per batch")
      ->check(CLI::Range(0.01, 86400.0));
  sub->callback([c, &dispatch] { dispatch.action = [c] { return run_verify(*c); }; });
}

void add_sandbox_worker_command(CLI::App& app, Dispatch& dispatch) {
  auto model = std::make_shared<std::string>();
  auto memory_mb = std::make_shared<std::int64_t>(0);
  auto* sub = app.add_subcommand("sandbox-worker", "internal: the sandbox process of verify (SandboxedClassifier)");
  sub->group("");  // hidden from --help
  sub->add_option("--model", *model, "TorchScript file")->required();
  sub->add_option("--memory-mb", *memory_mb, "address space beyond start-up, MB")->required();
  sub->callback([model, memory_mb, &dispatch] {
    dispatch.action = [model, memory_mb] { return run_sandbox_worker(*model, *memory_mb); };
  });
}

void add_keyinfo_command(CLI::App& app, Dispatch& dispatch) {
  auto path = std::make_shared<std::string>();
  auto* sub = app.add_subcommand("keyinfo", "Print a key's public metadata and commitment (never its triggers)");
  sub->add_option("key", *path, "key file")->required();
  sub->callback([path, &dispatch] {
    dispatch.action = [path] {
      std::cout << WatermarkKey::load(*path).public_info().dump(2) << "\n";
      return 0;
    };
  });
}

}  // namespace wmark::cli

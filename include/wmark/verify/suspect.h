/// \file
/// Verifying a suspect as `wmark verify` does, for library users who want the same
/// safeguards: a model file is opened by what its bytes are (a wmark checkpoint in
/// process; TorchScript, whose code the file carries, in the sandbox worker unless asked
/// otherwise), white-box keys are read from the weights, and the file is hashed before
/// and after so the report names the exact bytes decided on; or the suspect is a model
/// behind a server (Open Inference Protocol v2 or v1), with the transcript hashed.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/arg.h>

#include "wmark/util/export.h"
#include "wmark/verify/remote_classifier.h"
#include "wmark/verify/report.h"
#include "wmark/verify/sandboxed_classifier.h"
#include "wmark/verify/verifier.h"
#include "wmark/watermark/key.h"

namespace wmark {

/// How a suspect file is opened. Each field is a TORCH_ARG.
struct WMARK_API SuspectFileOptions {
  /// The architecture of a wmark checkpoint: given, the file must be a checkpoint of it;
  /// empty, the file's bytes decide between checkpoint and TorchScript (nothing in it runs).
  TORCH_ARG(std::string, arch) = "";
  /// Where the suspect runs. The sandbox worker runs on the CPU only.
  TORCH_ARG(c10::Device, device) = c10::Device(c10::kCPU);
  /// Run a TorchScript suspect's code in the resource-limited worker process
  /// (SandboxedClassifier). false runs it in this process: needed for white-box keys on
  /// TorchScript files (their bits are read inside wmark) and for a CUDA device.
  TORCH_ARG(bool, sandbox) = true;
  /// The worker's limits.
  TORCH_ARG(SandboxOptions, sandbox_options);
};

/// One suspect checked against one key.
struct WMARK_API SuspectVerification {
  std::string suspect;         ///< the file, or "URL model" for a served suspect
  std::string key;             ///< the key's name as the caller gave it (not in to_json: the report names its commitment)
  VerificationReport report;   ///< the decision; model_sha256 is the file's content
  bool sandboxed = false;      ///< whether the suspect's own code ran in the sandbox worker
  nlohmann::json remote;       ///< a served suspect: url, model, protocol, binary, requests; null for a file
  /// The report as `wmark verify --report` writes it: the decision plus "remote" and "sandboxed".
  nlohmann::json to_json() const;
};

/// Verifies the model file `model` against `key` (see the file comment); `key_name`
/// names the key in errors. Throws wmark::Error for a white-box key on a TorchScript
/// file with the sandbox on (reading it runs the file's code in this process), for a
/// sandboxed suspect on a non-CPU device, for a file that changes while it is read, and
/// for anything load_network() or the Verifier refuses.
WMARK_API SuspectVerification verify_suspect_file(const std::filesystem::path& model, const WatermarkKey& key,
                                                  const Verifier& verifier, const SuspectFileOptions& options = {},
                                                  const std::string& key_name = "key");

/// Verifies the model a server serves (`remote`: its URL, name, protocol...) against a
/// black-box key; the report records the transcript's and TLS certificate's SHA-256.
/// Throws wmark::Error for a white-box key (a server gives no weights) and for whatever
/// RemoteClassifier refuses.
WMARK_API SuspectVerification verify_remote_suspect(const RemoteOptions& remote, const WatermarkKey& key,
                                                    const Verifier& verifier, const std::string& key_name = "key");

/// A key to check suspects against: the key, the verifier that decides on it (its
/// thresholds, its priority statement) and the name errors and results give it.
struct WMARK_API NamedKey {
  WatermarkKey key;          ///< the key
  Verifier verifier;         ///< decides on it
  std::string name = "key";  ///< e.g. its file, in errors and SuspectVerification::key
};

/// Every suspect file against every key, suspect by suspect, as `wmark verify` with
/// several --model or --key: each file is checked as verify_suspect_file does, but
/// opened once for all keys (hashed before the first check and after the last, loaded
/// or its sandbox worker started once for keys that take the same inputs). Deciding m pairs at once would claim
/// some innocent model with probability up to m times the threshold, so with more than
/// one pair the family's error is controlled (Verifier::control_family_wise_error):
/// each report is kept verified only if its Holm-adjusted p-value passes. Throws
/// wmark::Error as verify_suspect_file does, for no files or no keys.
WMARK_API std::vector<SuspectVerification> verify_suspects(const std::vector<std::filesystem::path>& files,
                                                           const std::vector<NamedKey>& keys,
                                                           const SuspectFileOptions& options = {});

/// VerifierOptions::aligned_chance_rate for each white-box key of `keys`, measured on the
/// model files `independent`: models trained independently of the marked ones (an
/// arbiter's own, or the accused party's from before the key), each opened once and read
/// for every key as verify_suspects() reads a suspect, then Verifier::aligned_chance_rate()
/// per key (rates in the order of `keys`). Throws wmark::Error for a black-box key (naming
/// it) and as those two do.
WMARK_API std::vector<double> measure_aligned_chance_rates(const std::vector<std::filesystem::path>& independent,
                                                           const std::vector<NamedKey>& keys,
                                                           const SuspectFileOptions& options = {});

/// The served model `remote` against every key (verify_remote_suspect), one family as
/// verify_suspects.
WMARK_API std::vector<SuspectVerification> verify_remote_suspects(const RemoteOptions& remote,
                                                                  const std::vector<NamedKey>& keys);

/// The report document of `checks`, as `wmark verify --report` writes it: one check's
/// SuspectVerification::to_json(), or {"reports": [...]} for a family.
WMARK_API nlohmann::json verification_document(const std::vector<SuspectVerification>& checks);

/// The suspect files that `arguments` name: files as given, and for each folder its
/// model files (.pt, .pth, .ts), sorted. Throws wmark::Error for a folder without any.
WMARK_API std::vector<std::filesystem::path> suspect_files(const std::vector<std::filesystem::path>& arguments);

}  // namespace wmark

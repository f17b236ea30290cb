#include "wmark/verify/suspect.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <utility>

#include "wmark/models/load_network.h"
#include "wmark/models/module_adapter.h"
#include "wmark/util/error.h"
#include "wmark/util/sha256.h"

namespace wmark {
namespace {

// What the key says the suspect takes: its shapes and normalisation.
DatasetTraits key_traits(const WatermarkKey& key) { return {key.input_shape, key.num_classes, key.normalization}; }

bool same_traits(const DatasetTraits& a, const DatasetTraits& b) {
  return a.input == b.input && a.num_classes == b.num_classes && a.normalization.mean == b.normalization.mean &&
         a.normalization.stddev == b.normalization.stddev;
}

// One suspect file checked against any number of keys: hashed before the first and after
// the last check (the same bytes throughout), loaded, or its sandbox worker started, once
// for all keys that take the same inputs (keys of one dataset: in practice once).
class OpenedSuspect {
 public:
  OpenedSuspect(std::filesystem::path model, const SuspectFileOptions& options)
      : model_(std::move(model)), options_(options) {
    WMARK_CHECK(std::filesystem::is_regular_file(model_), "suspect model ", model_.string(),
                " does not exist or is not a file");
    sha256_before_ = file_sha256_hex(model_);
    // Decided from the file's bytes, running nothing in it: a file that carries code is
    // TorchScript, whatever it claims.
    checkpoint_ = !options_.arch().empty() || is_checkpoint_file(model_);
    sandboxed_ = !checkpoint_ && options_.sandbox();
  }

  SuspectVerification verify(const WatermarkKey& key, const Verifier& verifier, const std::string& key_name) {
    SuspectVerification result;
    result.suspect = model_.string();
    result.key = key_name;
    result.sandboxed = sandboxed_;
    if (!key.black_box()) {
      // White-box: the bits are read from the weights or activations; no query is sent.
      // Loading TorchScript runs the file's code (__setstate__) and DeepSigns runs its
      // forward: in process only when the sandbox is off.
      WMARK_CHECK(!sandboxed_, "white-box key ", key_name, " (", key.method, ") is read from the TorchScript model ",
                  model_.string(), " inside wmark, outside the sandbox (loading runs the file's code, deepsigns runs "
                  "its forward); turn the sandbox off to accept that (--no-sandbox), or verify a wmark checkpoint of "
                  "the model");
      const auto& loaded = network(key);
      result.report = verifier.verify_white_box(*loaded.model, key, loaded.description);
    } else {
      WMARK_CHECK(!sandboxed_ || options_.device().is_cpu(), "the sandbox runs the suspect ", model_.string(),
                  " on the CPU; device ", options_.device().str(), " needs the sandbox off (--no-sandbox), which "
                  "runs its TorchScript code inside wmark");
      result.report = verifier.verify(classifier(key), key);
    }
    return result;
  }

  // Names the bytes decided on in every report, after checking they never changed.
  void seal(std::vector<SuspectVerification>& checks, std::size_t first) const {
    const auto sha256_after = file_sha256_hex(model_);
    WMARK_CHECK(sha256_after == sha256_before_, "model ", model_.string(),
                " changed while it was being verified; verify a file nothing else writes");
    for (auto i = first; i < checks.size(); ++i) checks[i].report.model_sha256 = sha256_after;
  }

 private:
  const LoadedNetwork& network(const WatermarkKey& key) {
    if (!network_ || !same_traits(network_traits_, key_traits(key))) {
      network_ = load_network(model_, options_.arch(), key_traits(key), options_.device());
      network_traits_ = key_traits(key);
    }
    return *network_;
  }

  // A checkpoint in process, TorchScript in the sandbox worker (or in process when the
  // sandbox is off).
  Classifier& classifier(const WatermarkKey& key) {
    if (classifier_ && same_traits(classifier_traits_, key_traits(key))) return *classifier_;
    classifier_.reset();  // one sandbox worker at a time
    if (sandboxed_) {
      classifier_ = std::make_unique<SandboxedClassifier>(model_, key.normalization, options_.sandbox_options());
    } else if (!checkpoint_) {
      classifier_ = std::make_unique<TorchScriptClassifier>(model_, key.normalization, options_.device());
    } else {
      const auto& loaded = network(key);
      classifier_ = std::make_unique<ModuleClassifier>(loaded.model, key.normalization, loaded.description,
                                                        options_.device());
    }
    classifier_traits_ = key_traits(key);
    return *classifier_;
  }

  std::filesystem::path model_;
  SuspectFileOptions options_;
  std::string sha256_before_;
  bool checkpoint_ = false;
  bool sandboxed_ = false;
  std::optional<LoadedNetwork> network_;
  DatasetTraits network_traits_;
  std::unique_ptr<Classifier> classifier_;
  DatasetTraits classifier_traits_;
};

// With more than one check, each is decided as one of the family.
std::vector<SuspectVerification> decided_as_family(std::vector<SuspectVerification> checks) {
  if (checks.size() < 2) return checks;
  std::vector<VerificationReport> reports;
  for (const auto& check : checks) reports.push_back(check.report);
  Verifier::control_family_wise_error(reports);
  for (std::size_t i = 0; i < checks.size(); ++i) checks[i].report = reports[i];
  return checks;
}

}  // namespace

nlohmann::json SuspectVerification::to_json() const {
  auto document = report.to_json();
  if (!remote.is_null()) document["remote"] = remote;
  document["sandboxed"] = sandboxed;
  return document;
}

SuspectVerification verify_suspect_file(const std::filesystem::path& model, const WatermarkKey& key,
                                        const Verifier& verifier, const SuspectFileOptions& options,
                                        const std::string& key_name) {
  OpenedSuspect suspect(model, options);
  std::vector<SuspectVerification> checks{suspect.verify(key, verifier, key_name)};
  suspect.seal(checks, 0);
  return checks.front();
}

SuspectVerification verify_remote_suspect(const RemoteOptions& remote, const WatermarkKey& key,
                                          const Verifier& verifier, const std::string& key_name) {
  WMARK_CHECK(key.black_box(), "key ", key_name, " is a white-box key (", key.method,
              "): it is read from the model file, which a server does not give; verify the file");
  SuspectVerification result;
  result.suspect = remote.url() + " " + remote.model();
  result.key = key_name;
  RemoteClassifier suspect(remote, key.input_shape, key.normalization);
  result.report = verifier.verify(suspect, key);
  result.report.transcript_sha256 = suspect.transcript_sha256();
  result.report.tls_certificate_sha256 = suspect.tls_certificate_sha256();
  result.remote = {{"url", remote.url()}, {"model", remote.model()}, {"protocol", remote.protocol()},
                   {"binary", remote.binary()}, {"requests", suspect.requests()}};
  return result;
}

std::vector<SuspectVerification> verify_suspects(const std::vector<std::filesystem::path>& files,
                                                 const std::vector<NamedKey>& keys, const SuspectFileOptions& options) {
  WMARK_CHECK(!files.empty() && !keys.empty(), "verifying needs at least one suspect and one key");
  std::vector<SuspectVerification> checks;
  for (const auto& file : files) {
    OpenedSuspect suspect(file, options);
    const auto first = checks.size();
    for (const auto& key : keys) checks.push_back(suspect.verify(key.key, key.verifier, key.name));
    suspect.seal(checks, first);
  }
  return decided_as_family(std::move(checks));
}

std::vector<double> measure_aligned_chance_rates(const std::vector<std::filesystem::path>& independent,
                                                 const std::vector<NamedKey>& keys, const SuspectFileOptions& options) {
  for (const auto& key : keys)
    WMARK_CHECK(!key.key.black_box(), key.name, " is a black-box key (", key.key.method, "); an aligned chance rate "
                "calibrates white-box keys: for this one measure reference models' match rate and give it as the "
                "chance rate");
  // Named here as what they are, before the loader would call them suspects.
  for (const auto& file : independent)
    WMARK_CHECK(std::filesystem::is_regular_file(file), "independent (null) model ", file.string(),
                " does not exist or is not a file");
  // Raw agreements only: the family's decisions play no part.
  const auto checks = verify_suspects(independent, keys, options);
  std::vector<double> rates;
  for (std::size_t k = 0; k < keys.size(); ++k) {
    std::vector<VerificationReport> readings;
    for (std::size_t i = k; i < checks.size(); i += keys.size()) readings.push_back(checks[i].report);
    rates.push_back(Verifier::aligned_chance_rate(readings));
  }
  return rates;
}

std::vector<SuspectVerification> verify_remote_suspects(const RemoteOptions& remote, const std::vector<NamedKey>& keys) {
  WMARK_CHECK(!keys.empty(), "verifying needs at least one key");
  std::vector<SuspectVerification> checks;
  for (const auto& key : keys) checks.push_back(verify_remote_suspect(remote, key.key, key.verifier, key.name));
  return decided_as_family(std::move(checks));
}

nlohmann::json verification_document(const std::vector<SuspectVerification>& checks) {
  WMARK_CHECK(!checks.empty(), "a verification document needs at least one check");
  if (checks.size() == 1) return checks.front().to_json();
  nlohmann::json documents = nlohmann::json::array();
  for (const auto& check : checks) documents.push_back(check.to_json());
  return {{"reports", documents}};
}

std::vector<std::filesystem::path> suspect_files(const std::vector<std::filesystem::path>& arguments) {
  std::vector<std::filesystem::path> files;
  for (const auto& argument : arguments) {
    if (!std::filesystem::is_directory(argument)) {
      files.push_back(argument);
      continue;
    }
    std::vector<std::filesystem::path> found;
    for (const auto& entry : std::filesystem::directory_iterator(argument)) {
      const auto extension = entry.path().extension();
      if (entry.is_regular_file() && (extension == ".pt" || extension == ".pth" || extension == ".ts"))
        found.push_back(entry.path());
    }
    WMARK_CHECK(!found.empty(), "folder ", argument.string(), " holds no model files (.pt, .pth, .ts)");
    std::sort(found.begin(), found.end());
    files.insert(files.end(), found.begin(), found.end());
  }
  return files;
}

}  // namespace wmark

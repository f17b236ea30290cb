/// \file
/// Watermark schemes as plugins: the one extension point through which `embed`,
/// `verify`, `evaluate`, `keyinfo` and claims reach a scheme.
///
/// A scheme is one class and one registry line. Its registry name is also the `method`
/// of the keys it makes, so a key finds its scheme by name. Contract:
///   - options are declared once in schema(); the factory reads them with
///     schema().read() (defaults filled, unknown keys refused) and options() returns
///     them, so they rebuild the same scheme;
///   - embed() trains (or fine-tunes) the request's model and returns its key; the key
///     is bound to the request's secret and never logged;
///   - a black-box scheme's keys hold "images" (uint8 [N,C,H,W]) and "labels" (int64
///     [N]) that the Verifier queries, and query_matches() says which answers match
///     (the label by default; a multi-bit scheme decodes bits); a scheme that
///     reads_scores() may instead decide from the suspect's class scores where the
///     suspect gives them (score_ranks(): a rank sum, exact under the null); a white-box scheme's
///     keys hold "bits" (uint8 [T]) and the scheme implements extract_bits();
///   - chance_rate() is the probability that a model never marked with the key matches
///     one query (or one bit): the floor under the binomial test's null hypothesis;
///   - check_derivation() recomputes the key's secret parts from its secret (see
///     watermark/derivation.h), or says why it cannot.
/// Every registered scheme passes tests/conformance/test_schemes.cpp.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "wmark/data/dataset.h"
#include "wmark/models/checkpoint.h"
#include "wmark/train/options.h"
#include "wmark/util/export.h"
#include "wmark/util/named_registry.h"
#include "wmark/util/option_schema.h"
#include "wmark/watermark/derivation.h"
#include "wmark/watermark/embed.h"
#include "wmark/watermark/embedder.h"
#include "wmark/watermark/key.h"
#include "wmark/watermark/scheme_choice.h"

namespace wmark {

/// How a scheme's keys are proved.
enum class KeyKind {
  black_box,  ///< by querying the suspect with the key's images ("images", "labels")
  white_box,  ///< by reading bits out of the suspect's weights or activations ("bits")
};

/// What embed_watermark() marks and with what.
struct EmbedRequest {
  /// The model: fresh (trained from scratch) or trained (`pretrained`: fine-tuned).
  NetworkPtr model;
  /// Training and test data; the test split measures clean accuracy (may be empty).
  DatasetSplits splits;
  /// Training options; for a trained model see fine_tuning_recipe() (train/recipe.h).
  TrainerOptions training;
  /// What the model is (architecture, dataset), recorded in the key.
  CheckpointInfo info;
  /// True when `model` is already trained: the scheme fine-tunes it.
  bool pretrained = false;
  /// The key's secret (fresh from the OS CSPRNG unless set).
  KeySecret secret;
  /// The full public training split that triggers or key inputs are drawn from, so that
  /// the key re-derives from its secret (derivation.h); unset = the training split.
  std::optional<Dataset> public_train;
  /// Where datasets are looked up (unrelated triggers).
  std::optional<std::filesystem::path> data_dir;
  /// Clean models of the same task (schemes that filter keys against them).
  std::vector<NetworkPtr> references;
};

/// A watermarking scheme (see the contract above).
class WMARK_API Scheme {
 public:
  virtual ~Scheme() = default;
  /// Registry name and key method, e.g. "uchida".
  virtual std::string name() const = 0;
  /// The declared options (names, types, defaults, ranges, help).
  virtual OptionSchema schema() const = 0;
  /// The options, every default filled in.
  virtual nlohmann::json options() const = 0;
  /// How its keys are proved.
  virtual KeyKind key_kind() const = 0;
  /// False for a scheme that marks a server's answers rather than a model (dawn): its
  /// keys come from the server's log and embed() throws wmark::Error saying so.
  virtual bool marks_model() const { return true; }
  /// True for a scheme that marks by fine-tuning a clean model on keys crafted from it
  /// (frontier-stitching, blackmarks, deepsigns-output): from scratch (`pretrained`
  /// false) it first trains the model clean with the request's training options, so a
  /// caller already holding that clean model passes it as `pretrained` instead
  /// (run_evaluation trains it once per seed for all such schemes).
  virtual bool starts_from_clean_model() const { return false; }
  /// Marks `request.model` and returns the key with what the embedding measured.
  /// Throws wmark::Error for a model or data the scheme cannot mark.
  virtual EmbedResult embed(const EmbedRequest& request) const = 0;
  /// Black-box: which of a suspect's `answers` (int64 [K], classes) to the key's queries
  /// `queried` (int64 [K], positions in its "images") are matches, bool [K]. Default:
  /// the answer is the query's label; a multi-bit scheme decodes the answer to a bit.
  virtual at::Tensor query_matches(const WatermarkKey& key, const at::Tensor& queried, const at::Tensor& answers) const;
  /// Black-box: which of a suspect's `answers` (as for query_matches) count as trials of
  /// the binomial test, bool [K]: those that could match at all, among which a model
  /// never marked with the key matches with chance_rate(). Default: every answer. dawn:
  /// the answers other than the victim's own class (which is never the changed one).
  virtual at::Tensor counted_queries(const WatermarkKey& key, const at::Tensor& queried, const at::Tensor& answers) const;
  /// Black-box: whether score_ranks() reads a suspect's class scores (the Verifier then
  /// asks a suspect for them and uses them where it gives them). Default false.
  virtual bool reads_scores() const { return false; }
  /// Black-box, for schemes that reads_scores(): where the key's answer to each query
  /// ranks in the suspect's class `scores` (float [K, classes]) to `queried`, int64 [K]
  /// in {0, ..., score_rank_levels() - 1}, 0 = the suspect prefers it to every other
  /// candidate. For a model never marked with the key the ranks must be independent and
  /// each uniform on those levels, or larger (ties and NaN count against the key): the
  /// Verifier's rank-sum test is exact on that null, and a rank of 0 is a match at
  /// chance_rate() = 1 / levels. Default: throws wmark::Error.
  virtual at::Tensor score_ranks(const WatermarkKey& key, const at::Tensor& queried, const at::Tensor& scores) const;
  /// How many levels score_ranks() ranks over for a key of `num_classes` classes.
  /// Default: throws wmark::Error.
  virtual std::int64_t score_rank_levels(std::int64_t num_classes) const;
  /// White-box: the bits `model` carries for `key`, uint8 {0,1} shaped as its "bits".
  /// Black-box schemes throw wmark::Error.
  virtual at::Tensor extract_bits(Network& model, const WatermarkKey& key) const;
  /// The chance that a model never marked with a key of these `params` matches one of
  /// its queries (black-box) or bits (white-box): 1/2 per bit unless overridden.
  virtual double chance_rate(const nlohmann::json& params, std::int64_t num_classes) const;
  /// Whether chance_rate() holds exactly for every model that never saw the key, by
  /// construction (its answers are drawn by the secret independently of any model),
  /// rather than being a floor that a clean model may exceed. The Verifier's match-rate
  /// guard (VerifierOptions::min_match_rate) exists for the latter and is waived for
  /// such keys: the p-value alone decides. Default false.
  virtual bool exact_chance_rate() const { return false; }
  /// Whether `key` is what its secret derives (default: not derivable, no derivation known).
  virtual KeyDerivation check_derivation(const WatermarkKey& key,
                                         const std::optional<std::filesystem::path>& data_dir) const;
};

/// Name -> factory(options JSON) table of schemes (see NamedRegistry).
class WMARK_API SchemeRegistry : public NamedRegistry<Scheme> {
 public:
  /// An empty registry.
  SchemeRegistry() : NamedRegistry("watermark scheme") {}
  /// A registry holding the built-in schemes: "trigger-set", "adi",
  /// "frontier-stitching", "blackmarks", "deepmarks", "deepsigns-output", "deepsigns", "uchida",
  /// "dawn", "margin", "certified".
  static SchemeRegistry with_builtins();
};

/// The process's default registry of schemes (the built-ins plus additions).
WMARK_API SchemeRegistry& scheme_registry();


/// `name` as a scheme: a registered scheme with default options, or a trigger
/// generator's name ("content", "noise", "unrelated"), which stands for the
/// "trigger-set" scheme with that generator. Throws wmark::Error listing both
/// families for an unknown name.
WMARK_API SchemeChoice resolve_scheme(const std::string& name);

/// The scheme that made `key` (by its method), with default options. Throws
/// wmark::Error naming the method when no registered scheme has that name.
WMARK_API std::unique_ptr<Scheme> key_scheme(const WatermarkKey& key);

/// The chance rate a key's own description implies, whatever rate the key records: the
/// probability that a model never trained on the key matches one of its queries or
/// bits, its scheme's chance_rate() (trigger sets: 1/C for one target class or random
/// labels on unrelated images, else 1/(C-1); deepsigns-output 1/(C-1); white-box 1/2
/// per bit); for a method no scheme is registered under, the largest of them,
/// max(1/2, 1/(C-1)). A key recording a lower rate is asking for a smaller p-value than
/// its labels allow; the Verifier and check_claim() never go below this floor.
/// Requires C >= 2; throws wmark::Error otherwise.
WMARK_API double chance_rate_floor(const std::string& method, const nlohmann::json& params,
                                   std::int64_t num_classes);

/// The matches among a suspect's `answers` to `key`'s queries `queried`, by the key's
/// scheme (Scheme::query_matches). Throws wmark::Error for an unregistered method.
WMARK_API at::Tensor query_matches(const WatermarkKey& key, const at::Tensor& queried, const at::Tensor& answers);

/// Whether keys of `method` are black-box (false for an unregistered method).
WMARK_API bool is_black_box_method(const std::string& method);

/// Whether keys of `method` have an exact chance rate (Scheme::exact_chance_rate; false
/// for an unregistered method).
WMARK_API bool has_exact_chance_rate(const std::string& method);

/// The embedding of a scheme that marks through a training-loop hook: trains
/// `request.model` with `embedder` added to the Trainer (from scratch, or fine-tuning
/// a trained model) and returns its key with the clean accuracy before and after. For
/// Scheme::embed() implementations whose Embedder needs nothing more.
WMARK_API EmbedResult train_with_embedder(std::shared_ptr<Embedder> embedder, const EmbedRequest& request);

/// Marks `request.model` with `scheme` (a registry name) and `options` (null = the
/// defaults): the one embedding entry point of the CLI, `evaluate` and the examples.
/// Throws wmark::Error for an unknown scheme, bad options or data it cannot mark.
WMARK_API EmbedResult embed_watermark(const std::string& scheme, const nlohmann::json& options,
                                      const EmbedRequest& request);

}  // namespace wmark

#include "wmark/verify/verifier.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include "wmark/models/hidden_units.h"
#include "wmark/models/rebuild.h"
#include "wmark/models/registry.h"
#include "wmark/util/error.h"
#include "wmark/util/random.h"
#include "wmark/verify/statistics.h"
#include "wmark/watermark/derivation.h"
#include "wmark/watermark/scheme.h"
#include "wmark/watermark/unit_alignment.h"

namespace wmark {

struct DerivationCache {
  std::mutex mutex;
  std::map<std::string, KeyDerivation> by_commitment;
};

namespace {

// A key (or a part of the evidence) that a false accuser could have written: refused,
// unless the verifier accepts such keys, and then flagged.
void record_not_derivable(VerificationReport& report, const std::string& reason, bool accept) {
  report.key_derivation = "not derivable: " + reason;
  report.key_forgeable = accept;
  if (!accept) report.verified = false;
}

// How many of `triggers` and `controls` a verification asks under a budget of images
// (0 = all): both in the key's proportion, at least one of each.
std::pair<std::int64_t, std::int64_t> split_budget(std::int64_t budget, std::int64_t triggers, std::int64_t controls) {
  if (budget <= 0 || budget >= triggers + controls) return {triggers, controls};
  if (controls == 0) return {budget, 0};
  WMARK_CHECK(budget >= 2, "a query budget of ", budget, " image cannot ask both a trigger and a control image");
  const auto asked = std::clamp<std::int64_t>(budget * triggers / (triggers + controls), 1, budget - 1);
  return {std::min(asked, triggers), std::min(budget - asked, controls)};
}

// Answers to `triggers` then `controls` (if defined), asked in one batch in a secret
// random order so that the suspect cannot tell the two apart by position; with
// `scores`, the class scores too where the suspect gives them.
SuspectAnswers answer_shuffled(Classifier& suspect, const at::Tensor& triggers, const at::Tensor& controls, bool scores) {
  const auto batch = controls.defined() ? torch::cat({triggers, controls.to(triggers.scalar_type())}) : triggers;
  const auto n = batch.size(0);
  const auto order = controls.defined() ? torch::tensor(secure_random_permutation(n), torch::kLong) : at::Tensor();
  const auto asked = order.defined() ? batch.index_select(0, order) : batch;
  auto answers = scores ? suspect.answer(asked) : SuspectAnswers{suspect.classify(asked), at::Tensor()};
  WMARK_CHECK(answers.labels.dim() == 1 && answers.labels.size(0) == n, suspect.describe(), " returned ",
              answers.labels.sizes(), " labels for ", n, " images");
  answers.labels = answers.labels.to(torch::kLong).cpu();
  if (answers.scores.defined()) {
    WMARK_CHECK(answers.scores.dim() == 2 && answers.scores.size(0) == n, suspect.describe(), " returned ",
                answers.scores.sizes(), " class scores for ", n, " images");
    answers.scores = answers.scores.to(torch::kFloat).cpu();
  }
  if (!order.defined()) return answers;
  // Row order[i] got answer i.
  answers.labels = torch::empty_like(answers.labels).index_copy_(0, order, answers.labels);
  if (answers.scores.defined()) answers.scores = torch::empty_like(answers.scores).index_copy_(0, order, answers.scores);
  return answers;
}

// A reading that replaces the binomial test's p-value (controls, ranks) decides again by
// the same rule: below the threshold, at the match-rate floor.
void decide_at(VerificationReport& report, double log10_p_value) {
  report.log10_p_value = log10_p_value;
  report.p_value = std::pow(10.0, log10_p_value);
  report.verified = report.log10_p_value < std::log10(report.p_threshold) && report.match_rate >= report.min_match_rate;
}

// A suspect that gives scores is decided on its ranks and on its labels, twice the
// smaller p-value (Bonferroni, whatever their dependence): a thief serving one-hot
// scores ties every wrong class, which the rank sum counts against the key, while the
// labels still show the changed answers its copy learnt.
void decide_on_ranks_and_labels(VerificationReport& report, nlohmann::json& score_test) {
  const double rank_sum_log10_p = score_test.at("rank_sum_log10_p_value").get<double>();
  score_test["first_place_log10_p_value"] = report.log10_p_value;
  const auto label_counted = score_test.at("label_counted").get<std::int64_t>();
  const double label_log10_p =
      label_counted > 0
          ? binomial_upper_tail_log10(score_test.at("label_matches").get<std::int64_t>(), label_counted, report.chance_rate)
          : 0.0;
  score_test["label_log10_p_value"] = label_log10_p;
  score_test["decided_by"] = "twice the smaller of the rank sum's and the labels' p-values (Bonferroni)";
  decide_at(report, std::min(0.0, std::log10(2.0) + std::min(rank_sum_log10_p, label_log10_p)));
}

}  // namespace

void Verifier::apply_derivation(VerificationReport& report, const WatermarkKey& key) const {
  if (!options_.require_derivable_key()) return;
  // The commitment covers every byte of the key, so equal commitments derive alike.
  const auto commitment = key.commitment();
  KeyDerivation derivation;
  {
    std::lock_guard<std::mutex> lock(derivations_->mutex);
    auto found = derivations_->by_commitment.find(commitment);
    if (found != derivations_->by_commitment.end()) derivation = found->second;
  }
  if (derivation.reason.empty() && !derivation.derivable) {
    derivation = check_key_derivation(key, options_.data_dir());
    std::lock_guard<std::mutex> lock(derivations_->mutex);
    derivations_->by_commitment.emplace(commitment, derivation);
  }
  if (derivation.derivable) {
    report.key_derivation = "derived";
    return;
  }
  record_not_derivable(report, derivation.reason, options_.accept_unverifiable_keys());
}

Verifier::Verifier(VerifierOptions options) : options_(options), derivations_(std::make_shared<DerivationCache>()) {
  WMARK_CHECK(options_.p_threshold() > 0 && options_.p_threshold() < 1, "p threshold must be in (0,1)");
  WMARK_CHECK(options_.min_match_rate() >= 0 && options_.min_match_rate() <= 1, "minimum match rate must be in [0,1]");
  WMARK_CHECK(options_.chance_rate() >= 0 && options_.chance_rate() < 1, "chance rate must be in [0,1)");
  WMARK_CHECK(options_.max_bit_error_rate() >= 0 && options_.max_bit_error_rate() < 0.5,
              "maximum bit error rate must be in [0,0.5)");
  WMARK_CHECK(options_.aligned_chance_rate() >= 0 && options_.aligned_chance_rate() < 1,
              "aligned chance rate must be in [0,1)");
  WMARK_CHECK(options_.max_queries() >= 0, "the query budget must not be negative");
}

VerificationReport Verifier::decide(std::int64_t matches, std::int64_t queries, const WatermarkKey& key) const {
  WMARK_CHECK(queries > 0, "no trigger was queried");
  VerificationReport report;
  report.method = key.method;
  report.key_commitment = key.commitment();
  report.queries = queries;
  report.matches = matches;
  report.match_rate = static_cast<double>(matches) / static_cast<double>(queries);
  // The key's recorded rate, never below what its label policy implies: a key cannot
  // buy a smaller p-value by writing a smaller number. An explicit option (a rate
  // measured on reference models) is the verifier's own statement and is reported.
  const auto* recorded_field = key.params.is_object() && key.params.contains("chance_rate") ? &key.params["chance_rate"] : nullptr;
  const double recorded = recorded_field && recorded_field->is_number() ? recorded_field->get<double>() : 0.0;
  const double floor = chance_rate_floor(key.method, key.params, key.num_classes);
  report.chance_rate = options_.chance_rate() > 0 ? options_.chance_rate() : std::max(recorded, floor);
  report.log10_p_value = binomial_upper_tail_log10(matches, queries, report.chance_rate);
  report.p_value = binomial_upper_tail(matches, queries, report.chance_rate);
  report.p_threshold = options_.p_threshold();
  // An exact chance rate needs no match-rate guard (Scheme::exact_chance_rate).
  report.min_match_rate = has_exact_chance_rate(key.method) ? 0.0 : options_.min_match_rate();
  report.verified = report.log10_p_value < std::log10(report.p_threshold) && report.match_rate >= report.min_match_rate;
  if (key.one_target_class()) {
    report.control = {{"missing", key.tensors.count("control_images")
                                      ? "the suspect's answers to the key's control images were not given"
                                      : "the key holds no control images (made before keys had them): a suspect "
                                        "that answers the target class to every input would verify; re-embed "
                                        "for a key that has them"}};
  }
  return report;
}

VerificationReport Verifier::decide(std::int64_t matches, std::int64_t queries, const WatermarkKey& key,
                                    const ControlAnswers& control) const {
  WMARK_CHECK(control.queries > 0 && control.target_answers >= 0 && control.target_answers <= control.queries,
              "control answers: ", control.target_answers, " of ", control.queries);
  WMARK_CHECK(matches >= 0 && matches <= queries, matches, " matches of ", queries, " queries");
  auto report = decide(matches, queries, key);
  const double binomial = report.log10_p_value;
  const double fisher = fisher_exact_greater_log10(matches, queries, control.target_answers, control.queries);
  const auto finite = [](double x) { return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(); };
  report.control = {{"queries", control.queries},
                    {"target_answers", control.target_answers},
                    {"target_rate", static_cast<double>(control.target_answers) / static_cast<double>(control.queries)},
                    {"log10_p_value", finite(fisher)},
                    {"binomial_log10_p_value", finite(binomial)}};
  decide_at(report, std::max(binomial, fisher));
  return report;
}

VerificationReport Verifier::verify(Classifier& suspect, const WatermarkKey& key) const {
  const auto start = std::chrono::steady_clock::now();
  WMARK_CHECK(key.black_box(), "verify() queries a model with a black-box key; this key's method is '", key.method,
              "': read the model with verify_white_box()");
  const auto& images = key.tensor("images");
  const auto& labels = key.tensor("labels");
  WMARK_CHECK(images.dim() == 4 && labels.dim() == 1 && images.size(0) == labels.size(0),
              "malformed trigger-set key: images ", images.sizes(), ", labels ", labels.sizes());
  WMARK_CHECK(ImageShape({images.size(1), images.size(2), images.size(3)}) == key.input_shape,
              "malformed trigger-set key: trigger shape differs from the key's input shape");
  // A query budget asks for a fresh random subset each time (OS randomness): a suspect
  // that has seen one verification cannot tell which triggers the next one will use.
  const auto total = labels.size(0);
  const auto key_controls = key.controls();
  auto controls = key_controls ? key_controls->images : at::Tensor();
  const auto [used, used_controls] = split_budget(options_.max_queries(), total, controls.defined() ? controls.size(0) : 0);
  std::vector<std::int64_t> chosen;
  if (used < total) chosen = secure_random_subset(total, used);
  const auto index = torch::tensor(chosen, torch::kLong);
  if (controls.defined() && used_controls < controls.size(0))
    controls = controls.index_select(0, torch::tensor(secure_random_subset(controls.size(0), used_controls), torch::kLong));
  const auto scheme = key_scheme(key);
  const bool read_scores = options_.read_scores() && scheme->reads_scores();
  const auto answers =
      answer_shuffled(suspect, chosen.empty() ? images : images.index_select(0, index), controls, read_scores);
  const auto queried = chosen.empty() ? torch::arange(total, torch::kLong) : index;
  // The labels' test counts only the answers that could match (Scheme::counted_queries).
  const auto given = answers.labels.slice(0, 0, used);
  const auto counted = scheme->counted_queries(key, queried, given);
  auto trials = counted.sum().item<std::int64_t>();
  auto matches = scheme->query_matches(key, queried, given).logical_and(counted).sum().item<std::int64_t>();
  nlohmann::json score_test;
  if (trials < used) score_test = {{"read", "labels"}, {"counted", trials}, {"asked", used}};
  if (read_scores) {
    const auto& scores = answers.scores;
    if (scores.defined() && scores.size(1) == key.num_classes) {
      // The rank sum reads how far up every answer the key's class is, where a count of
      // first places (the matches, reported) reads only the top.
      const auto ranks = scheme->score_ranks(key, queried, scores.slice(0, 0, used));
      const auto levels = scheme->score_rank_levels(key.num_classes);
      // A rank below 0 would buy a smaller p-value: the plugin contract, checked.
      WMARK_CHECK(ranks.dim() == 1 && ranks.size(0) == used && ranks.min().item<std::int64_t>() >= 0 &&
                      ranks.max().item<std::int64_t>() < levels,
                  "the ", key.method, " scheme ranked ", used, " answers outside 0..", levels - 1, ": ", ranks.sizes());
      const auto rank_sum = ranks.sum().item<std::int64_t>();
      score_test = {{"read", "class scores"},
                    {"label_matches", matches},
                    {"label_counted", trials},
                    {"statistic", "rank sum"},
                    {"rank_levels", levels},
                    {"rank_sum", rank_sum},
                    {"mean_rank", static_cast<double>(rank_sum) / static_cast<double>(used)},
                    {"null_mean_rank", static_cast<double>(levels - 1) / 2},
                    {"rank_sum_log10_p_value", uniform_rank_sum_lower_tail_log10(rank_sum, used, levels)}};
      matches = ranks.eq(0).sum().item<std::int64_t>();
      trials = used;
    } else {
      score_test["read"] = "labels";
      score_test["why"] = scores.defined() ? "the suspect gives " + std::to_string(scores.size(1)) +
                                                 " scores per image; the key has " + std::to_string(key.num_classes) +
                                                 " classes"
                                           : std::string("the suspect gives labels only");
    }
  }
  VerificationReport report;
  if (controls.defined()) {
    const auto target_answers = answers.labels.slice(0, used).eq(key_controls->target_label).sum().item<std::int64_t>();
    report = decide(matches, used, key, ControlAnswers{target_answers, controls.size(0)});
  } else {
    // No answer that could match: nothing shown (p = 1), over what was asked.
    report = decide(matches, trials > 0 ? trials : used, key);
  }
  if (score_test.contains("rank_sum_log10_p_value")) decide_on_ranks_and_labels(report, score_test);
  // A multi-bit black-box key (blackmarks) reads a bit per query.
  if (key.tensors.count("bits")) report.bit_error_rate = 1.0 - report.match_rate;
  report.score_test = std::move(score_test);
  report.queried_triggers = std::move(chosen);
  apply_derivation(report, key);
  report.model = suspect.describe();
  report.verified_at = utc_now_iso8601();
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

namespace {

// Every parameter and buffer of a model, copied; put back on destruction, exactly.
class RestoredWeights {
 public:
  explicit RestoredWeights(Network& model) {
    for (const auto& t : model.parameters()) saved_.emplace_back(t, t.detach().clone());
    for (const auto& t : model.buffers()) saved_.emplace_back(t, t.detach().clone());
  }
  ~RestoredWeights() {
    torch::NoGradGuard no_grad;
    // Removing a thief's dummy units changed shapes: those tensors take their old ones.
    for (auto& [live, copy] : saved_) {
      if (live.sizes() == copy.sizes())
        live.detach().copy_(copy);
      else
        live.set_data(copy);
    }
  }
  RestoredWeights(const RestoredWeights&) = delete;
  RestoredWeights& operator=(const RestoredWeights&) = delete;

 private:
  std::vector<std::pair<at::Tensor, at::Tensor>> saved_;
};

// A suspect whose hidden units wmark does not know, typically a TorchScript file, that
// holds the key's architecture (params "arch"): a rebuilt copy, which can be aligned.
// Nothing is tried for a model wmark knows or a key without a registered architecture.
std::optional<RebuiltNetwork> rebuilt_for_alignment(Network& model, const WatermarkKey& key) {
  try {
    hidden_unit_layers(model);
    return std::nullopt;
  } catch (const Error&) {
  }
  const auto arch = key.params.is_object() ? key.params.value("arch", std::string()) : std::string();
  if (arch.empty() || !model_registry().contains(arch)) return std::nullopt;
  // Fixed probes: they only confirm that the tensors are wired as the architecture wires them.
  auto generator = make_generator(derive_seed(0, "rebuild-probes"));
  const auto& shape = key.input_shape;
  const auto probes = torch::randn({8, shape.channels, shape.height, shape.width}, generator);
  return rebuild_as(model, arch, {key.input_shape, key.num_classes}, probes);
}

std::int64_t matching_bits(const at::Tensor& extracted, const at::Tensor& bits, const WatermarkKey& key) {
  WMARK_CHECK(bits.dim() == 1 && extracted.sizes() == bits.sizes(), "malformed ", key.method, " key: ",
              bits.sizes(), " bits but the projection gives ", extracted.sizes());
  return extracted.eq(bits.to(torch::kUInt8)).sum().item<std::int64_t>();
}

}  // namespace

VerificationReport Verifier::verify_white_box(Network& model, const WatermarkKey& key,
                                              const std::string& description) const {
  const auto start = std::chrono::steady_clock::now();
  const auto scheme = key_scheme(key);
  WMARK_CHECK(scheme->key_kind() == KeyKind::white_box, "verify_white_box reads white-box watermarks; this key's "
              "method is '", key.method, "': query the model with verify()");
  const auto& bits = key.tensor("bits");
  // A model widened by dummy neurons may not be readable as it is, only aligned.
  std::optional<std::int64_t> matches;
  std::string unreadable;
  try {
    matches = matching_bits(scheme->extract_bits(model, key), bits, key);
  } catch (const Error& e) {
    if (!has_unit_reference(key)) throw;
    unreadable = e.what();
  }

  // With a unit reference, the suspect is read a second time with its hidden units
  // aligned to the marked model's (undoing permutation and scaling), on the model itself
  // and put back exactly afterwards; the two readings share the p threshold (Bonferroni).
  nlohmann::json alignment;
  std::int64_t aligned_matches = -1;
  if (has_unit_reference(key)) {
    RestoredWeights restore(model);
    alignment = align_units(model, key);
    if (!alignment.contains("skipped")) {
      aligned_matches = matching_bits(scheme->extract_bits(model, key), bits, key);
    } else if (auto rebuilt = rebuilt_for_alignment(model, key)) {
      // Read from a rebuilt copy of the suspect's tensors, aligned; the suspect stays as it is.
      const auto arch = key.params.at("arch").get<std::string>();
      if (!rebuilt->model) {
        alignment["rebuild"] = "not rebuilt as " + arch + ": " + rebuilt->reason;
      } else if (auto aligned = align_units(*rebuilt->model, key); aligned.contains("skipped")) {
        alignment["rebuild"] = "rebuilt as " + arch + ", not aligned: " + aligned["skipped"].get<std::string>();
      } else {
        aligned_matches = matching_bits(scheme->extract_bits(*rebuilt->model, key), bits, key);
        alignment = std::move(aligned);
        alignment["rebuilt_as"] = {{"arch", arch}, {"max_logit_difference", rebuilt->max_logit_difference}};
      }
    }
  }
  WMARK_CHECK(matches || aligned_matches >= 0, unreadable, "; nor could its units be aligned to the key's ",
              "reference: ", alignment.value("skipped", std::string()));
  // Each reading is also taken inverted. Uchida and DeepMarks read the signs of
  // projections of a layer's mean kernel, and a thief who negates that mean (weight
  // shifting subtracts 1.5 mean filters, leaving -0.5 of it; flipping every unit under a
  // batch norm) turns every bit into its complement. A model never marked agrees with the
  // complement as rarely as with the bits, so it is evidence as strong; every reading
  // taken shares the p threshold (Bonferroni).
  struct Reading {
    std::int64_t matches;
    bool aligned, inverted;
  };
  const std::int64_t n = bits.size(0);
  std::vector<Reading> readings;
  if (matches) readings.push_back({*matches, false, false});
  if (aligned_matches >= 0) readings.push_back({aligned_matches, true, false});
  if (matches) readings.push_back({n - *matches, false, true});
  if (aligned_matches >= 0) readings.push_back({n - aligned_matches, true, true});

  // Per bit, a model never trained with this secret agrees at the scheme's rate (1/2);
  // once aligned to the marked model's units, at the rate measured on independent models.
  const double plain_rate = std::max(scheme->chance_rate(key.params, key.num_classes), 0.5);
  const double aligned_rate = std::max(plain_rate, options_.aligned_chance_rate());
  auto verifier_at = [&](double rate) {
    return Verifier(VerifierOptions(options_)
                        .chance_rate(rate)
                        .min_match_rate(1.0 - options_.max_bit_error_rate())
                        .p_threshold(options_.p_threshold() / static_cast<double>(readings.size())));
  };
  const auto plain_verifier = verifier_at(plain_rate), aligned_verifier = verifier_at(aligned_rate);
  auto decide_reading = [&](const Reading& r) {
    return (r.aligned ? aligned_verifier : plain_verifier).decide(r.matches, n, key);
  };
  // The plain reading decides when it verifies; otherwise the one of smallest p-value.
  auto chosen = readings.front();
  auto report = decide_reading(chosen);
  if (!(matches && report.verified)) {
    for (const auto& r : readings) {
      auto candidate = decide_reading(r);
      if (candidate.log10_p_value < report.log10_p_value) {
        chosen = r;
        report = std::move(candidate);
      }
    }
  }
  const bool on_aligned = chosen.aligned;
  report.bits_inverted = chosen.inverted;
  if (aligned_matches >= 0) {
    alignment["plain_matches"] = matches ? nlohmann::json(*matches) : nlohmann::json(nullptr);
    if (!matches) alignment["plain_unreadable"] = unreadable;
    alignment["aligned_matches"] = aligned_matches;
    alignment["aligned_chance_rate"] = aligned_rate;
    alignment["aligned_chance_rate_measured"] = options_.aligned_chance_rate() > 0;
    alignment["decided_on"] = on_aligned ? "aligned" : "plain";
  }
  const bool key_predates_suspect = !options_.key_priority().empty();
  if (on_aligned && key_predates_suspect) alignment["reference_priority"] = options_.key_priority();
  report.unit_alignment = std::move(alignment);
  report.model = description;
  report.verified_at = utc_now_iso8601();
  // Against the key's own bits, whichever reading decided.
  report.bit_error_rate = chosen.inverted ? report.match_rate : 1.0 - report.match_rate;
  apply_derivation(report, key);
  if (on_aligned && report.key_derivation == "derived" && !key_predates_suspect) {
    // The secret derives the bits and projection, not the reference the units were
    // aligned to: that is as old as the key's time stamp says (unit_alignment.h).
    record_not_derivable(report,
                         "the decision rests on aligning the model's units to the key's unit reference, which is "
                         "read off the marked model and not derived from the key's secret (a key written after "
                         "seeing the model could choose it); it is evidence with a time stamp on the key older "
                         "than the suspect (wmark verify --suspect-since T --tsa-cert CA.pem)",
                         options_.accept_unverifiable_keys());
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

double Verifier::aligned_chance_rate(const std::vector<VerificationReport>& independent) {
  WMARK_CHECK(!independent.empty(), "the aligned chance rate needs at least one independent model's reading");
  double rate = 0.5;
  for (const auto& report : independent) {
    const auto& alignment = report.unit_alignment;
    WMARK_CHECK(alignment.is_object() && alignment.contains("aligned_matches") && report.queries > 0,
                report.model, " has no aligned reading of the ", report.method, " key (",
                alignment.is_object() ? alignment.value("skipped", std::string("the key holds no unit reference"))
                                      : std::string("the key holds no unit reference"),
                "): it cannot calibrate one");
    const auto agreeing = alignment["aligned_matches"].get<std::int64_t>();
    const auto most = std::max(agreeing, report.queries - agreeing);
    WMARK_CHECK(most < report.queries, report.model, " agrees with every bit of the ", report.method,
                " key once aligned: a model that is a copy of the marked one cannot calibrate the "
                "aligned reading, and a key no independent model disagrees with cannot prove anything");
    rate = std::max(rate, static_cast<double>(most) / static_cast<double>(report.queries));
  }
  return rate;
}

void Verifier::control_family_wise_error(std::vector<VerificationReport>& reports) {
  std::vector<double> raw;
  for (const auto& report : reports) raw.push_back(report.log10_p_value);
  const auto adjusted = holm_adjusted_log10(raw);
  for (std::size_t i = 0; i < reports.size(); ++i) {
    auto& report = reports[i];
    report.family_size = static_cast<std::int64_t>(reports.size());
    report.family_log10_p_value = adjusted[i];
    report.verified = report.verified && adjusted[i] < std::log10(report.p_threshold);
  }
}

VerificationReport Verifier::verify_model(Network& model, const WatermarkKey& key, const std::string& description,
                                          c10::Device device) const {
  if (!key.black_box()) return verify_white_box(model, key, description);
  ModuleClassifier suspect(std::shared_ptr<Network>(&model, [](Network*) {}), key.normalization, description, device);
  return verify(suspect, key);
}

}  // namespace wmark

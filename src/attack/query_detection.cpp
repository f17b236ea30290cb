#include "wmark/attack/query_detection.h"

#include <torch/torch.h>

#include "attack_options.h"
#include "extraction.h"
#include "wmark/data/subset.h"
#include "wmark/models/clone.h"
#include "wmark/train/trainer.h"
#include "wmark/util/error.h"
#include "wmark/util/random.h"

namespace wmark {
namespace {

constexpr std::int64_t kBatch = 256;

// The layer before the logits, whose output the Mahalanobis detector reads.
std::string penultimate_layer(Network& model) {
  const auto layers = model.tapped_layers();
  WMARK_CHECK(layers.size() >= 2, "the mahalanobis detector reads the layer before the logits, and this model taps ",
              layers.size(), " layer(s); use the max-softmax detector");
  return layers[layers.size() - 2];
}

struct Outputs {
  at::Tensor logits, features;  // features: double [N, F] on the CPU, or undefined
};

Outputs run_model(Network& model, const std::string& layer, const at::Tensor& x) {
  torch::NoGradGuard no_grad;
  if (layer.empty()) return {model.forward(x), {}};
  ActivationCapture capture(model, layer);
  auto logits = model.forward(x);
  return {logits, capture.flat().to(torch::kCPU, torch::kDouble)};
}

Outputs run_dataset(Network& model, const std::string& layer, const Dataset& data, c10::Device device) {
  std::vector<at::Tensor> logits, features;
  for (std::int64_t i = 0; i < data.size(); i += kBatch) {
    const auto n = std::min(kBatch, data.size() - i);
    auto out = run_model(model, layer, data.normalization.apply(data.images.narrow(0, i, n)).to(device));
    logits.push_back(out.logits.cpu());
    if (out.features.defined()) features.push_back(out.features);
  }
  return {torch::cat(logits), features.empty() ? at::Tensor() : torch::cat(features)};
}

// FNV-1a over a query's bytes, keyed: the same query always draws the same class.
std::uint64_t query_hash(const at::Tensor& row, std::uint64_t seed) {
  const auto bytes = row.contiguous().cpu();
  const auto* p = static_cast<const unsigned char*>(bytes.data_ptr());
  std::uint64_t h = 1469598103934665603ULL ^ seed;
  for (std::size_t i = 0; i < bytes.nbytes(); ++i) h = (h ^ p[i]) * 1099511628211ULL;
  return h;
}

// Class means and the inverse of their tied covariance (with a small ridge, so that
// features that never vary do not make it singular).
void fit_mahalanobis(QueryDetector& d, const at::Tensor& features, const at::Tensor& labels, std::int64_t classes) {
  const auto y = labels.to(torch::kLong).cpu();
  std::vector<at::Tensor> means;
  auto row = torch::zeros({classes}, torch::kLong);  // class -> its mean's row (classes seen only)
  for (std::int64_t c = 0; c < classes; ++c) {
    const auto of_class = y.eq(c);
    if (!of_class.any().item<bool>()) continue;
    row[c] = static_cast<std::int64_t>(means.size());
    means.push_back(features.index({of_class}).mean(0));
  }
  d.means = torch::stack(means);
  const auto centred = features - d.means.index_select(0, row.index_select(0, y));
  auto covariance = centred.t().mm(centred) / std::max<std::int64_t>(1, features.size(0) - 1);
  const double ridge = 1e-3 * covariance.diagonal().mean().item<double>() + 1e-12;
  d.precision = torch::linalg_inv(covariance + ridge * torch::eye(covariance.size(0), covariance.options()));
}

// The detector's score of each row: one minus the top probability, or the Mahalanobis
// distance of the features to the nearest class mean (in chunks: [chunk, C, F] at a time).
at::Tensor detector_scores(const QueryDetector& d, const at::Tensor& logits, const at::Tensor& features) {
  if (d.kind == "max-softmax") return 1.0 - torch::softmax(logits.to(torch::kDouble), 1).amax(1).cpu();
  std::vector<at::Tensor> distances;
  for (std::int64_t i = 0; i < features.size(0); i += kBatch) {
    const auto diff = features.narrow(0, i, std::min(kBatch, features.size(0) - i)).unsqueeze(1) - d.means.unsqueeze(0);
    distances.push_back((diff.matmul(d.precision) * diff).sum(-1).amin(1));
  }
  return torch::cat(distances);
}

}  // namespace

QueryDetectingNetwork::QueryDetectingNetwork(NetworkPtr model, QueryDetector detector, NetworkPtr fallback,
                                             std::uint64_t seed)
    : model_(std::move(model)), fallback_(std::move(fallback)), detector_(std::move(detector)), seed_(seed) {
  WMARK_CHECK(model_, "a query-detecting deployment needs a model");
  register_module("model", model_);  // train()/eval() and to() reach the models
  if (fallback_) register_module("fallback", fallback_);
}

at::Tensor QueryDetectingNetwork::score_of(const at::Tensor& logits, const at::Tensor& features) const {
  return detector_scores(detector_, logits, features);
}

at::Tensor QueryDetectingNetwork::scores(const torch::Tensor& x) {
  const auto out = run_model(*model_, detector_.layer, x);
  return score_of(out.logits, out.features);
}

at::Tensor QueryDetectingNetwork::scores(const Dataset& data, c10::Device device) {
  const auto out = run_dataset(*model_, detector_.layer, data, device);
  return score_of(out.logits, out.features);
}

torch::Tensor QueryDetectingNetwork::forward(torch::Tensor x) {
  const auto out = run_model(*model_, detector_.layer, x);
  const auto flagged = score_of(out.logits, out.features) > detector_.threshold;
  if (!flagged.any().item<bool>()) return out.logits;
  at::Tensor answers;
  if (fallback_) {
    torch::NoGradGuard no_grad;
    answers = fallback_->forward(x);
  } else {
    // The model's own logits with a hashed class swapped into the top place.
    answers = out.logits.clone();
    const auto classes = answers.size(1);
    const auto top = answers.argmax(1).cpu();
    for (std::int64_t i = 0; i < answers.size(0); ++i) {
      if (!flagged[i].item<bool>()) continue;
      const auto c = static_cast<std::int64_t>(query_hash(x[i], seed_) % static_cast<std::uint64_t>(classes));
      const auto t = top[i].item<std::int64_t>();
      const auto best = answers[i][t].clone();
      answers[i][t] = answers[i][c];
      answers[i][c] = best;
    }
  }
  return torch::where(flagged.to(out.logits.device()).unsqueeze(1), answers, out.logits);
}

double detection_auroc(const at::Tensor& positives, const at::Tensor& negatives) {
  WMARK_CHECK(positives.numel() > 0 && negatives.numel() > 0, "an AUROC needs scores of both kinds");
  const auto p = positives.to(torch::kDouble).cpu().flatten().unsqueeze(1);
  const auto n = negatives.to(torch::kDouble).cpu().flatten().unsqueeze(0);
  const double higher = (p > n).sum().item<double>() + 0.5 * (p == n).sum().item<double>();
  return higher / static_cast<double>(p.numel() * n.numel());
}

const OptionBinding<QueryDetectionOptions>& QueryDetectionAttack::declared_options() {
  static const auto binding = [] {
    OptionBinding<QueryDetectionOptions> b("the query-detection attack");
    b.describe("Deploy behind an out-of-distribution detector fitted on the thief's data; answer flagged queries "
               "otherwise")
        .text(WMARK_OPTION_FIELD(detector), "mahalanobis (penultimate features) or max-softmax",
              {"mahalanobis", "max-softmax"})
        .number(WMARK_OPTION_FIELD(false_positive_rate), "share of the thief's clean images the detector may flag",
                0.0, 0.5)
        .text(WMARK_OPTION_FIELD(response), "answer to a flagged query: random (hashed class) or retrained (a clean "
              "model trained on the thief's data)", {"random", "retrained"})
        .integer(WMARK_OPTION_FIELD(epochs), "training epochs of the retrained model", 1, 10000);
    return declare_optimizer(b, "the retrained model's");
  }();
  return binding;
}

QueryDetectionAttack::QueryDetectionAttack(QueryDetectionOptions options)
    : options_(declared_options().checked(options)) {}

nlohmann::json QueryDetectionAttack::options() const { return declared_options().write(options_); }

AttackResult QueryDetectionAttack::run(Network& victim, const AttackContext& context) const {
  const auto& data = context.data;
  WMARK_CHECK(data.size() >= 50, "query-detection fits its detector on the thief's images: at least 50 are needed, ",
              "the attacker has ", data.size());
  auto model = clone_network(victim, context.make_model);
  model->eval();
  const auto device = context.training.device();
  // A fifth of the thief's images, never fitted on, sets the threshold.
  const auto [fit, held_out] = split_holdout(data, data.size() / 5, derive_seed(context.seed, "query-detection"));

  QueryDetector detector;
  detector.kind = options_.detector();
  if (detector.kind == "mahalanobis") {
    detector.layer = penultimate_layer(*model);
    fit_mahalanobis(detector, run_dataset(*model, detector.layer, fit, device).features, fit.labels, data.num_classes);
  }
  NetworkPtr fallback;
  if (options_.response() == "retrained") {
    fallback = fresh_surrogate(context, context.arch, "query-detection");
    Trainer(fallback, attack_training(context.training, options_.optimizer(), options_.lr(), options_.epochs(),
                                      context.seed, "query-detection"))
        .fit(fit);
    fallback->eval();
  }
  // The held-out images' scores set the threshold (one pass gives the victim's answers too).
  const auto held = run_dataset(*model, detector.layer, held_out, device);
  const auto held_scores = detector_scores(detector, held.logits, held.features);
  detector.threshold = torch::quantile(held_scores, 1.0 - options_.false_positive_rate()).item<double>();
  auto deployment = std::make_shared<QueryDetectingNetwork>(model, detector, fallback,
                                                            derive_seed(context.seed, "query-detection-answers"));
  const auto victim_answers = held.logits.argmax(1);
  const auto answered = run_dataset(*deployment, "", held_out, device).logits.argmax(1);

  AttackResult result;
  result.model = model;
  result.arch = context.arch;
  result.deployment = deployment;
  result.details = {{"detector", detector.kind},
                    {"layer", detector.layer},
                    {"threshold", detector.threshold},
                    {"response", options_.response()},
                    {"held_out", held_out.size()},
                    {"clean_flagged", held_scores.gt(detector.threshold).to(torch::kDouble).mean().item<double>()},
                    {"agreement", answered.eq(victim_answers).to(torch::kDouble).mean().item<double>()}};
  return result;
}

}  // namespace wmark

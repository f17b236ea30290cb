// "certified": Bansal, Chiang, Curry, Jain, Wigington, Manjunatha, Dickerson and
// Goldstein, "Certified Neural Network Watermarks with Randomized Smoothing" (ICML 2022).
// A trigger set learnt as usual, plus, before every epoch after a warm-up, a pass over
// the triggers with Gaussian noise of growing size on the parameters: one gradient step
// per noise level, averaged over a few draws, so that the model keeps its trigger labels
// under parameter noise. The smoothed reading and the certified l2 radius are
// watermark/parameter_smoothing.h; the embedding reports them.
#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "builtin_schemes.h"
#include "wmark/util/error.h"
#include "wmark/util/log.h"
#include "wmark/util/random.h"
#include "wmark/watermark/parameter_smoothing.h"
#include "wmark/watermark/trigger/trigger_generator.h"

namespace wmark::schemes {
namespace {

using json = nlohmann::json;

struct NoiseTraining {
  double sigma = 0.1;             // largest noise level
  std::int64_t levels = 11;       // 0, sigma/(levels-1), ..., sigma
  std::int64_t draws = 8;         // draws averaged per level
  std::int64_t warmup_epochs = 1; // epochs before the first noise pass
  double lr = 0.5;                // SGD step of each level (its norm clipped to lr)
};

// A trigger embedder whose epochs (after the warm-up) begin with the noise pass. The
// noise comes from the key's secret and the epoch, so every data-parallel rank draws
// the same and the replicas stay equal.
class CertifiedEmbedder final : public TriggerEmbedder {
 public:
  CertifiedEmbedder(NetworkPtr model, PreparedTriggers parts, NoiseTraining noise)
      : TriggerEmbedder(std::move(parts.triggers), parts.key_base, parts.embedder),
        model_(std::move(model)),
        noise_(noise),
        seed_(parts.key_base.secret.stream("certified-noise").next_u64()) {}

  std::string method() const override { return "certified"; }

  void on_epoch_begin(const StepContext&) override {
    ++epochs_begun_;
    if (epochs_begun_ > noise_.warmup_epochs) noise_pass(epochs_begun_);
  }

 private:
  // In eval mode: batch-norm statistics are not fed noisy activations, and the
  // gradient is that of the model the smoothed reading queries.
  void noise_pass(std::int64_t pass) {
    auto& model = *model_;
    const bool training = model.is_training();
    model.eval();
    auto params = model.parameters();
    const auto device = params.front().device();
    const auto images = normalization().apply(triggers().images).to(device);
    const auto labels = triggers().labels.to(device);
    auto generator = make_generator(derive_seed(seed_, "pass-" + std::to_string(pass)));
    std::vector<at::Tensor> original(params.size()), step(params.size());
    for (std::int64_t level = 0; level < noise_.levels; ++level) {
      const double sigma = noise_.levels == 1 ? noise_.sigma
                                              : noise_.sigma * static_cast<double>(level) /
                                                    static_cast<double>(noise_.levels - 1);
      for (std::size_t i = 0; i < params.size(); ++i) {
        original[i] = params[i].detach().clone();
        step[i] = torch::zeros_like(original[i]);
      }
      for (std::int64_t d = 0; d < noise_.draws; ++d) {
        draw_parameter_noise(params, original, sigma, generator);
        const auto loss = torch::cross_entropy_loss(model.forward(images), labels);
        const auto grads = torch::autograd::grad({loss}, params);
        // The paper divides each level's loss by levels * draws: a pass as a whole moves
        // the weights about as far as one step on the mean loss would.
        const auto share = 1.0 / static_cast<double>(noise_.draws * noise_.levels);
        for (std::size_t i = 0; i < params.size(); ++i) step[i] += grads[i] * share;
      }
      torch::NoGradGuard no_grad;
      // A model drowned by the noise has a huge loss and gradient; clipping the
      // gradient's norm to 1, so that a step moves the weights at most noise_lr (a
      // departure from the paper, whose batch-normalised ResNets shrug the noise off),
      // keeps one bad draw from wrecking what the clean epochs learnt.
      double norm = 0;
      for (const auto& g : step) norm += g.pow(2).sum().item<double>();
      const double scale = noise_.lr / std::max(1.0, std::sqrt(norm));
      for (std::size_t i = 0; i < params.size(); ++i) params[i].copy_(original[i] - scale * step[i]);
    }
    model.train(training);
  }

  NetworkPtr model_;
  NoiseTraining noise_;
  std::uint64_t seed_;
  std::int64_t epochs_begun_ = 0;
};

class CertifiedScheme final : public TriggerKeyScheme {
 public:
  explicit CertifiedScheme(const json& options) : options_(schema().read(options)) {
    trigger_registry().create(options_.at("trigger").get<std::string>(), json::object());
  }

  std::string name() const override { return "certified"; }

  OptionSchema schema() const override {
    const NoiseTraining noise;
    const SmoothingOptions smoothing;
    auto schema = OptionSchema("the certified scheme")
        .text("trigger", "content", "trigger generator (the paper: text overlay, i.e. content)",
              trigger_registry().names())
        .integer("trigger_size", 100, "number of triggers (the paper: 100)", 1, 100000)
        .number("smoothing_sigma", smoothing.sigma(), "parameter noise of training and of the smoothed reading (absolute)",
                1e-9, 100.0)
        .integer("noise_levels", noise.levels, "noise levels per pass, 0 to sigma (the paper: 21)", 1, 1000)
        .integer("noise_draws", noise.draws, "draws averaged per level (the paper: 100)", 1, 10000)
        .integer("warmup_epochs", noise.warmup_epochs, "epochs before the first noise pass", 0)
        .number("noise_lr", noise.lr, "SGD step of each noise level, its norm clipped to this (the paper: 0.05, unclipped)", 0.0, 10.0)
        .integer("certify_draws", smoothing.draws(), "draws of the smoothed reading the embedding reports", 10,
                 100000);
    return with_trigger_training_options(schema);
  }

  json options() const override { return options_; }

  EmbedResult embed(const EmbedRequest& request) const override {
    const auto& train = request.splits.train;
    TriggerSpec spec;
    spec.size = options_.at("trigger_size").get<std::int64_t>();
    spec.label_policy = "auto";
    auto options = trigger_options_for(request, options_, options_.at("trigger").get<std::string>(), spec);
    NoiseTraining noise;
    noise.sigma = options_.at("smoothing_sigma").get<double>();
    noise.levels = options_.at("noise_levels").get<std::int64_t>();
    noise.draws = options_.at("noise_draws").get<std::int64_t>();
    noise.warmup_epochs = options_.at("warmup_epochs").get<std::int64_t>();
    noise.lr = options_.at("noise_lr").get<double>();
    auto parts = prepare_triggers(train, options, request.info.arch);
    parts.key_base.params["smoothing_sigma"] = noise.sigma;
    auto embedder = std::make_shared<CertifiedEmbedder>(request.model, std::move(parts), noise);
    auto result = embed_with_trigger_embedder(request.model, request.splits, request.training, embedder,
                                              options.min_trigger_accuracy(), options.max_extra_epochs(),
                                              request.info, request.pretrained);
    // The owner's reading: a fixed seed, so the embedding's report is reproducible.
    const auto certificate = certify_watermark(
        *request.model, result.key,
        SmoothingOptions().sigma(noise.sigma).draws(options_.at("certify_draws").get<std::int64_t>())
            .seed(derive_seed(request.training.seed(), "certify")),
        request.training.device());
    logger()->info("certified: smoothed trigger accuracy >= {:.2f}% (sigma {}), certified l2 radius {:.4g}",
                   100 * certificate.median_lower_bound, noise.sigma, certificate.radius);
    result.details.update(trigger_training_details(result, options.trigger()));
    result.details.update({{"smoothed_trigger_accuracy", certificate.median_lower_bound},
                           {"certified_radius", certificate.radius},
                           {"parameter_norm", certificate.parameter_norm}});
    return result;
  }

 private:
  json options_;
};

}  // namespace

std::unique_ptr<Scheme> make_certified(const json& options) { return std::make_unique<CertifiedScheme>(options); }

}  // namespace wmark::schemes

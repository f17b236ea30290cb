#include "wmark/attack/input_reconstruction.h"

#include <torch/torch.h>

#include "wmark/attack/input_preprocessing.h"
#include "wmark/attack/input_transform.h"
#include "wmark/attack/thief_artefacts.h"
#include "wmark/train/evaluate.h"
#include "wmark/util/error.h"
#include "wmark/util/random.h"

namespace wmark {
namespace {

// A small convolutional autoencoder: two stride-2 convolutions down to a quarter of the
// side (a linear bottleneck), two transposed ones back up. It is trained on the logits with
// binary cross-entropy: through a sigmoid, squared error drove every output to a saturated
// 0 (MNIST's background) within 50 steps and never recovered.
struct AutoencoderImpl : torch::nn::Module {
  AutoencoderImpl(std::int64_t channels, std::int64_t latent) {
    namespace nn = torch::nn;
    encoder = register_module(
        "encoder", nn::Sequential(nn::Conv2d(nn::Conv2dOptions(channels, 32, 3).padding(1)), nn::ReLU(),
                                  nn::Conv2d(nn::Conv2dOptions(32, 32, 4).stride(2).padding(1)), nn::ReLU(),
                                  nn::Conv2d(nn::Conv2dOptions(32, latent, 4).stride(2).padding(1))));
    decoder = register_module(
        "decoder",
        nn::Sequential(nn::ConvTranspose2d(nn::ConvTranspose2dOptions(latent, 32, 4).stride(2).padding(1)), nn::ReLU(),
                       nn::ConvTranspose2d(nn::ConvTranspose2dOptions(32, 32, 4).stride(2).padding(1)), nn::ReLU(),
                       nn::Conv2d(nn::Conv2dOptions(32, channels, 3).padding(1))));
  }
  torch::Tensor logits(const torch::Tensor& pixels) { return decoder->forward(encoder->forward(pixels)); }
  torch::Tensor forward(const torch::Tensor& pixels) { return torch::sigmoid(logits(pixels)); }
  torch::nn::Sequential encoder{nullptr}, decoder{nullptr};
};
TORCH_MODULE(Autoencoder);

// The trained autoencoder as the deployment's input transform.
class Reconstruction : public InputTransform {
 public:
  Reconstruction(Autoencoder autoencoder, nlohmann::json options)
      : autoencoder_(std::move(autoencoder)), options_(std::move(options)) {}
  std::string name() const override { return "input-reconstruction"; }
  nlohmann::json options() const override { return options_; }
  at::Tensor apply(const at::Tensor& pixels) const override {
    check_pixels(pixels, "input-reconstruction");
    torch::NoGradGuard no_grad;
    const auto device = autoencoder_->parameters().front().device();
    return autoencoder_->forward(pixels.to(device)).to(pixels.device());
  }

 private:
  mutable Autoencoder autoencoder_;  // in eval mode, never trained again: forward() changes nothing
  nlohmann::json options_;
};

// The autoencoder and how well it redraws the thief's images: what a thief trains once.
struct TrainedAutoencoder {
  Autoencoder autoencoder{nullptr};
  double reconstruction_mse = 0;
  double final_train_loss = 0;
};

TrainedAutoencoder train_autoencoder(const Dataset& data, const InputReconstructionOptions& options,
                                     std::uint64_t seed, const torch::Device& device) {
  const auto shape = data.shape();
  torch::manual_seed(derive_seed(seed, "input-reconstruction-init"));
  TrainedAutoencoder trained;
  auto& autoencoder = trained.autoencoder = Autoencoder(shape.channels, options.latent_channels());
  autoencoder->to(device);
  torch::optim::Adam adam(autoencoder->parameters(), torch::optim::AdamOptions(options.lr()));
  auto generator = make_generator(derive_seed(seed, "input-reconstruction-order"));
  at::Tensor order;
  std::int64_t start = data.size();
  for (std::int64_t step = 0; step < options.steps(); ++step) {
    if (start >= data.size()) order = torch::randperm(data.size(), generator, torch::kLong), start = 0;
    const auto count = std::min(options.batch_size(), data.size() - start);
    const auto x = data.images.index_select(0, order.narrow(0, start, count)).to(device).to(torch::kFloat) / 255.0;
    start += count;
    adam.zero_grad();
    const auto loss = torch::binary_cross_entropy_with_logits(autoencoder->logits(x), x);
    loss.backward();
    adam.step();
    if (step + 1 == options.steps()) trained.final_train_loss = loss.item<double>();
  }
  autoencoder->eval();
  double squared = 0;
  {
    torch::NoGradGuard no_grad;
    for (std::int64_t start = 0; start < data.size(); start += 256) {
      const auto x = data.images.narrow(0, start, std::min<std::int64_t>(256, data.size() - start)).to(device)
                         .to(torch::kFloat) / 255.0;
      squared += (autoencoder->forward(x) - x).pow(2).sum().item<double>();
    }
  }
  trained.reconstruction_mse = squared / static_cast<double>(std::max<std::int64_t>(1, data.images.numel()));
  return trained;
}

}  // namespace

const OptionBinding<InputReconstructionOptions>& InputReconstructionAttack::declared_options() {
  static const auto binding = OptionBinding<InputReconstructionOptions>("the input-reconstruction attack")
      .describe("Pass every query through an autoencoder trained on the thief's images")
      .integer(WMARK_OPTION_FIELD(latent_channels), "bottleneck channels at a quarter of the side", 1, 1024)
      .integer(WMARK_OPTION_FIELD(steps), "autoencoder training steps", 1, 10000000)
      .number(WMARK_OPTION_FIELD(lr), "Adam learning rate", 1e-9)
      .integer(WMARK_OPTION_FIELD(batch_size), "images per step", 1, 100000);
  return binding;
}

InputReconstructionAttack::InputReconstructionAttack(InputReconstructionOptions options)
    : options_(declared_options().checked(options)) {}

nlohmann::json InputReconstructionAttack::options() const { return declared_options().write(options_); }

AttackResult InputReconstructionAttack::run(Network& victim, const AttackContext& context) const {
  const auto& data = context.data;
  const auto shape = data.shape();
  WMARK_CHECK(shape.height % 4 == 0 && shape.width % 4 == 0, "input-reconstruction: images of ", shape.str(),
              " do not halve twice (sides must be multiples of 4)");
  const auto device = context.training.device();
  // Trained on the thief's images alone: one autoencoder serves every victim.
  const std::function<TrainedAutoencoder()> train = [&] { return train_autoencoder(data, options_, context.seed, device); };
  const auto trained = context.artefacts
                           ? context.artefacts->get_or_build(
                                 "input-reconstruction " + options().dump() + " seed " + std::to_string(context.seed) +
                                     " on " + device.str() + " " + ThiefArtefacts::data_key(data),
                                 train)
                           : std::make_shared<const TrainedAutoencoder>(train());
  auto transform = std::make_shared<Reconstruction>(trained->autoencoder, options());

  AttackResult result;
  result.model = clone_network(victim, context.make_model);
  result.arch = context.arch;
  result.preprocess = transform;
  PreprocessedNetwork deployed(result.model, transform, data.normalization);
  const auto own = predict_labels(victim, data.images, data.normalization, device);
  const auto served = predict_labels(deployed, data.images, data.normalization, device);
  result.details = {{"reconstruction_mse", trained->reconstruction_mse},
                    {"agreement", own.eq(served).to(torch::kDouble).mean().item<double>()},
                    {"final_train_loss", trained->final_train_loss}};
  return result;
}

}  // namespace wmark

#include "wmark/models/network.h"

#include <torch/torch.h>

#include <algorithm>

#include "wmark/util/error.h"

namespace wmark {

void check_model(Network& model, const ModelSpec& spec, const std::string& what) {
  const auto& in = spec.input;
  const bool was_training = model.is_training();
  const auto params = model.parameters();
  const auto device = params.empty() ? torch::Device(torch::kCPU) : params.front().device();
  // Two images: batch-norm layers reject a batch of one in training mode.
  auto x = torch::zeros({2, in.channels, in.height, in.width}, torch::TensorOptions().device(device));
  torch::Tensor logits;
  model.eval();
  try {
    torch::NoGradGuard no_grad;
    logits = model.forward(x);
  } catch (const std::exception& error) {
    model.train(was_training);
    std::string message = error.what();
    if (const auto* c10_error = dynamic_cast<const c10::Error*>(&error)) message = c10_error->what_without_backtrace();
    WMARK_FAIL(what, " does not accept images of shape ", in.str(), " (", message.substr(0, message.find('\n')),
               "); build it for ", in.str(), " inputs or pass the input shape it was built for");
  }
  model.train(was_training);
  WMARK_CHECK(logits.dim() == 2 && logits.size(0) == 2 && logits.size(1) == spec.num_classes, what,
              " returned ", logits.sizes(), " for a batch of 2 images of shape ", in.str(), "; expected [2, ",
              spec.num_classes, "] logits (one per class)");
}

void Network::capture(const std::string& layer) {
  const auto layers = tapped_layers();
  if (std::find(layers.begin(), layers.end(), layer) == layers.end()) {
    std::string known;
    for (const auto& name : layers) known += (known.empty() ? "" : ", ") + name;
    WMARK_FAIL("the model exposes no activations of layer '", layer, "'; its tapped layers: ",
               known.empty() ? "none (a Network subclass exposes a layer by calling tap() in forward())" : known);
  }
  ++captures_[layer].users;
}

void Network::release(const std::string& layer) {
  const auto it = captures_.find(layer);
  if (it != captures_.end() && --it->second.users <= 0) captures_.erase(it);
}

torch::Tensor Network::captured(const std::string& layer) const {
  const auto it = captures_.find(layer);
  WMARK_CHECK(it != captures_.end(), "layer '", layer, "' is not captured; call capture() first");
  return it->second.output;
}

std::vector<std::string> Network::captured_layers() const {
  std::vector<std::string> names;
  for (const auto& entry : captures_) names.push_back(entry.first);
  return names;
}

torch::Tensor Network::tap(const std::string& layer, const torch::Tensor& x) {
  if (captures_.empty()) return x;
  const auto it = captures_.find(layer);
  if (it != captures_.end()) it->second.output = x;
  return x;
}

ActivationCapture::ActivationCapture(Network& model, std::string layer) : model_(model), layer_(std::move(layer)) {
  model_.capture(layer_);
}

ActivationCapture::~ActivationCapture() { model_.release(layer_); }

torch::Tensor ActivationCapture::output() const {
  auto activation = model_.captured(layer_);
  WMARK_CHECK(activation.defined(), "layer '", layer_, "' was not reached by the last forward()");
  return activation;
}

torch::Tensor ActivationCapture::flat() const { return output().flatten(1); }

void to_channels_last(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  // An explicit copy, not contiguous(): for a size-1 channel dimension (conv1 on grey
  // images) contiguous() keeps NCHW strides, and the convolution then stays NCHW.
  auto convert = [](torch::Tensor& t) {
    if (t.dim() != 4) return;
    auto nhwc = torch::empty_like(t, t.options(), torch::MemoryFormat::ChannelsLast);
    nhwc.copy_(t);
    t.set_data(nhwc);
  };
  for (auto& p : module.parameters()) convert(p);
  for (auto& b : module.buffers()) convert(b);
}


}  // namespace wmark

/// \file
/// The model type the library trains and verifies: a torch::nn::Module with one
/// image-batch-in, logits-out forward.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <torch/nn/module.h>

#include "wmark/data/dataset.h"
#include "wmark/util/export.h"

namespace wmark {

/// What an architecture is built for: the input image shape and the class count.
struct ModelSpec {
  ImageShape input;              ///< one image, [C,H,W]
  std::int64_t num_classes = 0;  ///< length of the logits vector
};

/// A classifier network: normalised float [N,C,H,W] in, logits [N,num_classes] out.
///
/// Hidden activations (for the activation watermarks): LibTorch modules have no forward
/// hooks, so a network exposes layers itself. forward() passes each exposed layer's
/// output to tap() under its module path ("fc1", "features.3"), and tapped_layers()
/// lists those paths. The built-in architectures and TorchScript models (ScriptNetwork)
/// do so; a user's own Network subclass can by calling tap() in its forward. Capturing
/// is per model object and costs nothing while no layer is captured.
class WMARK_API Network : public torch::nn::Module {
 public:
  /// Logits for a normalised batch.
  virtual torch::Tensor forward(torch::Tensor x) = 0;
  /// Module paths of the layers forward() passes to tap(), in forward order (none by default).
  virtual std::vector<std::string> tapped_layers() const { return {}; }

  /// From now on, keeps the output of `layer` from every forward() (until as many
  /// release() calls as capture() calls). Throws wmark::Error listing tapped_layers()
  /// if the model does not tap `layer`.
  void capture(const std::string& layer);
  /// Undoes one capture(); the last one drops the kept tensor.
  void release(const std::string& layer);
  /// The output of `layer` in the last forward() since capture() (with its autograd
  /// history in training); undefined before the first forward(). Throws wmark::Error
  /// if `layer` is not captured.
  torch::Tensor captured(const std::string& layer) const;

 protected:
  /// Whether any layer is captured (forward() may skip building layer names otherwise).
  bool capturing() const { return !captures_.empty(); }
  /// The captured layers' paths.
  std::vector<std::string> captured_layers() const;
  /// Called by forward() with the output `x` of the layer at module path `layer`: keeps
  /// it if that layer is captured. Returns `x`.
  torch::Tensor tap(const std::string& layer, const torch::Tensor& x);

 private:
  struct Capture {
    int users = 0;
    torch::Tensor output;
  };
  std::map<std::string, Capture> captures_;
};

/// Captures a layer of a model for the lifetime of this object (Network::capture()
/// on construction, release() on destruction).
class WMARK_API ActivationCapture {
 public:
  /// Captures `layer` of `model`; throws wmark::Error if the model does not tap it.
  ActivationCapture(Network& model, std::string layer);
  ~ActivationCapture();
  ActivationCapture(const ActivationCapture&) = delete;
  ActivationCapture& operator=(const ActivationCapture&) = delete;
  /// The layer's output in the model's last forward(), as the layer gave it (a tensor on
  /// the path to the logits, so gradients can be taken with respect to it); throws
  /// wmark::Error if that forward() did not reach the layer.
  torch::Tensor output() const;
  /// output() flattened to [N, features].
  torch::Tensor flat() const;

 private:
  Network& model_;
  std::string layer_;
};

/// Shared ownership of a Network (models are shared between trainer, hooks and classifiers).
using NetworkPtr = std::shared_ptr<Network>;

/// Checks that `model` turns a batch of spec.input images into [N, spec.num_classes]
/// logits, by running two zero images through it (eval mode, no gradients; the
/// training mode is restored). Throws wmark::Error naming `what` and both shapes if not.
WMARK_API void check_model(Network& model, const ModelSpec& spec, const std::string& what = "model");

/// Stores the module's 4-D parameters and buffers channels-last (NHWC). On CPU,
/// LibTorch's NHWC convolution and pooling kernels are much faster than NCHW ones
/// (measured: a 2x2 max-pool 14x, a whole mnist_cnn step 1.3x).
WMARK_API void to_channels_last(torch::nn::Module& module);

}  // namespace wmark

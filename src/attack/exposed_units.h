// Internal: hidden units whose activations a model exposes, and silencing them; shared by
// the attacks that prune or reset units by how they respond (fine-pruning,
// neural-cleanse-pruning, neural-laundering).
#pragma once

#include <string>
#include <vector>

#include "wmark/attack/prune.h"
#include "wmark/data/dataset.h"
#include "wmark/models/hidden_units.h"

namespace wmark {

/// A hidden-unit layer and the tapped layer that shows its units after their nonlinearity.
struct ExposedUnitLayer {
  HiddenUnitLayer layer;
  /// The tapped layer whose output holds the units, or (`from_block_input`) feeds their producer.
  std::string tapped;
  /// The units are recomputed as ReLU(norm(producer(tapped output))): a residual block's
  /// first layer, whose units the block's output (a sum with the shortcut) does not show.
  bool from_block_input = false;
};

/// The hidden-unit layers whose units `model` exposes, in forward order: a tapped layer
/// itself, the last one inside a tapped Sequential block (cifar_cnn's "features"), or the
/// first layer inside a tapped residual block (resnet18's "layers.3.conv1"), recomputed
/// from the block's input: the output of the tapped layer before the block.
std::vector<ExposedUnitLayer> exposed_unit_layers(Network& model);

/// The mean over `images` (uint8 or float on the pixel scale, [N,C,H,W]) of `exposed`'s
/// activation, double [units, ...spatial] on the CPU; the model is left in eval mode.
at::Tensor mean_unit_activation(Network& model, const ExposedUnitLayer& exposed, const at::Tensor& images,
                                const Normalization& normalization, c10::Device device);

/// A mean_unit_activation() averaged over its spatial positions, [units].
inline at::Tensor mean_per_unit(const at::Tensor& activation) {
  return activation.dim() > 1 ? activation.flatten(1).mean(1) : activation;
}

/// Zeroes the producer rows and consumer columns of `units` (int64 indices) in `layer`,
/// so they neither compute nor are read, and returns the mask that keeps them so.
PruneMask silence_units(Network& model, const HiddenUnitLayer& layer, const at::Tensor& units);

}  // namespace wmark

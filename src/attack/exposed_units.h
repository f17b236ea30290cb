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

/// A hidden-unit layer and the tapped layer whose output holds its units after their nonlinearity.
struct ExposedUnitLayer {
  HiddenUnitLayer layer;
  std::string tapped;
};

/// The hidden-unit layers whose units `model` exposes, in forward order: a tapped layer
/// itself, or the last one inside a tapped Sequential block (cifar_cnn's "features").
/// Units inside residual blocks are not exposed (the block's output is a sum).
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

/// \file
/// Hidden units a function-preserving change may permute or rescale: the thief's attacks
/// that need no data and no training (neuron permutation and scaling), and what an owner
/// must undo before reading a weight or activation watermark.
///
/// A layer of hidden units is produced by one convolution or linear layer (rows of its
/// weight and bias, optionally followed by a batch norm over the same units) and consumed
/// by the next layer's weight (its input columns, in blocks after a flatten). Between the
/// two sit only ReLU, max-pooling and dropout, which commute with a permutation of the
/// units and with multiplying each unit by a positive factor; so reordering the units
/// consistently, or scaling a unit by c and its consumer columns by 1/c, leaves the
/// network's function unchanged. Under a batch norm the producer's rows are free to
/// change scale and even sign: the norm undoes both.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "wmark/models/network.h"
#include "wmark/util/export.h"

namespace wmark {

/// One layer of hidden units (see above); every name is a parameter or buffer of the model.
struct HiddenUnitLayer {
  std::string name;           ///< the producing layer's path, e.g. "conv1", "features.3"
  std::int64_t units = 0;     ///< how many units
  std::string weight;         ///< the producer's weight (dim 0 = unit)
  std::string bias;           ///< the producer's bias ("" if none)
  std::string norm;           ///< path of the batch norm over the units ("" if none)
  std::string consumer;       ///< the weight reading the units (dim 1, `block` columns per unit)
  std::int64_t block = 1;     ///< consumer columns per unit (height*width after a flatten)
};

/// The freely transformable hidden-unit layers of the built-in architectures: every
/// layer but the logits of mnist_cnn and cifar_cnn; inside each residual block of
/// resnet18 (units feeding a residual sum are tied to the shortcut: residual_streams()).
/// Throws wmark::Error for a model whose structure wmark does not know (a TorchScript
/// file, a user's own Network).
WMARK_API std::vector<HiddenUnitLayer> hidden_unit_layers(Network& model);

/// The layers `selection` names (comma-separated layer names; "" = all of them); throws
/// wmark::Error naming the available layers for an unknown name.
WMARK_API std::vector<HiddenUnitLayer> select_hidden_unit_layers(Network& model, const std::string& selection);

/// A layer's tensors, each sharing storage with the model's (writing them changes it).
struct UnitTensors {
  std::vector<at::Tensor> rows;     ///< the producer's weight and bias (dim 0 = unit)
  std::vector<at::Tensor> norm;     ///< the batch norm's affine weight and bias (empty without one)
  at::Tensor running_mean;          ///< the batch norm's running mean (undefined without one)
  at::Tensor running_var;           ///< the batch norm's running variance (undefined without one)
  double eps = 0;                   ///< the batch norm's epsilon
  at::Tensor consumer;              ///< the consumer's weight viewed as [out, units, block]
  at::Tensor consumer_weight;       ///< the consumer's weight itself
};

/// The tensors of `layer` in `model`.
WMARK_API UnitTensors unit_tensors(Network& model, const HiddenUnitLayer& layer);

/// Rebuilds `layer` from the units `index` names (int64 [k], entries in [0, units), repeats
/// allowed): new unit i is old unit index[i] in the producer, its batch norm and the
/// consumer alike, so the width becomes k. The parameters stay the same objects with new
/// shapes; call hidden_unit_layers() again afterwards.
WMARK_API void select_units(Network& model, const HiddenUnitLayer& layer, const at::Tensor& index);

/// Sets `layer`'s width to `units`: the first units are kept, new ones compute nothing and
/// are read by nobody (zero rows and consumer columns, a batch norm's identity
/// statistics). Call hidden_unit_layers() again afterwards.
WMARK_API void resize_units(Network& model, const HiddenUnitLayer& layer, std::int64_t units);

/// Gives each hidden-unit layer of `model` the width `width_of(producer weight name)`
/// returns (nullopt: leave it), in forward order; a model of another structure is left
/// as it is. A thief's added units (dummy neurons) change widths, so a checkpoint or a
/// clone is built at the built-in widths and then widened to the file's or the source's
/// before its tensors are copied (which still checks every shape). Refuses a width below
/// 1 or above 64 times the built one (a damaged or hostile file), naming `what`.
WMARK_API void match_unit_widths(Network& model,
                                 const std::function<std::optional<std::int64_t>(const std::string&)>& width_of,
                                 const std::string& what);

/// Reorders the units of `layer` so that new unit i is old unit `order[i]` (int64 [units],
/// a permutation), in the producer, its batch norm and the consumer alike.
WMARK_API void permute_units(Network& model, const HiddenUnitLayer& layer, const at::Tensor& order);

/// Multiplies unit i's output by `factors[i]` (> 0, float [units]) and divides the
/// consumer's columns of unit i by it. With a batch norm, its affine weight and bias are
/// scaled, and the producer's rows too with the running statistics adjusted to match, so
/// the weights of every layer involved change.
WMARK_API void scale_units(Network& model, const HiddenUnitLayer& layer, const at::Tensor& factors);

/// For units followed by a batch norm: negates unit i where `flip[i]` (bool [units]):
/// its producer row and bias, the norm's running mean and its affine weight, so that the
/// norm's output, and so the function, does not change (a unit's sign cannot pass a ReLU,
/// but under a batch norm it is free; train-mode statistics follow the sign too). Throws
/// wmark::Error for a layer without a batch norm.
WMARK_API void flip_unit_signs(Network& model, const HiddenUnitLayer& layer, const at::Tensor& flip);

/// A residual stream of resnet18: the channels one stage's blocks add into. Several
/// layers write it (the stem or the stage's first shortcut, and every block's second
/// convolution, each followed by a batch norm) and several read it (the blocks' first
/// convolutions, the next stage's shortcut, the classifier), so its channels can only be
/// reordered all at once, consistently in every writer and reader.
struct ResidualStream {
  std::string name;                    ///< "stream1" to "stream4", by stage
  std::int64_t units = 0;              ///< channels
  std::vector<std::string> producers;  ///< convolution weights writing it (dim 0 = channel)
  std::vector<std::string> norms;      ///< the batch norm after each producer
  std::vector<std::string> readers;    ///< weights reading it (dim 1 = channel)
};

/// The residual streams of a resnet18, in forward order; empty for a model without
/// them (mnist_cnn, cifar_cnn, a structure wmark does not know).
WMARK_API std::vector<ResidualStream> residual_streams(Network& model);

/// Reorders the channels of `stream` so that new channel i is old channel `order[i]`
/// (int64 [units], a permutation) in every producer, batch norm and reader: the function
/// does not change.
WMARK_API void permute_stream(Network& model, const ResidualStream& stream, const at::Tensor& order);

/// Multiplies channel i of `stream` by `factors[i]` (> 0, float [units]): every writer's
/// batch-norm weight and bias, so the sum and the ReLU after it scale too, and divides
/// every reader's columns of the channel by it. The function does not change.
WMARK_API void scale_stream(Network& model, const ResidualStream& stream, const at::Tensor& factors);

/// What each unit of `layer` computes from its inputs, as an affine map in eval mode: its
/// producer row and bias with the batch norm folded in, float [units, inputs + 1] (the
/// bias last). Permuting or scaling the units permutes or scales its rows; permuting or
/// scaling the units of the layer before permutes or scales its input columns.
WMARK_API at::Tensor effective_incoming_weights(Network& model, const HiddenUnitLayer& layer);

/// For a unit followed by a batch norm: multiplies its producer row and bias by
/// `factors[i]` (> 0) and adjusts the running statistics so that the norm's output, and
/// so the function, does not change (where the running variance allows; such a unit
/// keeps factor 1). Without a batch norm, nothing changes. Returns the factors applied.
WMARK_API at::Tensor scale_producer_rows(Network& model, const HiddenUnitLayer& layer, const at::Tensor& factors);

}  // namespace wmark

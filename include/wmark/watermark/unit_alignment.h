/// \file
/// Unit alignment: undoing a thief's neuron permutation and rescaling before a white-box
/// watermark (Uchida, DeepSigns, DeepMarks) is read.
///
/// Reordering a network's hidden units, or scaling a unit by c > 0 and its consumers by
/// 1/c, keeps the function and scrambles the order and scale the bits are read in
/// (attack/neuron_permutation.h, neuron_scaling.h). At embedding, the key records a
/// reference of the marked model's units: per hidden-unit layer (models/hidden_units.h),
/// a count sketch (128 values) of each unit's normalised effective incoming weights, its
/// norm and, under a batch norm, its producer row's norm and the sign of the norm's
/// weight. Before reading, the suspect's units are matched to the reference layer by
/// layer in forward order (each layer's inputs are then in the reference's order): the
/// assignment of maximal total cosine similarity, then each unit under a batch norm
/// given the reference's sign (a thief may negate such a unit for free), then each unit
/// rescaled to the reference's norm. A resnet18's residual streams (models/hidden_units.h)
/// come first: each is matched on its first writer (the stem or a shortcut, with its
/// batch norm), reordered and rescaled in all its writers and readers at once. A layer with more units
/// than the reference first loses its redundant ones (a thief's dummy neurons;
/// models/redundant_units.h). The alignment is built
/// from the weights and the reference only, never from the key's bits or projection.
///
/// The reference is read off the marked model, not derived from the key's secret: a
/// false accuser writing a key after seeing a model could choose it to reorder that
/// model's units into agreement with the bits. So the Verifier reads the suspect both as
/// it is and aligned (each also against the bits' complement), decides on the readings
/// with a Bonferroni correction, and a
/// decision that rests on the aligned reading is evidence against a false accuser only
/// with a time stamp on the key (VerifierOptions::require_derivable_key says so).
/// Aligned, an innocent model of the same task also agrees with an activation key
/// (DeepSigns) beyond 1/2: VerifierOptions::aligned_chance_rate, measured on models
/// trained apart from the marked one, is the aligned readings' null.
#pragma once

#include <nlohmann/json.hpp>

#include "wmark/models/network.h"
#include "wmark/util/export.h"
#include "wmark/watermark/key.h"

namespace wmark {

/// Values in each unit's sketch.
inline constexpr std::int64_t kUnitSketchSize = 128;

/// Adds `model`'s unit reference to `key` (tensors "unit-reference/LAYER/sketch",
/// ".../norm" and, under a batch norm, ".../row-norm" and ".../norm-sign", float32; ".../inputs", int64 [1],
/// the inputs of each unit plus its bias; for each residual stream S, "unit-reference/S/..."
/// sketch, norm and inputs of its first writer). Returns false and adds nothing for a model
/// whose hidden units wmark does not know (a TorchScript file).
WMARK_API bool record_unit_reference(Network& model, WatermarkKey& key);

/// Whether `key` holds a unit reference.
WMARK_API bool has_unit_reference(const WatermarkKey& key);

/// Removes redundant units, reorders and rescales `model`'s hidden units in place to
/// match `key`'s reference (see above); the function is unchanged. Returns {"layers":
/// [{"layer", "units", "moved", "flipped", "folded", "dropped", "mean_similarity",
/// "lowest_similarity"}]}, or {"skipped": REASON} when the model's units do not
/// correspond to the reference (another architecture, other widths or inputs, a layer
/// still wider after removing redundant units); the model may then be partly aligned. Throws wmark::Error for a malformed reference.
WMARK_API nlohmann::json align_units(Network& model, const WatermarkKey& key);

/// The count sketch of each row of `rows` (float [N, D]): kUnitSketchSize values per row,
/// each input j added with a sign into a bucket, both from a fixed hash of j; inner
/// products are kept in expectation.
WMARK_API at::Tensor unit_sketch(const at::Tensor& rows);

}  // namespace wmark

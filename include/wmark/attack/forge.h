/// \file
/// The false accuser's forgery (Liu et al., "False Claims against Model Ownership
/// Resolution", USENIX Security 2024): triggers crafted as targeted adversarial examples
/// on the accuser's own surrogate models, so that they transfer to models the accuser
/// never touched, written as a legacy key that "verifies" against such a model when the
/// verifier accepts keys it cannot re-derive.
///
/// wmark ships it to measure its own defence: `wmark verify` refuses the forged key by
/// default (its triggers are not what any secret derives, derivation.h), and
/// `--accept-unverifiable-keys` shows what the attack achieves (docs/results.md).
/// It is not a removal attack (it makes a key, not a model), so it is not in the
/// attack registry.
#pragma once

#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/arg.h>

#include "wmark/data/dataset.h"
#include "wmark/models/network.h"
#include "wmark/util/export.h"
#include "wmark/watermark/key.h"

namespace wmark {

/// Options of forge_trigger_key().
struct WMARK_API ForgeOptions {
  /// Forged triggers in the key.
  TORCH_ARG(std::int64_t, triggers) = 100;
  /// L-infinity budget of each perturbation, in pixel units of [0, 1].
  TORCH_ARG(double, epsilon) = 0.3;
  /// Projected gradient steps.
  TORCH_ARG(std::int64_t, steps) = 100;
  /// Step size, in pixel units of [0, 1].
  TORCH_ARG(double, step_size) = 0.01;
  /// Momentum of the normalised gradient (MI-FGSM, Dong et al. 2018; 0 is plain PGD),
  /// which makes targeted examples transfer better.
  TORCH_ARG(double, momentum) = 1.0;
  /// Seed of the choice of source images, target labels and the key's legacy seed.
  TORCH_ARG(std::uint64_t, seed) = 1;
};

/// A forged key and what its making measured.
struct WMARK_API ForgeResult {
  /// A legacy (format-1) trigger-set key: the adversarial images, their target labels
  /// (uniform over the classes other than the source image's), random label policy.
  WatermarkKey key;
  /// Options, and per surrogate the fraction of triggers it gives the target label.
  nlohmann::json details = nlohmann::json::object();
};

/// Crafts the forgery from `sources` (the accuser's own labelled images; its dataset
/// name and normalisation go into the key) against the ensemble of `surrogates`
/// (models of the accuser's, all taking `sources`' shape and class count; left in eval
/// mode, their weights unchanged). Throws wmark::Error for no surrogate, bad options or
/// fewer source images than triggers.
WMARK_API ForgeResult forge_trigger_key(const std::vector<NetworkPtr>& surrogates, const Dataset& sources,
                                        const ForgeOptions& options, c10::Device device = c10::kCPU);

}  // namespace wmark

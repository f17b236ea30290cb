/// \file
/// Neural Cleanse's trigger reconstruction (Wang et al., IEEE S&P 2019), the first step of
/// the backdoor-removal attacks (neural-cleanse-unlearning, neural-cleanse-pruning,
/// neural-laundering): for every class, the smallest mask and pattern that, stamped on
/// the attacker's images of other classes, make the model answer that class. A class a
/// trigger set (or backdoor) points to needs a much smaller mask than the others; the
/// median absolute deviation of the mask norms flags it.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/arg.h>

#include "wmark/data/dataset.h"
#include "wmark/models/network.h"
#include "wmark/util/export.h"

namespace wmark {
class ThiefArtefacts;
}

namespace wmark {

/// How hard to look (defaults: the toolbox's CIFAR-10 configs, counted in steps so that
/// a small attacker set still gets a converged search).
struct TriggerReconstructionOptions {
  /// Optimisation steps per class (a batch of the attacker's images of the other classes
  /// each; the toolbox's 4 passes over 10,000 CIFAR-10 images are about 600).
  TORCH_ARG(std::int64_t, steps) = 300;
  /// Further steps for each flagged class (or the most suspect one when none is flagged).
  TORCH_ARG(std::int64_t, refine_steps) = 600;
  /// Weight of the mask's L1 norm against the cross-entropy towards the class.
  TORCH_ARG(double, mask_weight) = 0.01;
  /// Adam's learning rate on the mask's and pattern's logits (betas 0.5, 0.9 as Neural Cleanse).
  TORCH_ARG(double, lr) = 0.1;
  /// Images per optimisation step.
  TORCH_ARG(std::int64_t, batch_size) = 64;
};

/// The trigger found for one class.
struct WMARK_API ReconstructedTrigger {
  std::int64_t target = 0;    ///< the class the trigger sends images to
  at::Tensor mask;            ///< float [1,H,W] in [0,1]: how much of the pattern replaces each pixel
  at::Tensor pattern;         ///< float [C,H,W] in [0,1], the pixel scale
  double mask_norm = 0;       ///< the mask's L1 norm (pixels' worth of change)
  double anomaly_index = 0;   ///< (median norm - norm) / (1.4826 MAD): positive = smaller than usual
  bool flagged = false;       ///< anomaly_index > 2 (Neural Cleanse's outlier rule)
  double success_rate = 0;    ///< fraction of the other classes' images the stamp sends to `target`
  /// `images` (uint8 [N,C,H,W]) with the trigger stamped: (1 - mask) x + mask pattern, uint8.
  at::Tensor stamp(const at::Tensor& images) const;
};

/// Every class's trigger, and which are flagged.
struct WMARK_API TriggerReconstruction {
  std::vector<ReconstructedTrigger> triggers;  ///< one per class, by class
  /// The flagged triggers, or the one with the smallest mask when none is flagged (a thief
  /// who suspects a trigger set removes the likeliest one anyway), smallest mask first.
  std::vector<ReconstructedTrigger> suspects() const;
  /// {"classes": [{target, mask_norm, anomaly_index, flagged, success_rate}...], "flagged": [..], "used": [..]}.
  nlohmann::json summary() const;
};

/// Reconstructs a trigger per class of `data` against `model` (left in eval mode, its
/// parameters and their gradients untouched); the masks start from randomness drawn from
/// `seed`. Throws wmark::Error for data with fewer than two classes or no image outside
/// a class.
WMARK_API TriggerReconstruction reconstruct_triggers(Network& model, const Dataset& data,
                                                     const TriggerReconstructionOptions& options, std::uint64_t seed,
                                                     c10::Device device);

/// reconstruct_triggers(), built once per victim when `artefacts` is given: the
/// reconstruction is stored under the options, seed, device, the thief's data and a
/// SHA-256 of the victim's parameters and buffers, so the attacks that start from it
/// (Neural Cleanse unlearning and pruning) share one search per victim of a grid, with
/// the result a search of their own would give. Without `artefacts`, a search of its own.
WMARK_API std::shared_ptr<const TriggerReconstruction> reconstruct_triggers_shared(
    Network& model, const Dataset& data, const TriggerReconstructionOptions& options, std::uint64_t seed,
    c10::Device device, ThiefArtefacts* artefacts);

/// `data` followed by the images `indices` names, each stamped with `triggers[i %
/// triggers.size()]` and keeping its true label: the training set with which the
/// backdoor-removal attacks teach the model that the stamps mean nothing.
WMARK_API Dataset with_stamped_copies(const Dataset& data, const at::Tensor& indices,
                                      const std::vector<ReconstructedTrigger>& triggers);

}  // namespace wmark

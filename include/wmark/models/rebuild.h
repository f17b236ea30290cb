/// \file
/// Rebuilding a registered architecture from a model that carries its weights behind
/// another wrapper: a TorchScript file, whose tensors wmark sees under flattened names
/// ("features_0_weight") and whose structure it does not know. The rebuilt model is an
/// ordinary registry model, so its hidden units can be aligned (unit_alignment.h)
/// before a white-box mark is read: exporting a permuted copy to TorchScript does not
/// hide it from the owner.
#pragma once

#include <string>

#include "wmark/models/network.h"
#include "wmark/util/export.h"

namespace wmark {

/// What rebuild_as() made of a model.
struct WMARK_API RebuiltNetwork {
  NetworkPtr model;                   ///< the rebuilt model in eval mode; null when it could not be rebuilt
  std::string reason;                 ///< why not (empty when rebuilt)
  double max_logit_difference = -1;   ///< source against rebuilt model on the probes (-1: not compared)
};

/// A model of the registered architecture `arch` for `spec` holding `source`'s
/// parameters and buffers, matched by name ('.' and '_' alike; by position when a name is
/// not found and the counts agree, as after a thief renamed them) at `source`'s
/// hidden-unit widths, on `source`'s device, if `source` holds exactly that architecture's tensors and
/// computes the same function: on `probes` (float [N, C, H, W], inputs as the model takes
/// them), both in eval mode, their logits agree within 1e-4 (relative to the largest
/// logit, at least 1). Otherwise `model` is null and `reason` says why. `source`'s training
/// mode is restored; its tensors are read, never changed.
WMARK_API RebuiltNetwork rebuild_as(Network& source, const std::string& arch, const ModelSpec& spec,
                                    const at::Tensor& probes);

}  // namespace wmark

/// \file
/// Collusion-resistant fingerprints for DeepMarks (Chen et al., ICMR 2019): every user
/// of a model gets a copy carrying its own code word, and when users average their
/// copies to wash the mark out, the averaged code names them.
///
/// The codes are AND anti-collusion codes from a balanced incomplete block design (Trappe
/// et al., 2003): the lines of the projective plane PG(2, q) for a prime q, v = q^2+q+1
/// points and as many lines, q+1 points per line, any two lines meeting in one point.
/// User j's code word has v bits, 0 on the points of line j and 1 elsewhere. Averaging
/// the copies of K <= q colluders leaves 1 only where every colluder has 1 (the AND);
/// its zeros are the union of the colluders' lines, and a line lies inside that union
/// only if it is one of theirs (another line meets each colluder's line in one point, at
/// most q of its q+1 points). DeepMarks embeds code bit p as +1 or -1 targets of `repeat`
/// secret projections of one layer's weights (deepmarks scheme, watermark/scheme.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "wmark/models/network.h"
#include "wmark/util/export.h"
#include "wmark/watermark/key.h"

namespace wmark {

/// The code words of PG(2, `order`), uint8 {0,1} [v, v] with v = order^2 + order + 1: row j
/// is user j's. Requires a prime order in [2, 31]; throws wmark::Error otherwise.
WMARK_API at::Tensor anti_collusion_codes(std::int64_t order);

/// What trace_colluders() reads from a model.
struct ColluderTrace {
  /// The users whose code words explain the model's fingerprint, ascending; empty when
  /// it is not traceable.
  std::vector<std::int64_t> users;
  /// The code read from the model (the AND of the colluders' code words), uint8 [v].
  at::Tensor code;
  /// Per code bit, the mean of its projections (+1 where every holder has 1), float [v].
  at::Tensor levels;
  /// Whether the read code is the AND of at most `order` code words exactly (every zero
  /// on an accused user's line): otherwise the model carries no fingerprint of this
  /// key, or more colluders than the code resists, and nobody is accused.
  bool traceable = false;
  /// Why it is not traceable (empty when it is).
  std::string reason;
};

/// The users whose fingerprinted copies `model` was averaged from (one user for an
/// unaltered copy), for a DeepMarks `key` of any of the users. A code bit reads 1 when
/// its level exceeds 2/3 (colluders' +1 and -1 targets average to at most 1/3 unless all
/// are +1). Throws wmark::Error for a key that is not a DeepMarks key or a model without
/// its layer.
WMARK_API ColluderTrace trace_colluders(Network& model, const WatermarkKey& key);

}  // namespace wmark

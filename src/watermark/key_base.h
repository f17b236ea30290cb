// Internal: the key fields every scheme records about the data its model trained on.
#pragma once

#include <string>

#include "wmark/data/dataset.h"
#include "wmark/watermark/key.h"

namespace wmark {

// A key holding `train`'s name, image shape, class count and normalisation, `arch` in
// its params and the creation time; the scheme adds its method, seed and secrets.
inline WatermarkKey key_base(const Dataset& train, const std::string& arch) {
  WatermarkKey base;
  base.params = {{"arch", arch}};
  base.num_classes = train.num_classes;
  base.input_shape = train.shape();
  base.normalization = train.normalization;
  base.dataset = train.name;
  base.created = utc_now_iso8601();
  return base;
}

}  // namespace wmark

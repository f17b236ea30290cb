#include "wmark/data/augment.h"

#include <torch/torch.h>

#include "wmark/util/error.h"

namespace wmark {

at::Tensor random_crop_flip(const at::Tensor& batch, std::int64_t padding, bool flip,
                            at::Generator& generator) {
  WMARK_CHECK(batch.dim() == 4, "augmentation expects [N,C,H,W], got ", batch.dim(), " dims");
  WMARK_CHECK(padding >= 0, "crop padding must not be negative");
  const auto n = batch.size(0), c = batch.size(1), h = batch.size(2), w = batch.size(3);
  auto long_opts = torch::TensorOptions().dtype(torch::kLong).device(batch.device());
  auto out = batch;
  if (padding > 0) {
    auto padded = torch::constant_pad_nd(batch, {padding, padding, padding, padding}, 0);
    // Per-sample offsets in [0, 2*padding]; one gather through advanced indexing.
    auto dy = torch::randint(0, 2 * padding + 1, {n}, generator, long_opts);
    auto dx = torch::randint(0, 2 * padding + 1, {n}, generator, long_opts);
    auto rows = dy.unsqueeze(1) + torch::arange(h, long_opts).unsqueeze(0);  // [N,H]
    auto cols = dx.unsqueeze(1) + torch::arange(w, long_opts).unsqueeze(0);  // [N,W]
    out = padded.index({torch::arange(n, long_opts).view({n, 1, 1, 1}),
                        torch::arange(c, long_opts).view({1, c, 1, 1}), rows.view({n, 1, h, 1}),
                        cols.view({n, 1, 1, w})});
  }
  if (flip) {
    auto mask = torch::rand({n}, generator, torch::TensorOptions().device(batch.device())) < 0.5;
    out = torch::where(mask.view({n, 1, 1, 1}), out.flip({3}), out);
  }
  return out.contiguous();
}

}  // namespace wmark

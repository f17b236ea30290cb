#include "wmark/train/soft_nearest_neighbour.h"

#include <torch/torch.h>

#include "wmark/util/error.h"

namespace wmark {

at::Tensor soft_nearest_neighbour_loss(const at::Tensor& features, const at::Tensor& groups,
                                       const at::Tensor& temperature) {
  WMARK_CHECK(features.dim() >= 2 && features.size(0) >= 2, "the soft nearest neighbour loss needs at least two points, got ",
              features.sizes());
  WMARK_CHECK(groups.dim() == 1 && groups.size(0) == features.size(0), "soft nearest neighbour loss: ",
              features.size(0), " points need as many groups, got ", groups.sizes());
  WMARK_CHECK(temperature.numel() == 1, "soft nearest neighbour loss: the temperature must be a scalar");
  constexpr double kEps = 1e-5;  // the reference's guard against log(0) and 0/0
  const auto n = features.size(0);
  const auto unit = torch::nn::functional::normalize(
      features.flatten(1).relu(), torch::nn::functional::NormalizeFuncOptions().dim(1).eps(1e-12));
  const auto distance = 1 - unit.matmul(unit.t());
  const auto off_diagonal = 1 - torch::eye(n, unit.options());
  const auto kernel = torch::exp(-distance / temperature.reshape({})) * off_diagonal;
  const auto share = kernel / (kEps + kernel.sum(1, true));
  const auto same = groups.unsqueeze(0).eq(groups.unsqueeze(1)).to(share.scalar_type());
  return -torch::log(kEps + (share * same).sum(1)).mean();
}

}  // namespace wmark

#include "wmark/data/subset.h"

#include <torch/torch.h>

#include "wmark/util/error.h"
#include "wmark/util/random.h"

namespace wmark {

Dataset balanced_subset(const Dataset& dataset, std::int64_t count, std::uint64_t seed) {
  WMARK_CHECK(count >= 0, "subset size must not be negative, got ", count);
  const auto n = dataset.size();
  if (count == 0 || count >= n) return dataset;
  auto generator = make_generator(derive_seed(seed, "subset"));
  // A seeded permutation, then a per-class quota: classes share `count` as evenly as
  // their sizes allow, the leftover going to the classes that still have samples.
  auto order = torch::randperm(n, generator, torch::kLong);
  auto shuffled_labels = dataset.labels.index_select(0, order);
  const auto classes = dataset.num_classes;
  auto per_class = torch::bincount(shuffled_labels, {}, classes);
  std::vector<std::int64_t> available(per_class.data_ptr<std::int64_t>(),
                                      per_class.data_ptr<std::int64_t>() + classes);
  std::vector<std::int64_t> quota(classes, 0);
  std::int64_t left = count;
  while (left > 0) {
    std::int64_t open = 0;
    for (std::int64_t c = 0; c < classes; ++c) open += quota[c] < available[c];
    const std::int64_t share = std::max<std::int64_t>(1, left / std::max<std::int64_t>(open, 1));
    for (std::int64_t c = 0; c < classes && left > 0; ++c) {
      const auto add = std::min({share, available[c] - quota[c], left});
      quota[c] += add;
      left -= add;
    }
  }
  std::vector<std::int64_t> taken(classes, 0), chosen;
  chosen.reserve(count);
  const auto* labels = shuffled_labels.data_ptr<std::int64_t>();
  const auto* positions = order.data_ptr<std::int64_t>();
  for (std::int64_t i = 0; i < n && static_cast<std::int64_t>(chosen.size()) < count; ++i) {
    if (taken[labels[i]] < quota[labels[i]]) {
      ++taken[labels[i]];
      chosen.push_back(positions[i]);
    }
  }
  auto indices = torch::tensor(chosen, torch::kLong);
  return dataset.select(std::get<0>(indices.sort()));
}

std::pair<Dataset, Dataset> split_holdout(const Dataset& dataset, std::int64_t count,
                                          std::uint64_t seed) {
  const auto n = dataset.size();
  WMARK_CHECK(count >= 0 && count <= n, "cannot hold out ", count, " of ", n, " samples");
  auto generator = make_generator(derive_seed(seed, "holdout"));
  auto order = torch::randperm(n, generator, torch::kLong);
  auto rest = std::get<0>(order.narrow(0, 0, n - count).sort());
  auto held = std::get<0>(order.narrow(0, n - count, count).sort());
  return {dataset.select(rest), dataset.select(held)};
}

Dataset without_images(const Dataset& dataset, const at::Tensor& images) {
  WMARK_CHECK(images.dim() == 4 && images.scalar_type() == torch::kUInt8 &&
                  images.sizes().slice(1) == dataset.images.sizes().slice(1),
              "images to leave out of ", dataset.name, " must be uint8 [K,", dataset.images.size(1), ",",
              dataset.images.size(2), ",", dataset.images.size(3), "], got ", images.sizes());
  if (images.size(0) == 0 || dataset.size() == 0) return dataset;
  // A fixed random projection of every image to one number finds the candidates in one
  // pass; the bytes of each candidate are then compared, so a collision leaves no one out.
  auto generator = make_generator(derive_seed(0, "image-fingerprint"));
  const auto pixels = images[0].numel();
  const auto weights = torch::rand({pixels}, generator, torch::kDouble);
  const auto fingerprint = [&weights, pixels](const at::Tensor& x) {
    return x.reshape({x.size(0), pixels}).to(torch::kDouble).matmul(weights);
  };
  const auto wanted = fingerprint(images);
  std::vector<bool> drop(static_cast<std::size_t>(dataset.size()), false);
  for (std::int64_t start = 0; start < dataset.size(); start += 4096) {
    const auto count = std::min<std::int64_t>(4096, dataset.size() - start);
    const auto chunk = dataset.images.narrow(0, start, count);
    const auto pairs = fingerprint(chunk).unsqueeze(1).sub(wanted.unsqueeze(0)).abs().lt(1e-6).nonzero();
    for (std::int64_t p = 0; p < pairs.size(0); ++p) {
      const auto i = pairs[p][0].item<std::int64_t>();
      if (torch::equal(chunk[i], images[pairs[p][1].item<std::int64_t>()])) drop[start + i] = true;
    }
  }
  std::vector<std::int64_t> keep;
  for (std::int64_t i = 0; i < dataset.size(); ++i) {
    if (!drop[static_cast<std::size_t>(i)]) keep.push_back(i);
  }
  return dataset.select(torch::tensor(keep, torch::kLong));
}

}  // namespace wmark

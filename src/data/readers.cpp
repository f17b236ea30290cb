#include "wmark/data/readers.h"

#include <torch/torch.h>

#include <cstring>
#include <future>

#include "wmark/util/error.h"
#include "wmark/util/files.h"

namespace fs = std::filesystem;

namespace wmark {
namespace {

std::uint32_t read_be32(const std::string& bytes, std::size_t offset) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data()) + offset;
  return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) |
         std::uint32_t(p[3]);
}

// Copies `count` bytes at `offset` into a new uint8 tensor of `sizes`.
torch::Tensor bytes_to_tensor(const std::string& bytes, std::size_t offset,
                              std::vector<std::int64_t> sizes) {
  auto tensor = torch::empty(sizes, torch::kUInt8);
  std::memcpy(tensor.data_ptr<std::uint8_t>(), bytes.data() + offset,
              static_cast<std::size_t>(tensor.numel()));
  return tensor;
}

void check_labels(const torch::Tensor& labels, std::int64_t num_classes, const fs::path& file) {
  if (labels.numel() == 0) return;
  const auto max_label = labels.max().item<std::int64_t>();
  if (max_label >= num_classes) {
    const auto at = (labels >= num_classes).nonzero()[0][0].item<std::int64_t>();
    WMARK_FAIL(file.string(), ": label ", labels[at].item<std::int64_t>(), " of sample ", at,
               " is out of range (expected 0..", num_classes - 1, ")");
  }
}

// Checks an IDX header: size, magic number; returns the first dimension (the count).
std::int64_t check_idx_header(const std::string& bytes, const fs::path& path, std::size_t header_size,
                              std::uint32_t magic, const char* what) {
  WMARK_CHECK(bytes.size() >= header_size, path.string(), ": truncated IDX file (", bytes.size(),
              " bytes, the header alone is ", header_size, ")");
  const auto found = read_be32(bytes, 0);
  WMARK_CHECK(found == magic, path.string(), ": wrong magic number 0x", std::hex, found, " (expected 0x",
              magic, std::dec, ", an IDX file of uint8 ", what, "); is this a file of ", what, "?");
  return read_be32(bytes, 4);
}

}  // namespace

Dataset read_idx(const fs::path& images_path, const fs::path& labels_path,
                 std::int64_t num_classes) {
  const std::string images = read_maybe_gzip(images_path);
  const std::string labels = read_maybe_gzip(labels_path);

  const std::int64_t count = check_idx_header(images, images_path, 16, 0x00000803, "images");
  const std::int64_t rows = read_be32(images, 8);
  const std::int64_t cols = read_be32(images, 12);
  WMARK_CHECK(rows > 0 && cols > 0 && rows <= 4096 && cols <= 4096, images_path.string(),
              ": implausible image size ", rows, "x", cols);
  const std::size_t expected_images = 16 + std::size_t(count * rows * cols);
  WMARK_CHECK(images.size() >= expected_images, images_path.string(), ": truncated: header says ",
              count, " images of ", rows, "x", cols, " (", expected_images, " bytes) but the file has ",
              images.size(), " bytes");

  const std::int64_t label_count = check_idx_header(labels, labels_path, 8, 0x00000801, "labels");
  WMARK_CHECK(labels.size() >= 8 + std::size_t(label_count), labels_path.string(),
              ": truncated: header says ", label_count, " labels but the file has ",
              labels.size() - 8);
  WMARK_CHECK(label_count == count, "image/label count mismatch: ", images_path.string(), " has ",
              count, " images but ", labels_path.string(), " has ", label_count, " labels");

  Dataset dataset;
  dataset.images = bytes_to_tensor(images, 16, {count, 1, rows, cols});
  dataset.labels = bytes_to_tensor(labels, 8, {count}).to(torch::kInt64);
  dataset.num_classes = num_classes;
  check_labels(dataset.labels, num_classes, labels_path);
  return dataset;
}

Dataset read_cifar10(const std::vector<fs::path>& batches) {
  constexpr std::int64_t kRecord = 1 + 3 * 32 * 32;
  // Inflating the gzipped batches is most of the time: one thread per file.
  std::vector<std::future<std::string>> contents;
  for (const auto& path : batches) contents.push_back(std::async(std::launch::async, read_maybe_gzip, path));
  std::vector<torch::Tensor> images, labels;
  for (std::size_t i = 0; i < batches.size(); ++i) {
    const auto& path = batches[i];
    const std::string bytes = contents[i].get();
    WMARK_CHECK(!bytes.empty(), path.string(), ": empty file");
    WMARK_CHECK(bytes.size() % kRecord == 0, path.string(), ": truncated or not a CIFAR-10 batch: ",
                bytes.size(), " bytes is not a whole number of ", kRecord, "-byte records");
    const std::int64_t count = static_cast<std::int64_t>(bytes.size()) / kRecord;
    auto records = bytes_to_tensor(bytes, 0, {count, kRecord});
    auto label = records.select(1, 0).to(torch::kInt64);
    check_labels(label, 10, path);
    labels.push_back(label);
    images.push_back(records.narrow(1, 1, kRecord - 1).reshape({count, 3, 32, 32}).contiguous());
  }
  WMARK_CHECK(!images.empty(), "no CIFAR-10 batch files given");
  Dataset dataset;
  dataset.images = images.size() == 1 ? images[0] : torch::cat(images);
  dataset.labels = labels.size() == 1 ? labels[0] : torch::cat(labels);
  dataset.num_classes = 10;
  return dataset;
}

}  // namespace wmark

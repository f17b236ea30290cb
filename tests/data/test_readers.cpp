#include <catch2/catch.hpp>

#include <torch/torch.h>

#include <fstream>
#include <sstream>

#include "../support/test_support.h"
#include "wmark/data/catalog.h"
#include "wmark/data/readers.h"
#include "wmark/util/error.h"
#include "wmark/util/files.h"
#include "wmark/util/sha256.h"

using namespace wmark;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

// A small valid IDX pair: `count` images of 4x4 and labels i % 10.
struct IdxPair {
  std::string images, labels;
};
IdxPair make_idx(std::uint32_t count) {
  IdxPair pair;
  pair.images = test::be32(0x803) + test::be32(count) + test::be32(4) + test::be32(4);
  for (std::uint32_t i = 0; i < count * 16; ++i) pair.images.push_back(char(i % 256));
  pair.labels = test::be32(0x801) + test::be32(count);
  for (std::uint32_t i = 0; i < count; ++i) pair.labels.push_back(char(i % 10));
  return pair;
}

}  // namespace

TEST_CASE("MNIST loads from the real files", "[data]") {
  const auto& splits = test::mnist();
  CHECK(splits.train.size() == 60000);
  CHECK(splits.test.size() == 10000);
  CHECK(splits.train.shape() == ImageShape{1, 28, 28});
  CHECK(splits.train.images.scalar_type() == torch::kUInt8);
  CHECK(splits.train.images.is_contiguous());
  CHECK(splits.test.labels.scalar_type() == torch::kInt64);
  // The published class counts of the MNIST test set.
  auto counts = torch::bincount(splits.test.labels);
  CHECK(counts[0].item<int64_t>() == 980);
  CHECK(counts[1].item<int64_t>() == 1135);
  CHECK(counts[9].item<int64_t>() == 1009);
  CHECK(splits.train.labels[0].item<int64_t>() == 5);  // the famous first training digit
  CHECK(splits.train.images.max().item<int>() == 255);
}

TEST_CASE("CIFAR-10 batches decompress to the published digests and load", "[data]") {
  const auto folder = test::shared_data() / "cifar-10-batches-bin";
  std::ifstream sums(folder / "SHA256SUMS.raw");
  REQUIRE(sums.good());
  std::string digest, name;
  REQUIRE(sums >> digest >> name);
  if (name.rfind("*", 0) == 0) name = name.substr(1);
  CHECK(sha256_hex(read_maybe_gzip(folder / (name + ".gz"))) == digest);

  const auto test_split = read_cifar10({folder / "test_batch.bin.gz"});
  CHECK(test_split.size() == 10000);
  CHECK(test_split.shape() == ImageShape{3, 32, 32});
  auto counts = torch::bincount(test_split.labels);
  CHECK(counts.eq(1000).all().item<bool>());
}

TEST_CASE("the dataset catalog finds datasets and rejects unknown names", "[data]") {
  CHECK(locate_dataset("mnist", test::shared_data()).has_value());
  CHECK(locate_dataset("cifar10", test::shared_data()).has_value());
  CHECK(canonical_dataset_name("fashion-mnist") == "fashion");
  CHECK_THROWS_WITH(canonical_dataset_name("imagenet"), Contains("unknown dataset"));
  test::TempDir empty;
  CHECK_THROWS_WITH(load_dataset("mnist", empty.path()), Contains("not found") && Contains("--data-dir"));
  // The folder given may hold the files directly.
  const auto pair = make_idx(20);
  for (auto split : {"train", "t10k"}) {
    test::write_bytes(empty / (std::string(split) + "-images-idx3-ubyte.gz"), pair.images);
    test::write_bytes(empty / (std::string(split) + "-labels-idx1-ubyte"), pair.labels);
  }
  const auto loaded = load_dataset("fashion", empty.path());
  CHECK(loaded.train.size() == 20);
  CHECK(loaded.train.normalization.mean.size() == 1);
  // The training split alone is the same split, and never reads the test files.
  test::write_bytes(empty / "t10k-images-idx3-ubyte.gz", "damaged");
  const auto train = load_training_split("fashion", empty.path());
  CHECK(torch::equal(train.images, loaded.train.images));
  CHECK(torch::equal(train.labels, loaded.train.labels));
  CHECK(train.name == "fashion");
  CHECK(train.normalization.mean == loaded.train.normalization.mean);
  CHECK_THROWS_WITH(load_dataset("fashion", empty.path()), Contains("t10k-images-idx3-ubyte"));
}

TEST_CASE("IDX reader names the file and the problem for bad input", "[data]") {
  test::TempDir dir;
  const auto images = dir / "images.idx", labels = dir / "labels.idx";
  auto write_pair = [&](const IdxPair& pair) {
    test::write_bytes(images, pair.images);
    test::write_bytes(labels, pair.labels);
  };

  write_pair(make_idx(30));
  auto ok = read_idx(images, labels);
  CHECK(ok.size() == 30);
  CHECK(ok.shape() == ImageShape{1, 4, 4});
  CHECK(ok.images[1][0][0][0].item<int>() == 16);
  CHECK(ok.labels[13].item<int64_t>() == 3);

  SECTION("missing file") {
    CHECK_THROWS_WITH(read_idx(dir / "nope", labels), Contains("nope") && Contains("does not exist"));
  }
  SECTION("wrong magic number") {
    auto pair = make_idx(30);
    pair.images[3] = 0x01;
    write_pair(pair);
    CHECK_THROWS_WITH(read_idx(images, labels), Contains("images.idx") && Contains("wrong magic number"));
    CHECK_THROWS_WITH(read_idx(labels, labels), Contains("labels.idx") && Contains("wrong magic number"));
  }
  SECTION("truncated images") {
    auto pair = make_idx(30);
    pair.images.resize(pair.images.size() - 5);
    write_pair(pair);
    CHECK_THROWS_WITH(read_idx(images, labels), Contains("images.idx") && Contains("truncated"));
  }
  SECTION("truncated header") {
    test::write_bytes(images, test::be32(0x803));
    CHECK_THROWS_WITH(read_idx(images, labels), Contains("images.idx") && Contains("truncated"));
  }
  SECTION("truncated labels") {
    auto pair = make_idx(30);
    pair.labels.resize(pair.labels.size() - 1);
    write_pair(pair);
    CHECK_THROWS_WITH(read_idx(images, labels), Contains("labels.idx") && Contains("truncated"));
  }
  SECTION("image/label count mismatch") {
    auto pair = make_idx(30);
    auto other = make_idx(29);
    pair.labels = other.labels;
    write_pair(pair);
    CHECK_THROWS_WITH(read_idx(images, labels), Contains("count mismatch") && Contains("30") && Contains("29"));
  }
  SECTION("label out of range") {
    auto pair = make_idx(30);
    pair.labels[8 + 17] = char(12);
    write_pair(pair);
    CHECK_THROWS_WITH(read_idx(images, labels),
                      Contains("labels.idx") && Contains("label 12") && Contains("sample 17"));
  }
  SECTION("damaged gzip") {
    const auto gz = dir / "images.gz";
    test::write_bytes(gz, make_idx(30).images);
    auto bytes = read_file(gz);
    test::write_bytes(gz.string() + ".cut", bytes.substr(0, bytes.size() - 12));
    CHECK_THROWS_WITH(read_idx(gz.string() + ".cut", labels), Contains("images.gz.cut"));
  }
}

TEST_CASE("CIFAR reader names the file and the problem for bad input", "[data]") {
  test::TempDir dir;
  std::string record(3073, '\7');
  record[0] = 4;
  test::write_bytes(dir / "ok.bin", record + record);
  auto two = read_cifar10({dir / "ok.bin"});
  CHECK(two.size() == 2);
  CHECK(two.labels[1].item<int64_t>() == 4);

  test::write_bytes(dir / "cut.bin.gz", record + record.substr(0, 100));
  CHECK_THROWS_WITH(read_cifar10({dir / "cut.bin.gz"}), Contains("cut.bin.gz") && Contains("truncated"));
  record[0] = 10;
  test::write_bytes(dir / "label.bin", record);
  CHECK_THROWS_WITH(read_cifar10({dir / "label.bin"}), Contains("label.bin") && Contains("out of range"));
  CHECK_THROWS_WITH(read_cifar10({dir / "absent.bin"}), Contains("absent.bin") && Contains("does not exist"));
  // Batches inflate in parallel but keep their order, and a bad one among good ones is named.
  record[0] = 9;
  test::write_bytes(dir / "nine.bin.gz", record);
  const auto both = read_cifar10({dir / "ok.bin", dir / "nine.bin.gz", dir / "ok.bin"});
  CHECK(both.labels.equal(torch::tensor({4, 4, 9, 4, 4}, torch::kInt64)));
  CHECK_THROWS_WITH(read_cifar10({dir / "ok.bin", dir / "cut.bin.gz", dir / "nine.bin.gz"}),
                    Contains("cut.bin.gz") && Contains("truncated"));
}

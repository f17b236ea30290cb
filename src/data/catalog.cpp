#include "wmark/data/catalog.h"

#include <cstdlib>
#include <map>

#include "wmark/data/readers.h"
#include "wmark/util/error.h"
#include "wmark/util/log.h"

#include <spdlog/spdlog.h>

namespace fs = std::filesystem;

namespace wmark {
namespace {

struct DatasetInfo {
  std::vector<std::string> folders;  // sub-folder names tried under each search-path entry
  std::vector<std::string> marker;   // files (without .gz) that identify the dataset
  Normalization normalization;
  ImageShape input;
  std::int64_t num_classes;
};

const std::map<std::string, DatasetInfo>& catalog() {
  static const std::map<std::string, DatasetInfo> entries = {
      {"mnist",
       {{"mnist", "MNIST"},
        {"train-images-idx3-ubyte", "t10k-images-idx3-ubyte"},
        {{0.1307}, {0.3081}},
        {1, 28, 28},
        10}},
      {"fashion",
       {{"fashion-mnist", "fashion_mnist", "FashionMNIST"},
        {"train-images-idx3-ubyte", "t10k-images-idx3-ubyte"},
        {{0.2860}, {0.3530}},
        {1, 28, 28},
        10}},
      {"cifar10",
       {{"cifar-10-batches-bin", "cifar10", "cifar-10"},
        {"data_batch_1.bin", "test_batch.bin"},
        {{0.4914, 0.4822, 0.4465}, {0.2470, 0.2435, 0.2616}},
        {3, 32, 32},
        10}},
  };
  return entries;
}

// `name` or `name.gz`, whichever exists (plain first).
std::optional<fs::path> find_file(const fs::path& folder, const std::string& name) {
  if (fs::is_regular_file(folder / name)) return folder / name;
  if (fs::is_regular_file(folder / (name + ".gz"))) return folder / (name + ".gz");
  return std::nullopt;
}

fs::path require_file(const fs::path& folder, const std::string& name) {
  auto found = find_file(folder, name);
  WMARK_CHECK(found, "dataset file ", (folder / name).string(), "[.gz] is missing");
  return *found;
}

bool holds(const fs::path& folder, const DatasetInfo& info) {
  for (const auto& file : info.marker) {
    if (!find_file(folder, file)) return false;
  }
  return true;
}

}  // namespace

std::vector<std::string> dataset_names() { return {"mnist", "fashion", "cifar10"}; }

std::string canonical_dataset_name(const std::string& name) {
  if (name == "fashion-mnist" || name == "fashion_mnist" || name == "fashionmnist") return "fashion";
  if (name == "cifar-10" || name == "cifar") return "cifar10";
  WMARK_CHECK(catalog().count(name), "unknown dataset '", name,
              "'; known datasets: mnist, fashion, cifar10");
  return name;
}

DatasetTraits dataset_traits(const std::string& name) {
  const auto& info = catalog().at(canonical_dataset_name(name));
  return {info.input, info.num_classes, info.normalization};
}

std::vector<fs::path> dataset_search_path(const std::optional<fs::path>& explicit_dir) {
  if (explicit_dir) return {*explicit_dir};
  std::vector<fs::path> path;
  if (const char* env = std::getenv("WMARK_DATA"); env && *env) path.emplace_back(env);
#ifdef WMARK_SOURCE_DIR
  path.push_back(fs::path(WMARK_SOURCE_DIR).parent_path() / "shared" / "data");
#endif
  path.push_back(fs::current_path().parent_path() / "shared" / "data");
  path.push_back(fs::current_path() / ".." / ".." / "shared" / "data");
  path.emplace_back("/usr/share/datasets");
  return path;
}

std::optional<fs::path> locate_dataset(const std::string& name,
                                       const std::optional<fs::path>& explicit_dir) {
  const auto& info = catalog().at(canonical_dataset_name(name));
  for (const auto& root : dataset_search_path(explicit_dir)) {
    std::error_code ignored;
    if (!fs::is_directory(root, ignored)) continue;
    if (holds(root, info)) return root;
    for (const auto& folder : info.folders) {
      if (holds(root / folder, info)) return root / folder;
    }
  }
  return std::nullopt;
}

std::string default_dataset_name(const std::optional<fs::path>& explicit_dir) {
  return locate_dataset("mnist", explicit_dir) ? "mnist" : "fashion";
}

namespace {

// The folder holding `name`, or an error listing the folders searched.
fs::path dataset_folder(const std::string& name, const std::optional<fs::path>& explicit_dir) {
  const auto folder = locate_dataset(name, explicit_dir);
  if (!folder) {
    std::string searched;
    for (const auto& root : dataset_search_path(explicit_dir)) searched += " " + root.string();
    WMARK_FAIL("dataset '", name, "' not found; searched:", searched,
               ". Pass --data-dir, set WMARK_DATA, or run scripts/fetch-datasets.sh");
  }
  logger()->info("loading {} from {}", name, folder->string());
  return *folder;
}

// One split of `name` from `folder`, named and with its normalisation.
Dataset read_split(const std::string& name, const fs::path& folder, bool train) {
  Dataset split;
  if (name == "cifar10") {
    std::vector<fs::path> files;
    if (train) {
      for (int i = 1; i <= 5; ++i) files.push_back(require_file(folder, "data_batch_" + std::to_string(i) + ".bin"));
    } else {
      files.push_back(require_file(folder, "test_batch.bin"));
    }
    split = read_cifar10(files);
  } else {
    const std::string prefix = train ? "train" : "t10k";
    split = read_idx(require_file(folder, prefix + "-images-idx3-ubyte"),
                     require_file(folder, prefix + "-labels-idx1-ubyte"));
  }
  split.name = name;
  split.normalization = catalog().at(name).normalization;
  return split;
}

}  // namespace

DatasetSplits load_dataset(const std::string& requested, const std::optional<fs::path>& explicit_dir) {
  const std::string name = canonical_dataset_name(requested);
  const auto folder = dataset_folder(name, explicit_dir);
  DatasetSplits splits;
  splits.train = read_split(name, folder, true);
  splits.test = read_split(name, folder, false);
  return splits;
}

Dataset load_training_split(const std::string& requested, const std::optional<fs::path>& explicit_dir) {
  const std::string name = canonical_dataset_name(requested);
  return read_split(name, dataset_folder(name, explicit_dir), true);
}

}  // namespace wmark

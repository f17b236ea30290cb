/// \file
/// The datasets wmark knows by name and where it looks for their files.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "wmark/data/dataset.h"
#include "wmark/util/export.h"

namespace wmark {

/// The dataset names accepted by load_dataset(): "mnist", "fashion", "cifar10".
WMARK_API std::vector<std::string> dataset_names();

/// Canonical name for a dataset name or alias ("fashion-mnist" -> "fashion");
/// throws wmark::Error for an unknown name.
WMARK_API std::string canonical_dataset_name(const std::string& name);

/// What models of a named dataset take and give, known without reading its files.
struct WMARK_API DatasetTraits {
  ImageShape input;              ///< one image, [C,H,W]
  std::int64_t num_classes = 0;  ///< number of classes
  Normalization normalization;   ///< the normalisation wmark trains with
};

/// The traits of "mnist", "fashion" or "cifar10" (or an alias); throws wmark::Error for
/// an unknown name.
WMARK_API DatasetTraits dataset_traits(const std::string& name);

/// The folders searched, in order: `explicit_dir` alone if given; else $WMARK_DATA,
/// then ../shared/data beside the source checkout and beside the working directory,
/// then /usr/share/datasets.
WMARK_API std::vector<std::filesystem::path> dataset_search_path(
    const std::optional<std::filesystem::path>& explicit_dir = std::nullopt);

/// The folder holding the files of `name` (a search-path folder's sub-folder such as
/// mnist/, or the folder itself when it holds the files), or nullopt. Throws
/// wmark::Error for an unknown name.
WMARK_API std::optional<std::filesystem::path> locate_dataset(
    const std::string& name, const std::optional<std::filesystem::path>& explicit_dir = std::nullopt);

/// "mnist" when MNIST is found, else "fashion" (Debian's dataset-fashion-mnist).
WMARK_API std::string default_dataset_name(
    const std::optional<std::filesystem::path>& explicit_dir = std::nullopt);

/// Loads both splits of a named dataset, with its name and normalisation constants.
/// Throws wmark::Error for an unknown name, a dataset not found (listing the folders
/// searched), or a missing or damaged file.
WMARK_API DatasetSplits load_dataset(
    const std::string& name, const std::optional<std::filesystem::path>& explicit_dir = std::nullopt);

/// The training split alone, as load_dataset() gives it, without reading the test
/// files: what re-deriving a key's triggers from public images needs.
WMARK_API Dataset load_training_split(
    const std::string& name, const std::optional<std::filesystem::path>& explicit_dir = std::nullopt);

}  // namespace wmark

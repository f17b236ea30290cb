/// \file
/// The datasets wmark knows by name and where it looks for their files.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "wmark/data/dataset.h"

namespace wmark {

/// The dataset names accepted by load_dataset(): "mnist", "fashion", "cifar10".
std::vector<std::string> dataset_names();

/// Canonical name for a dataset name or alias ("fashion-mnist" -> "fashion");
/// throws for an unknown name.
std::string canonical_dataset_name(const std::string& name);

/// The folders searched, in order: `explicit_dir` if given, else $WMARK_DATA,
/// then ../shared/data beside the source checkout and beside the working directory,
/// then /usr/share/datasets.
std::vector<std::filesystem::path> dataset_search_path(
    const std::optional<std::filesystem::path>& explicit_dir = std::nullopt);

/// The folder holding the files of `name` (a search-path folder's sub-folder such as
/// mnist/, or the folder itself when it holds the files), or nullopt.
std::optional<std::filesystem::path> locate_dataset(
    const std::string& name, const std::optional<std::filesystem::path>& explicit_dir = std::nullopt);

/// "mnist" when MNIST is found, else "fashion" (Debian's dataset-fashion-mnist).
std::string default_dataset_name(
    const std::optional<std::filesystem::path>& explicit_dir = std::nullopt);

/// Loads both splits of a named dataset, with its normalisation constants.
DatasetSplits load_dataset(const std::string& name,
                           const std::optional<std::filesystem::path>& explicit_dir = std::nullopt);

}  // namespace wmark

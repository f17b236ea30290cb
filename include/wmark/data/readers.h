/// \file
/// Readers for the IDX format (MNIST, Fashion-MNIST) and the CIFAR-10 binary format.
/// Both accept gzip-compressed or plain files, and name the file and the problem
/// when a file is missing, of the wrong kind, truncated or inconsistent.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "wmark/data/dataset.h"
#include "wmark/util/export.h"

namespace wmark {

/// Reads an IDX image file (magic 0x00000803, uint8 [N,rows,cols]) and its label file
/// (magic 0x00000801, uint8 [N]) into images [N,1,rows,cols]. Labels must lie in
/// [0, num_classes) and the counts must match; throws wmark::Error otherwise. The
/// result has no name or normalisation (load_dataset() sets them).
WMARK_API Dataset read_idx(const std::filesystem::path& images, const std::filesystem::path& labels,
                           std::int64_t num_classes = 10);

/// Reads CIFAR-10 binary batches (records of 1 label byte + 3072 pixel bytes) into one
/// split, images [N,3,32,32]. Requires at least one file, each a whole number of
/// records with labels 0..9; throws wmark::Error otherwise.
WMARK_API Dataset read_cifar10(const std::vector<std::filesystem::path>& batches);

}  // namespace wmark

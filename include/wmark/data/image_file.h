/// \file
/// Reading single image files: PNG (8-bit, non-interlaced; grey, grey+alpha, RGB,
/// RGBA, palette) and Netpbm PGM/PPM (P2/P3/P5/P6, maxval up to 255).
#pragma once

#include <filesystem>
#include <vector>

#include <ATen/core/Tensor.h>

#include "wmark/util/export.h"

namespace wmark {

/// The image as uint8 [C,H,W] with C = 1 (grey), 2 (grey+alpha), 3 (RGB) or 4 (RGBA).
/// Throws wmark::Error naming the file for unreadable, truncated or unsupported images.
WMARK_API at::Tensor read_image(const std::filesystem::path& path);

/// Encodes uint8 [C,H,W] (C = 1 grey or 3 RGB) as a PNG file and writes it atomically;
/// refuses to overwrite an existing file unless `force`. Throws wmark::Error for another
/// shape or type.
WMARK_API void write_png(const std::filesystem::path& path, const at::Tensor& image, bool force = false);

/// The image files (.png, .pgm, .ppm, .pnm, any case) in a folder, sorted by name.
/// Throws wmark::Error if the folder does not exist.
WMARK_API std::vector<std::filesystem::path> list_images(const std::filesystem::path& folder);

/// Converts uint8 images [N,C,H,W] to `channels` (1 or 3; alpha dropped, RGB->grey by
/// luminance) and resizes them to height x width (area when shrinking, bilinear when
/// growing). Requires a 4-D batch and `channels` 1 or 3; throws wmark::Error otherwise.
WMARK_API at::Tensor convert_images(const at::Tensor& images, std::int64_t channels,
                                    std::int64_t height, std::int64_t width);

}  // namespace wmark

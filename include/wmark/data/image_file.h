/// \file
/// Reading single image files: PNG (8-bit, non-interlaced; grey, grey+alpha, RGB,
/// RGBA, palette) and Netpbm PGM/PPM (P2/P3/P5/P6, maxval up to 255).
#pragma once

#include <filesystem>
#include <vector>

#include <ATen/core/Tensor.h>

namespace wmark {

/// The image as uint8 [C,H,W] with C = 1 (grey), 2 (grey+alpha), 3 (RGB) or 4 (RGBA).
/// Throws wmark::Error naming the file for unreadable, truncated or unsupported images.
at::Tensor read_image(const std::filesystem::path& path);

/// The image files (.png, .pgm, .ppm, .pnm) in a folder, sorted by name.
std::vector<std::filesystem::path> list_images(const std::filesystem::path& folder);

/// Converts uint8 images [N,C,H,W] to `channels` (1 or 3; alpha dropped, RGB->grey by
/// luminance) and resizes them to height x width (area when shrinking, bilinear when
/// growing).
at::Tensor convert_images(const at::Tensor& images, std::int64_t channels, std::int64_t height,
                          std::int64_t width);

}  // namespace wmark

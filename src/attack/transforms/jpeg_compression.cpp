// JPEG's lossy steps (ITU-T T.81 baseline, as the IJG library encodes and decodes):
// colour conversion and chroma subsampling, 8x8 DCT, quantization, and back.
#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "wmark/attack/input_transforms.h"

namespace wmark {

namespace {

namespace F = torch::nn::functional;

// T.81 Annex K, tables K.1 (luminance) and K.2 (chrominance), in row order.
constexpr int kLuminance[64] = {16, 11, 10, 16, 24,  40,  51,  61,  12, 12, 14, 19, 26,  58,  60,  55,
                                14, 13, 16, 24, 40,  57,  69,  56,  14, 17, 22, 29, 51,  87,  80,  62,
                                18, 22, 37, 56, 68,  109, 103, 77,  24, 35, 55, 64, 81,  104, 113, 92,
                                49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99};
constexpr int kChrominance[64] = {17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99,
                                  24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99,
                                  99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
                                  99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99};

// A base table scaled to `quality` as the IJG library does (baseline: entries 1..255).
at::Tensor quantization_table(const int (&base)[64], std::int64_t quality) {
  const int scale = quality < 50 ? static_cast<int>(5000 / quality) : static_cast<int>(200 - 2 * quality);
  std::vector<float> table(64);
  for (int i = 0; i < 64; ++i) table[i] = static_cast<float>(std::clamp((base[i] * scale + 50) / 100, 1, 255));
  return torch::tensor(table).view({8, 8});
}

// The orthonormal 8-point DCT-II matrix: coefficients = D * block * D^T.
at::Tensor dct_matrix() {
  auto d = torch::empty({8, 8});
  for (int k = 0; k < 8; ++k)
    for (int n = 0; n < 8; ++n)
      d[k][n] = (k == 0 ? std::sqrt(1.0 / 8) : 0.5) * std::cos((2 * n + 1) * k * M_PI / 16);
  return d;
}

// One plane [N,1,H,W] of level-shifted samples through DCT, quantization by `table`
// and inverse DCT; edges replicated to whole blocks, as encoders pad.
at::Tensor compress_plane(const at::Tensor& plane, const at::Tensor& table) {
  const auto h = plane.size(2), w = plane.size(3);
  const auto padded =
      F::pad(plane, F::PadFuncOptions({0, (8 - w % 8) % 8, 0, (8 - h % 8) % 8}).mode(torch::kReplicate));
  const auto hb = padded.size(2) / 8, wb = padded.size(3) / 8;
  const auto blocks = padded.unfold(2, 8, 8).unfold(3, 8, 8);  // [N,1,hb,wb,8,8]
  static const auto d = dct_matrix();
  const auto coefficients = torch::matmul(torch::matmul(d, blocks), d.t());
  const auto quantized = (coefficients / table).round() * table;
  const auto restored = torch::matmul(torch::matmul(d.t(), quantized), d);
  return restored.permute({0, 1, 2, 4, 3, 5}).reshape({plane.size(0), 1, hb * 8, wb * 8}).narrow(2, 0, h).narrow(3, 0, w);
}

// 4:2:0 chroma: the mean of each 2x2 block (edges replicated) is what gets encoded...
at::Tensor halve(const at::Tensor& plane) {
  const auto even =
      F::pad(plane, F::PadFuncOptions({0, plane.size(3) % 2, 0, plane.size(2) % 2}).mode(torch::kReplicate));
  return F::avg_pool2d(even, F::AvgPool2dFuncOptions(2));
}

// ...and the decoder replicates it back to h x w (IJG's smoothing upsampling aside).
at::Tensor double_to(const at::Tensor& half, std::int64_t h, std::int64_t w) {
  return half.repeat_interleave(2, 2).repeat_interleave(2, 3).narrow(2, 0, h).narrow(3, 0, w);
}

}  // namespace

const OptionBinding<JpegCompressionOptions>& JpegCompression::declared_options() {
  static const auto binding = [] {
    OptionBinding<JpegCompressionOptions> b("the jpeg-compression transform");
    b.describe("JPEG-compress and decode every input")
        .integer(WMARK_OPTION_FIELD(quality), "IJG quality (1 worst, 100 best)", 1, 100);
    return b;
  }();
  return binding;
}

JpegCompression::JpegCompression(JpegCompressionOptions options) : options_(declared_options().checked(options)) {}

nlohmann::json JpegCompression::options() const { return declared_options().write(options_); }

at::Tensor JpegCompression::apply(const at::Tensor& pixels) const {
  check_pixels(pixels, "jpeg-compression");
  const auto device = pixels.device();
  const auto x = (pixels.to(torch::kCPU).clamp(0, 1) * 255).round();  // what an encoder is given
  const auto luminance = quantization_table(kLuminance, options_.quality());
  at::Tensor decoded;
  if (x.size(1) == 3) {
    const auto r = x.narrow(1, 0, 1), g = x.narrow(1, 1, 1), b = x.narrow(1, 2, 1);
    // JFIF's YCbCr, level-shifted by 128 for the DCT.
    const auto y = 0.299 * r + 0.587 * g + 0.114 * b - 128;
    const auto cb = -0.168736 * r - 0.331264 * g + 0.5 * b;
    const auto cr = 0.5 * r - 0.418688 * g - 0.081312 * b;
    const auto chrominance = quantization_table(kChrominance, options_.quality());
    const auto y2 = compress_plane(y, luminance) + 128;
    const auto h = x.size(2), w = x.size(3);
    const auto cb2 = double_to(compress_plane(halve(cb), chrominance), h, w);
    const auto cr2 = double_to(compress_plane(halve(cr), chrominance), h, w);
    decoded = torch::cat({y2 + 1.402 * cr2, y2 - 0.344136 * cb2 - 0.714136 * cr2, y2 + 1.772 * cb2}, 1);
  } else {
    // Grey (or any other channel count): each channel is a luminance plane.
    std::vector<at::Tensor> planes;
    for (std::int64_t c = 0; c < x.size(1); ++c) planes.push_back(compress_plane(x.narrow(1, c, 1) - 128, luminance) + 128);
    decoded = torch::cat(planes, 1);
  }
  return (decoded.round().clamp(0, 255) / 255).to(device);  // the decoder's 8-bit output
}

}  // namespace wmark

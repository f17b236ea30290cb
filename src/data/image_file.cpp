#include "wmark/data/image_file.h"

#include <torch/torch.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <limits>
#include <sstream>

#include "wmark/util/error.h"
#include "wmark/util/files.h"

namespace fs = std::filesystem;

namespace wmark {
namespace {

std::uint32_t be32(const unsigned char* p) {
  return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) | p[3];
}

int paeth(int a, int b, int c) {
  const int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
  return (pa <= pb && pa <= pc) ? a : (pb <= pc ? b : c);
}

// Deflate's best case: a 258-byte match in 2 bits.
constexpr std::size_t kMaxDeflateRatio = 1032;

// The zlib stream `in` inflated, which must give exactly `expected` bytes. The output
// grows with the bytes actually inflated, never ahead of them, so a stream that stops
// short costs what it holds, not what the header promised.
std::vector<unsigned char> inflate_exactly(const std::string& in, std::size_t expected, const fs::path& path) {
  WMARK_CHECK(in.size() <= std::numeric_limits<uInt>::max(), path.string(), ": PNG image data too large");
  z_stream stream{};
  WMARK_CHECK(inflateInit(&stream) == Z_OK, path.string(), ": zlib failed to initialise");
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  stream.avail_in = static_cast<uInt>(in.size());
  std::vector<unsigned char> out;
  unsigned char chunk[1 << 16];
  int status = Z_OK;
  while (status == Z_OK) {
    stream.next_out = chunk;
    stream.avail_out = sizeof(chunk);
    status = inflate(&stream, Z_NO_FLUSH);  // Z_BUF_ERROR once no progress is possible: truncated
    const std::size_t produced = sizeof(chunk) - stream.avail_out;
    if (produced > expected - out.size()) status = Z_DATA_ERROR;  // more pixels than the header says
    else out.insert(out.end(), chunk, chunk + produced);
  }
  inflateEnd(&stream);
  WMARK_CHECK(status == Z_STREAM_END && out.size() == expected, path.string(),
              ": damaged or truncated PNG image data");
  return out;
}

at::Tensor decode_png(const std::string& bytes, const fs::path& path) {
  const auto* data = reinterpret_cast<const unsigned char*>(bytes.data());
  std::size_t at = 8;
  std::uint32_t width = 0, height = 0;
  int depth = 0, color = -1, interlace = 0;
  std::string idat;
  std::vector<unsigned char> palette;
  bool ended = false;
  while (!ended) {
    WMARK_CHECK(at + 12 <= bytes.size(), path.string(), ": truncated PNG (chunk header past the end)");
    const std::uint32_t length = be32(data + at);
    const std::string type(bytes.data() + at + 4, 4);
    WMARK_CHECK(length <= bytes.size() && at + 12 + length <= bytes.size(), path.string(),
                ": truncated PNG (chunk ", type, " past the end)");
    const unsigned char* body = data + at + 8;
    if (type == "IHDR") {
      WMARK_CHECK(length == 13, path.string(), ": malformed PNG header");
      width = be32(body);
      height = be32(body + 4);
      depth = body[8];
      color = body[9];
      interlace = body[12];
    } else if (type == "PLTE") {
      palette.assign(body, body + length);
    } else if (type == "IDAT") {
      idat.append(reinterpret_cast<const char*>(body), length);
    } else if (type == "IEND") {
      ended = true;
    }
    at += 12 + length;
  }
  WMARK_CHECK(width > 0 && height > 0 && width <= 16384 && height <= 16384, path.string(),
              ": PNG size ", width, "x", height, " is not supported");
  WMARK_CHECK(depth == 8, path.string(), ": only 8-bit PNG images are supported (this one has ",
              depth, " bits per sample)");
  WMARK_CHECK(interlace == 0, path.string(), ": interlaced PNG images are not supported");
  int channels = 0;
  switch (color) {
    case 0: channels = 1; break;
    case 2: channels = 3; break;
    case 3: channels = 1; break;
    case 4: channels = 2; break;
    case 6: channels = 4; break;
    default: WMARK_FAIL(path.string(), ": unsupported PNG colour type ", color);
  }
  const std::size_t stride = std::size_t(width) * channels;
  const std::size_t raw_size = std::size_t(height) * (stride + 1);
  // Deflate shrinks data at most kMaxDeflateRatio times: a header whose dimensions need
  // more than the compressed data can hold is refused before anything is allocated.
  WMARK_CHECK(raw_size / kMaxDeflateRatio <= idat.size(), path.string(), ": PNG size ", width, "x", height,
              " needs ", raw_size, " bytes of image data, more than its ", idat.size(), " compressed bytes can hold");
  const auto raw = inflate_exactly(idat, raw_size, path);
  std::vector<unsigned char> pixels(std::size_t(height) * stride);
  for (std::uint32_t y = 0; y < height; ++y) {
    const int filter = raw[y * (stride + 1)];
    const unsigned char* in = &raw[y * (stride + 1) + 1];
    unsigned char* out = &pixels[y * stride];
    const unsigned char* up = y > 0 ? &pixels[(y - 1) * stride] : nullptr;
    for (std::size_t x = 0; x < stride; ++x) {
      const int a = x >= std::size_t(channels) ? out[x - channels] : 0;
      const int b = up ? up[x] : 0;
      const int c = (up && x >= std::size_t(channels)) ? up[x - channels] : 0;
      int value = in[x];
      switch (filter) {
        case 0: break;
        case 1: value += a; break;
        case 2: value += b; break;
        case 3: value += (a + b) / 2; break;
        case 4: value += paeth(a, b, c); break;
        default: WMARK_FAIL(path.string(), ": damaged PNG (row filter ", filter, ")");
      }
      out[x] = static_cast<unsigned char>(value);
    }
  }
  auto image = torch::from_blob(pixels.data(), {height, width, channels}, torch::kUInt8).clone();
  if (color == 3) {
    WMARK_CHECK(!palette.empty() && palette.size() % 3 == 0, path.string(), ": PNG palette missing");
    auto table = torch::from_blob(palette.data(), {std::int64_t(palette.size() / 3), 3}, torch::kUInt8).clone();
    auto index = image.view({-1}).to(torch::kLong);
    WMARK_CHECK(index.max().item<std::int64_t>() < table.size(0), path.string(), ": PNG palette index out of range");
    image = table.index_select(0, index).view({height, width, 3});
  }
  return image.permute({2, 0, 1}).contiguous();
}

at::Tensor decode_netpbm(const std::string& bytes, const fs::path& path) {
  const char kind = bytes[1];
  const bool ascii = kind == '2' || kind == '3';
  const int channels = (kind == '3' || kind == '6') ? 3 : 1;
  std::size_t at = 2;
  auto next_number = [&]() -> long {
    while (at < bytes.size()) {
      if (bytes[at] == '#') {
        while (at < bytes.size() && bytes[at] != '\n') ++at;
      } else if (std::isspace(static_cast<unsigned char>(bytes[at]))) {
        ++at;
      } else {
        break;
      }
    }
    WMARK_CHECK(at < bytes.size() && std::isdigit(static_cast<unsigned char>(bytes[at])), path.string(),
                ": truncated or malformed Netpbm header");
    long value = 0;
    while (at < bytes.size() && std::isdigit(static_cast<unsigned char>(bytes[at]))) {
      value = value * 10 + (bytes[at++] - '0');
      WMARK_CHECK(value < 1000000, path.string(), ": number too large in Netpbm file");
    }
    return value;
  };
  const long width = next_number(), height = next_number(), maxval = next_number();
  WMARK_CHECK(width > 0 && height > 0 && width <= 16384 && height <= 16384, path.string(),
              ": image size ", width, "x", height, " is not supported");
  WMARK_CHECK(maxval > 0 && maxval <= 255, path.string(), ": only maxval up to 255 is supported");
  const std::size_t count = std::size_t(width) * height * channels;
  auto image = torch::empty({height, width, channels}, torch::kUInt8);
  auto* out = image.data_ptr<std::uint8_t>();
  if (ascii) {
    for (std::size_t i = 0; i < count; ++i) out[i] = static_cast<std::uint8_t>(next_number() * 255 / maxval);
  } else {
    ++at;  // the single whitespace after maxval
    WMARK_CHECK(at + count <= bytes.size(), path.string(), ": truncated Netpbm image (", bytes.size() - std::min(at, bytes.size()),
                " of ", count, " pixel bytes)");
    for (std::size_t i = 0; i < count; ++i) out[i] = static_cast<std::uint8_t>(int((unsigned char)bytes[at + i]) * 255 / maxval);
  }
  return image.permute({2, 0, 1}).contiguous();
}

}  // namespace

at::Tensor read_image(const fs::path& path) {
  const std::string bytes = read_file(path);
  static const char kPng[] = "\x89PNG\r\n\x1a\n";
  if (bytes.size() >= 8 && std::memcmp(bytes.data(), kPng, 8) == 0) return decode_png(bytes, path);
  if (bytes.size() >= 2 && bytes[0] == 'P' && std::strchr("2356", bytes[1]) && bytes[1] != '\0') {
    return decode_netpbm(bytes, path);
  }
  WMARK_FAIL(path.string(), ": not a PNG or PGM/PPM image");
}

std::vector<fs::path> list_images(const fs::path& folder) {
  WMARK_CHECK(fs::is_directory(folder), "image folder ", folder.string(), " does not exist");
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(folder)) {
    std::string ext = entry.path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
    if (entry.is_regular_file() && (ext == ".png" || ext == ".pgm" || ext == ".ppm" || ext == ".pnm")) {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

at::Tensor convert_images(const at::Tensor& images, std::int64_t channels, std::int64_t height,
                          std::int64_t width) {
  WMARK_CHECK(images.dim() == 4, "convert_images expects [N,C,H,W]");
  WMARK_CHECK(channels == 1 || channels == 3, "images can be converted to 1 or 3 channels, not ", channels);
  auto x = images.to(torch::kFloat);
  const auto c = x.size(1);
  if (c == 2 || c == 4) x = x.narrow(1, 0, c - 1);  // drop alpha
  if (x.size(1) == 3 && channels == 1) {
    auto w = torch::tensor({0.299f, 0.587f, 0.114f}).view({1, 3, 1, 1});
    x = (x * w).sum(1, true);
  } else if (x.size(1) == 1 && channels == 3) {
    x = x.expand({x.size(0), 3, x.size(2), x.size(3)});
  }
  if (x.size(2) != height || x.size(3) != width) {
    namespace F = torch::nn::functional;
    const bool shrink = x.size(2) >= height && x.size(3) >= width;
    auto options = F::InterpolateFuncOptions().size(std::vector<std::int64_t>{height, width});
    x = shrink ? F::interpolate(x, options.mode(torch::kArea))
               : F::interpolate(x, options.mode(torch::kBilinear).align_corners(false));
  }
  return x.round().clamp(0, 255).to(torch::kUInt8).contiguous();
}

namespace {

void append_be32(std::string& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}

void append_chunk(std::string& out, const char* type, const std::string& data) {
  append_be32(out, static_cast<std::uint32_t>(data.size()));
  const std::string body = std::string(type, 4) + data;
  out += body;
  append_be32(out, static_cast<std::uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(body.data()), body.size())));
}

}  // namespace

void write_png(const fs::path& path, const at::Tensor& image, bool force) {
  WMARK_CHECK(image.dim() == 3 && image.scalar_type() == torch::kUInt8 && (image.size(0) == 1 || image.size(0) == 3),
              "write_png ", path.string(), ": expected uint8 [1 or 3, H, W], got ", image.scalar_type(), " ",
              image.sizes());
  const auto channels = image.size(0), height = image.size(1), width = image.size(2);
  auto hwc = image.permute({1, 2, 0}).contiguous();
  const auto* pixels = hwc.data_ptr<std::uint8_t>();
  // Filter type 0 (none) before each row.
  std::string raw;
  const auto row = static_cast<size_t>(width * channels);
  raw.reserve(static_cast<size_t>(height) * (row + 1));
  for (std::int64_t y = 0; y < height; ++y) {
    raw.push_back('\0');
    raw.append(reinterpret_cast<const char*>(pixels + y * row), row);
  }
  uLongf compressed_size = compressBound(raw.size());
  std::string compressed(compressed_size, '\0');
  WMARK_CHECK(compress2(reinterpret_cast<Bytef*>(compressed.data()), &compressed_size,
                        reinterpret_cast<const Bytef*>(raw.data()), raw.size(), 6) == Z_OK,
              "write_png ", path.string(), ": compression failed");
  compressed.resize(compressed_size);
  std::string header;
  append_be32(header, static_cast<std::uint32_t>(width));
  append_be32(header, static_cast<std::uint32_t>(height));
  header += std::string{8, static_cast<char>(channels == 1 ? 0 : 2), 0, 0, 0};  // depth, colour type, -, -, no interlace
  std::string png = "\x89PNG\r\n\x1a\n";
  append_chunk(png, "IHDR", header);
  append_chunk(png, "IDAT", compressed);
  append_chunk(png, "IEND", "");
  write_file_atomic(path, png, force);
}

}  // namespace wmark

#include <catch2/catch.hpp>

#include <torch/torch.h>
#include <sys/resource.h>
#include <zlib.h>

#include <random>

#include "../support/test_support.h"
#include "wmark/data/image_file.h"

using namespace wmark;
using Catch::Matchers::Contains;

namespace {


std::string chunk(const std::string& type, const std::string& body) {
  std::string typed = type + body;
  const auto crc = crc32(0, reinterpret_cast<const Bytef*>(typed.data()), typed.size());
  return test::be32(static_cast<std::uint32_t>(body.size())) + typed + test::be32(static_cast<std::uint32_t>(crc));
}

// A PNG of `channels` 8-bit samples (colour type from the count) with the given row
// filters applied to `pixels` (rows of width*channels bytes).
std::string make_png(int width, int height, int channels, const std::vector<unsigned char>& pixels,
                     const std::vector<int>& filters) {
  const int color = channels == 1 ? 0 : channels == 2 ? 4 : channels == 3 ? 2 : 6;
  const int stride = width * channels;
  std::string raw;
  for (int y = 0; y < height; ++y) {
    const int f = filters[y % filters.size()];
    raw.push_back(char(f));
    for (int x = 0; x < stride; ++x) {
      const int v = pixels[y * stride + x];
      const int a = x >= channels ? pixels[y * stride + x - channels] : 0;
      const int b = y > 0 ? pixels[(y - 1) * stride + x] : 0;
      const int c = (x >= channels && y > 0) ? pixels[(y - 1) * stride + x - channels] : 0;
      int predicted = 0;
      if (f == 1) predicted = a;
      if (f == 2) predicted = b;
      if (f == 3) predicted = (a + b) / 2;
      if (f == 4) {
        const int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
        predicted = (pa <= pb && pa <= pc) ? a : (pb <= pc ? b : c);
      }
      raw.push_back(char((v - predicted) & 255));
    }
  }
  uLongf size = compressBound(raw.size());
  std::string packed(size, '\0');
  compress(reinterpret_cast<Bytef*>(packed.data()), &size, reinterpret_cast<const Bytef*>(raw.data()), raw.size());
  packed.resize(size);
  std::string header = test::be32(width) + test::be32(height) + std::string{char(8), char(color), 0, 0, 0};
  return std::string("\x89PNG\r\n\x1a\n", 8) + chunk("IHDR", header) + chunk("IDAT", packed) + chunk("IEND", "");
}

}  // namespace

TEST_CASE("PNG images decode with every row filter", "[data]") {
  test::TempDir dir;
  const int w = 7, h = 5, c = 4;
  std::vector<unsigned char> pixels(w * h * c);
  for (std::size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<unsigned char>((i * 37 + i / 7) % 256);
  test::write_bytes(dir / "rgba.png", make_png(w, h, c, pixels, {0, 1, 2, 3, 4}));
  auto image = read_image(dir / "rgba.png");
  REQUIRE(image.sizes() == torch::IntArrayRef({4, 5, 7}));
  auto expected = torch::from_blob(pixels.data(), {h, w, c}, torch::kUInt8).permute({2, 0, 1});
  CHECK(torch::equal(image, expected));

  std::vector<unsigned char> grey(3 * 2, 90);
  test::write_bytes(dir / "grey.png", make_png(3, 2, 1, grey, {4}));
  CHECK(read_image(dir / "grey.png").eq(90).all().item<bool>());

  const auto bytes = make_png(w, h, c, pixels, {1});
  test::write_bytes(dir / "cut.png", bytes.substr(0, bytes.size() - 30));
  CHECK_THROWS_WITH(read_image(dir / "cut.png"), Contains("cut.png") && Contains("truncated"));
  test::write_bytes(dir / "text.png", "hello");
  CHECK_THROWS_WITH(read_image(dir / "text.png"), Contains("text.png") && Contains("not a PNG"));
}

TEST_CASE("PGM/PPM images decode and convert to a model's shape", "[data]") {
  test::TempDir dir;
  test::write_bytes(dir / "a.ppm", std::string("P6\n# comment\n2 1\n255\n") + std::string{char(255), 0, 0, 0, 0, char(255)});
  auto rgb = read_image(dir / "a.ppm");
  CHECK(rgb.sizes() == torch::IntArrayRef({3, 1, 2}));
  CHECK(rgb[0][0][0].item<int>() == 255);
  CHECK(rgb[2][0][1].item<int>() == 255);
  auto grey = convert_images(rgb.unsqueeze(0), 1, 4, 4);
  CHECK(grey.sizes() == torch::IntArrayRef({1, 1, 4, 4}));
  CHECK(grey[0][0][0][0].item<int>() == 76);  // 0.299 * 255, red
  test::write_bytes(dir / "short.pgm", "P5\n4 4\n255\nabc");
  CHECK_THROWS_WITH(read_image(dir / "short.pgm"), Contains("short.pgm") && Contains("truncated"));
  auto listed = list_images(dir.path());
  CHECK(listed.size() == 2);
  CHECK_THROWS_WITH(list_images(dir / "no-such-folder"), Contains("no-such-folder") && Contains("does not exist"));
}

TEST_CASE("a PNG whose header promises far more pixels than its data holds is refused before allocating", "[data]") {
  test::TempDir dir;
  // 16384 x 16384 RGBA (a gigabyte of pixels) from a few bytes of zlib data.
  const std::string tiny(100, '\0');
  uLongf size = compressBound(tiny.size());
  std::string packed(size, '\0');
  compress(reinterpret_cast<Bytef*>(packed.data()), &size, reinterpret_cast<const Bytef*>(tiny.data()), tiny.size());
  packed.resize(size);
  const std::string header = test::be32(16384) + test::be32(16384) + std::string{char(8), char(6), 0, 0, 0};
  test::write_bytes(dir / "huge.png", std::string("\x89PNG\r\n\x1a\n", 8) + chunk("IHDR", header) +
                                          chunk("IDAT", packed) + chunk("IEND", ""), true);
  rusage before{}, after{};
  getrusage(RUSAGE_SELF, &before);
  CHECK_THROWS_WITH(read_image(dir / "huge.png"), Contains("huge.png") && Contains("compressed bytes can hold"));
  getrusage(RUSAGE_SELF, &after);
  CHECK(after.ru_maxrss - before.ru_maxrss < 100 * 1024);  // KiB: nothing near the gigabyte was touched

  // Data that would fit the ratio (random bytes do not compress) but stops short costs
  // what it holds, and is refused.
  std::string rows(64 * (1 + 64 * 3), '\0');
  std::mt19937 random(5);
  for (auto& byte : rows) byte = static_cast<char>(random());
  size = compressBound(rows.size());
  packed.assign(size, '\0');
  compress(reinterpret_cast<Bytef*>(packed.data()), &size, reinterpret_cast<const Bytef*>(rows.data()), rows.size());
  packed.resize(size);
  const std::string taller = test::be32(64) + test::be32(4096) + std::string{char(8), char(2), 0, 0, 0};
  test::write_bytes(dir / "short.png", std::string("\x89PNG\r\n\x1a\n", 8) + chunk("IHDR", taller) +
                                           chunk("IDAT", packed) + chunk("IEND", ""), true);
  CHECK_THROWS_WITH(read_image(dir / "short.png"), Contains("short.png") && Contains("truncated PNG image data"));
}

#include "wmark/serve/dawn_chooser.h"

#include <sodium.h>

#include <torch/torch.h>

#include "wmark/util/encoding.h"
#include "wmark/util/error.h"

namespace wmark {
namespace {

constexpr char kPixelDomain[] = "wmark-dawn-v1";  // with its terminating 0x00
constexpr char kPerceptualDomain[] = "wmark-dawn-perceptual-v1";
constexpr char kWeightsPurpose[] = "wmark-dawn-perceptual-weights-v1";

void check_rate(double rate) {
  WMARK_CHECK(rate > 0 && rate <= 0.5, "DAWN's rate must be in (0, 0.5], got ", rate);
}

void check_keying(const DawnKeying& keying, const ImageShape& shape) {
  WMARK_CHECK(keying.keying == "pixels" || keying.keying == "perceptual", "DAWN's keying is 'pixels' or "
              "'perceptual', got '", keying.keying, "'");
  if (keying.keying == "pixels") return;
  WMARK_CHECK(keying.bits >= 1 && keying.bits <= 64, "DAWN's perceptual bits must be in 1..64, got ", keying.bits);
  WMARK_CHECK(keying.grid >= 1 && keying.grid <= std::min(shape.height, shape.width), "DAWN's perceptual grid must be "
              "in 1..", std::min(shape.height, shape.width), " for ", shape.str(), " images, got ", keying.grid);
  WMARK_CHECK(shape.channels * keying.grid * keying.grid <= (std::int64_t{1} << 22), "DAWN's perceptual grid ",
              keying.grid, " gives too many cells for ", shape.str(), " images");
}

std::uint64_t little_endian_u64(const unsigned char* bytes) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | bytes[i];
  return v;
}

void append_le64(std::string& out, std::uint64_t v) {
  for (int b = 0; b < 8; ++b, v >>= 8) out.push_back(static_cast<char>(v & 0xff));
}

// The images' sizes as the hashes take them: [C,H,W], int64 little-endian.
std::string dims_of(const ImageShape& shape) {
  std::string dims;
  for (const auto size : {shape.channels, shape.height, shape.width}) append_le64(dims, static_cast<std::uint64_t>(size));
  return dims;
}

// Cell i of n over `size` pixels: [floor(i*size/n), ceil((i+1)*size/n)), as adaptive pooling.
std::pair<std::int64_t, std::int64_t> cell(std::int64_t i, std::int64_t n, std::int64_t size) {
  return {i * size / n, ((i + 1) * size + n - 1) / n};
}

DawnKeying keying_of(const WatermarkKey& key) {
  DawnKeying keying;
  const auto& p = key.params;
  if (!p.contains("keying")) return keying;  // keys made before perceptual keying
  WMARK_CHECK(p["keying"].is_string(), "the DAWN key's 'keying' is not a string");
  keying.keying = p["keying"].get<std::string>();
  if (keying.keying != "perceptual") return keying;
  WMARK_CHECK(p.contains("bits") && p["bits"].is_number_integer() && p.contains("grid") &&
                  p["grid"].is_number_integer(), "the DAWN key's perceptual keying needs integer 'bits' and 'grid'");
  keying.bits = p["bits"].get<std::int64_t>();
  keying.grid = p["grid"].get<std::int64_t>();
  return keying;
}

}  // namespace

DawnChooser::DawnChooser(const WatermarkKey& key) : secret_(key.secret), classes_(key.num_classes), shape_(key.input_shape) {
  WMARK_CHECK(key.method == "dawn", "a '", key.method, "' key is not a DAWN key");
  WMARK_CHECK(key.params.is_object() && key.params.contains("rate") && key.params["rate"].is_number(),
              "the DAWN key has no rate");
  rate_ = key.params["rate"].get<double>();
  check_rate(rate_);
  WMARK_CHECK(classes_ >= 2, "DAWN needs at least 2 classes, got ", classes_);
  keying_ = keying_of(key);
  check_keying(keying_, shape_);
  // What every digest hashes before the bucket: the domain (with its 0x00), the images'
  // sizes and, when perceptual, the bits and grid.
  if (keying_.keying == "pixels") {
    digest_prefix_.assign(kPixelDomain, sizeof(kPixelDomain));
    digest_prefix_ += dims_of(shape_);
    return;
  }
  digest_prefix_.assign(kPerceptualDomain, sizeof(kPerceptualDomain));
  digest_prefix_ += dims_of(shape_);
  append_le64(digest_prefix_, static_cast<std::uint64_t>(keying_.bits));
  append_le64(digest_prefix_, static_cast<std::uint64_t>(keying_.grid));
  // Near-Gaussian weights from integers alone (a sum of four int16), so the bits are the
  // same on every machine.
  const auto features = shape_.channels * keying_.grid * keying_.grid;
  auto stream = secret_.stream(kWeightsPurpose);
  weights_.resize(static_cast<std::size_t>(keying_.bits * features));
  for (auto& w : weights_) {
    const auto word = stream.next_u64();
    w = 0;
    // Each 16-bit part read as two's complement (as GCC and Clang do, and C++20 requires).
    for (int part = 0; part < 4; ++part) w += static_cast<std::int16_t>((word >> (16 * part)) & 0xffff);
  }
}

std::string DawnChooser::bucket(const at::Tensor& image) const {
  WMARK_CHECK(image.dim() == 3 && image.scalar_type() == torch::kUInt8, "DAWN hashes uint8 images [C,H,W], got ",
              image.scalar_type(), " ", image.sizes());
  const auto pixels = image.contiguous();
  const std::int64_t C = pixels.size(0), H = pixels.size(1), W = pixels.size(2), g = keying_.grid;
  WMARK_CHECK(C == shape_.channels && H == shape_.height && W == shape_.width, "the DAWN key is for ", shape_.str(),
              " images, got ", pixels.sizes());
  const auto* p = pixels.data_ptr<std::uint8_t>();
  if (keying_.keying == "pixels") return std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(pixels.numel()));
  // Cell means minus the image's mean, in 16-bit fixed point: brightness offsets cancel,
  // contrast scales every projection alike, and no float rounding can flip a bit.
  std::int64_t total = 0;
  for (std::int64_t k = 0; k < C * H * W; ++k) total += p[k];
  const std::int64_t mean = (total << 16) / (C * H * W);
  std::vector<std::int64_t> centred(static_cast<std::size_t>(C * g * g));
  for (std::int64_t c = 0; c < C; ++c)
    for (std::int64_t i = 0; i < g; ++i) {
      const auto [r0, r1] = cell(i, g, H);
      for (std::int64_t j = 0; j < g; ++j) {
        const auto [c0, c1] = cell(j, g, W);
        std::int64_t sum = 0;
        for (auto r = r0; r < r1; ++r)
          for (auto q = c0; q < c1; ++q) sum += p[(c * H + r) * W + q];
        centred[static_cast<std::size_t>((c * g + i) * g + j)] = (sum << 16) / ((r1 - r0) * (c1 - c0)) - mean;
      }
    }
  std::string bits((static_cast<std::size_t>(keying_.bits) + 7) / 8, '\0');
  const auto features = centred.size();
  for (std::int64_t b = 0; b < keying_.bits; ++b) {
    const auto* w = weights_.data() + static_cast<std::size_t>(b) * features;
    std::int64_t dot = 0;  // |w| < 2^17, |centred| < 2^24, at most 2^22 terms: no overflow
    for (std::size_t k = 0; k < features; ++k) dot += static_cast<std::int64_t>(w[k]) * centred[k];
    if (dot > 0) bits[static_cast<std::size_t>(b / 8)] |= static_cast<char>(1 << (b % 8));
  }
  return bits;
}

DawnChoice DawnChooser::choose(const at::Tensor& image) const { return choice_of(bucket(image)); }

DawnChoice DawnChooser::choice_of(const std::string& bucket) const {
  ensure_sodium();
  unsigned char digest[16];
  crypto_generichash_state state;
  crypto_generichash_init(&state, secret_.value.data(), secret_.value.size(), sizeof(digest));
  crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(digest_prefix_.data()), digest_prefix_.size());
  crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(bucket.data()), bucket.size());
  crypto_generichash_final(&state, digest, sizeof(digest));
  // rate <= 0.5, so the threshold fits: rate * 2^64 < 2^63 + 1.
  const auto threshold = static_cast<std::uint64_t>(rate_ * 18446744073709551616.0);
  DawnChoice choice;
  choice.changed = little_endian_u64(digest) < threshold;
  choice.shift = 1 + static_cast<std::int64_t>(little_endian_u64(digest + 8) % static_cast<std::uint64_t>(classes_ - 1));
  return choice;
}

WatermarkKey make_dawn_server_key(double rate, const ImageShape& input, std::int64_t num_classes,
                                  const Normalization& normalization, const std::string& dataset,
                                  const DawnKeying& keying) {
  check_rate(rate);
  WMARK_CHECK(num_classes >= 2, "DAWN needs at least 2 classes, got ", num_classes);
  check_keying(keying, input);
  WatermarkKey key;  // a fresh secret and salt
  key.method = "dawn";
  key.params = {{"rate", rate}, {"keying", keying.keying}};
  if (keying.keying == "perceptual") {
    key.params["bits"] = keying.bits;
    key.params["grid"] = keying.grid;
  }
  key.num_classes = num_classes;
  key.input_shape = input;
  key.normalization = normalization;
  key.dataset = dataset;
  key.created = utc_now_iso8601();
  return key;
}

}  // namespace wmark

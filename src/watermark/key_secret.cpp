#include "wmark/watermark/key_secret.h"

#include <cstring>
#include <limits>
#include <numeric>
#include <vector>

#include <sodium.h>
#include <torch/torch.h>

#include "wmark/util/encoding.h"
#include "wmark/util/error.h"
#include "wmark/util/sha256.h"

namespace wmark {
namespace {

constexpr const char* kStreamDomain = "wmark-key-stream-v1";

}  // namespace

KeySecret::KeySecret() {
  ensure_sodium();
  randombytes_buf(value.data(), value.size());
}

KeySecret::~KeySecret() { sodium_memzero(value.data(), value.size()); }

KeySecret KeySecret::from_hex(std::string_view hex, std::string owner_public_key) {
  ensure_sodium();
  KeySecret secret;
  WMARK_CHECK(hex_decode(hex, secret.value.data(), secret.value.size()), "a key secret must be exactly 64 hex digits (256 bits)");
  secret.owner_public_key = std::move(owner_public_key);
  return secret;
}

std::string KeySecret::hex() const { return to_hex(value); }  // 32 bytes, as a digest

KeyStream KeySecret::stream(std::string_view purpose) const { return KeyStream(*this, purpose); }

bool KeySecret::operator==(const KeySecret& other) const {
  return sodium_memcmp(value.data(), other.value.data(), value.size()) == 0 &&
         owner_public_key == other.owner_public_key;
}

KeySecret experiment_secret(std::uint64_t seed, std::string_view purpose) {
  ensure_sodium();
  std::string message("wmark-experiment-secret-v1");
  message.push_back('\0');
  message.append(std::to_string(seed));
  message.push_back('\0');
  message.append(purpose);
  KeySecret secret;
  crypto_generichash(secret.value.data(), secret.value.size(), reinterpret_cast<const unsigned char*>(message.data()),
                     message.size(), nullptr, 0);
  return secret;
}

KeyStream::KeyStream(const KeySecret& secret, std::string_view purpose) {
  ensure_sodium();
  std::string message(kStreamDomain);
  message.push_back('\0');
  message.append(purpose);
  message.push_back('\0');
  message.append(secret.owner_public_key);
  crypto_generichash(key_.data(), key_.size(), reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                     secret.value.data(), secret.value.size());
  used_ = buffer_.size();  // empty: the first read refills
}

KeyStream::~KeyStream() {
  sodium_memzero(key_.data(), key_.size());
  sodium_memzero(buffer_.data(), buffer_.size());
}

void KeyStream::refill() {
  static const std::array<unsigned char, crypto_stream_chacha20_NONCEBYTES> nonce{};
  std::memset(buffer_.data(), 0, buffer_.size());
  crypto_stream_chacha20_xor_ic(buffer_.data(), buffer_.data(), buffer_.size(), nonce.data(), next_block_,
                                key_.data());
  next_block_ += buffer_.size() / 64;
  used_ = 0;
}

std::uint64_t KeyStream::next_u64() {
  if (used_ + 8 > buffer_.size()) refill();
  std::uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | buffer_[used_ + static_cast<std::size_t>(i)];
  used_ += 8;
  return value;
}

std::int64_t KeyStream::uniform(std::int64_t n) {
  WMARK_CHECK(n >= 1, "a uniform draw needs a range of at least 1, got ", n);
  const auto range = static_cast<std::uint64_t>(n);
  // Accept below the largest multiple of n that fits in 64 bits: every residue equally likely.
  const std::uint64_t limit = std::numeric_limits<std::uint64_t>::max() - std::numeric_limits<std::uint64_t>::max() % range;
  std::uint64_t x = next_u64();
  while (x >= limit) x = next_u64();
  return static_cast<std::int64_t>(x % range);
}

at::Tensor KeyStream::uniform(std::int64_t count, std::int64_t n) {
  WMARK_CHECK(count >= 0, "a draw count must not be negative, got ", count);
  auto out = torch::empty({count}, torch::kLong);
  auto* data = out.data_ptr<std::int64_t>();
  for (std::int64_t i = 0; i < count; ++i) data[i] = uniform(n);
  return out;
}

at::Tensor KeyStream::sample(std::int64_t n, std::int64_t count) {
  WMARK_CHECK(count >= 0 && count <= n, "cannot draw ", count, " distinct values from ", n);
  std::vector<std::int64_t> values(static_cast<std::size_t>(n));
  std::iota(values.begin(), values.end(), 0);
  for (std::int64_t i = 0; i < count; ++i) {
    std::swap(values[static_cast<std::size_t>(i)], values[static_cast<std::size_t>(i + uniform(n - i))]);
  }
  values.resize(static_cast<std::size_t>(count));
  return torch::tensor(values, torch::kLong);
}

at::Tensor KeyStream::normal(c10::IntArrayRef sizes) {
  auto out = torch::empty(sizes, torch::kFloat);
  auto* data = out.data_ptr<float>();
  for (std::int64_t i = 0; i < out.numel(); ++i) {
    double sum = 0;
    for (int term = 0; term < 6; ++term) {  // two 26-bit uniforms per 64 bits, exact in a double
      const std::uint64_t bits = next_u64();
      sum += static_cast<double>(bits >> 38) * 0x1p-26 + static_cast<double>((bits >> 6) & 0x3ffffff) * 0x1p-26;
    }
    data[i] = static_cast<float>(sum - 6.0);
  }
  return out;
}

at::Tensor KeyStream::bytes(c10::IntArrayRef sizes) {
  auto out = torch::empty(sizes, torch::kUInt8);
  auto* data = out.data_ptr<std::uint8_t>();
  for (std::int64_t i = 0; i < out.numel(); ++i) {
    if (used_ >= buffer_.size()) refill();
    data[i] = buffer_[used_++];
  }
  return out;
}

}  // namespace wmark

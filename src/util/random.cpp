#include "wmark/util/random.h"

#include <ATen/CPUGeneratorImpl.h>

#include <sodium.h>

#include <algorithm>
#include <limits>
#include <numeric>

#include "wmark/util/encoding.h"
#include "wmark/util/error.h"

namespace wmark {
namespace {
std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
}  // namespace

std::uint64_t derive_seed(std::uint64_t seed, std::string_view purpose) {
  std::uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a over the purpose
  for (char c : purpose) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return splitmix64(splitmix64(seed) ^ h);
}

at::Generator make_generator(std::uint64_t seed) { return at::detail::createCPUGenerator(seed); }

std::vector<std::int64_t> secure_random_subset(std::int64_t total, std::int64_t count) {
  ensure_sodium();
  WMARK_CHECK(count >= 0 && count <= total, "cannot choose ", count, " of ", total);
  WMARK_CHECK(total <= std::numeric_limits<std::uint32_t>::max(), "too many to choose from: ", total);
  std::vector<std::int64_t> all(static_cast<std::size_t>(total));
  std::iota(all.begin(), all.end(), 0);
  for (std::int64_t i = 0; i < count; ++i) {  // partial Fisher-Yates
    const auto j = i + static_cast<std::int64_t>(randombytes_uniform(static_cast<std::uint32_t>(total - i)));
    std::swap(all[static_cast<std::size_t>(i)], all[static_cast<std::size_t>(j)]);
  }
  all.resize(static_cast<std::size_t>(count));
  std::sort(all.begin(), all.end());
  return all;
}

std::vector<std::int64_t> secure_random_permutation(std::int64_t n) {
  ensure_sodium();
  WMARK_CHECK(n >= 0 && n <= std::numeric_limits<std::uint32_t>::max(), "cannot shuffle ", n, " items");
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  for (std::int64_t i = n - 1; i > 0; --i) {  // Fisher-Yates
    const auto j = static_cast<std::int64_t>(randombytes_uniform(static_cast<std::uint32_t>(i + 1)));
    std::swap(order[static_cast<std::size_t>(i)], order[static_cast<std::size_t>(j)]);
  }
  return order;
}

}  // namespace wmark

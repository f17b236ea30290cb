// Internal: what a zip archive's central directory declares about its entries, read
// from the raw bytes before any entry is inflated, so sizes can be checked first.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace wmark {

struct ZipEntry {
  std::string name;
  std::uint16_t method = 0;  // 0 stored, 8 deflated
  std::uint64_t compressed = 0;
  std::uint64_t uncompressed = 0;  // what a reader allocates before inflating
};

// The central directory of `archive` (at most `max_entries` entries, ZIP64 included).
// Throws wmark::Error "FILE is not WHAT: ..." when it is missing, truncated, inconsistent
// or too long (`what`: "a file written by torch.save", "a wmark checkpoint").
std::vector<ZipEntry> zip_directory(std::string_view archive, const std::string& file, const std::string& what,
                                    std::size_t max_entries);

}  // namespace wmark

#include "zip_directory.h"

#include <algorithm>

#include "wmark/util/error.h"

namespace wmark {
namespace {

constexpr std::uint32_t kEndSignature = 0x06054b50;      // end of central directory
constexpr std::uint32_t kZip64EndSignature = 0x06064b50;
constexpr std::uint32_t kZip64LocatorSignature = 0x07064b50;
constexpr std::uint32_t kEntrySignature = 0x02014b50;    // central directory file header
constexpr std::uint32_t kSaturated32 = 0xffffffff;       // "see the ZIP64 field"
constexpr std::uint16_t kSaturated16 = 0xffff;

// Little-endian fields, each read only after a bounds check.
class Bytes {
 public:
  Bytes(std::string_view data, const std::string& who) : data_(data), who_(who) {}
  std::uint64_t le(std::uint64_t at, int n) const {
    need(at, n);
    std::uint64_t value = 0;
    for (int k = n - 1; k >= 0; --k) value = (value << 8) | static_cast<unsigned char>(data_[at + k]);
    return value;
  }
  std::string_view slice(std::uint64_t at, std::uint64_t n) const {
    need(at, n);
    return data_.substr(at, n);
  }
  void need(std::uint64_t at, std::uint64_t n) const {
    WMARK_CHECK(at <= data_.size() && n <= data_.size() - at, who_,
                ": its zip directory is truncated or points outside the file");
  }
  std::size_t size() const { return data_.size(); }

 private:
  std::string_view data_;
  const std::string& who_;  // "FILE is not WHAT", the start of every error
};

// The last end-of-central-directory record, as zip readers (miniz) look for it: within
// the final 64 KiB comment window.
std::uint64_t find_end(const Bytes& bytes, const std::string& who) {
  WMARK_CHECK(bytes.size() >= 22, who, ": too short for a zip archive");
  const std::uint64_t last = bytes.size() - 22;
  const std::uint64_t first = last > 65535 ? last - 65535 : 0;
  for (std::uint64_t at = last + 1; at-- > first;) {
    if (bytes.le(at, 4) == kEndSignature) return at;
  }
  WMARK_FAIL(who, ": not a zip archive (no end of central directory)");
}

// Replaces the saturated 32-bit sizes of an entry by those of its ZIP64 extra field.
void apply_zip64_extra(const Bytes& bytes, std::uint64_t at, std::uint64_t length, ZipEntry& entry,
                       const std::string& who) {
  const std::uint64_t end = at + length;
  while (at + 4 <= end) {
    const auto id = bytes.le(at, 2), size = bytes.le(at + 2, 2);
    at += 4;
    WMARK_CHECK(size <= end - at, who, ": a malformed zip extra field");
    if (id == 0x0001) {
      std::uint64_t field = at;
      for (auto* value : {&entry.uncompressed, &entry.compressed}) {  // in this order, when saturated
        if (*value != kSaturated32) continue;
        WMARK_CHECK(field + 8 <= at + size, who, ": a short ZIP64 field");
        *value = bytes.le(field, 8);
        field += 8;
      }
      return;
    }
    at += size;
  }
}

}  // namespace

std::vector<ZipEntry> zip_directory(std::string_view archive, const std::string& file, const std::string& what,
                                    std::size_t max_entries) {
  const std::string who = file + " is not " + what;
  const Bytes bytes(archive, who);
  const auto end = find_end(bytes, who);
  std::uint64_t count = bytes.le(end + 10, 2), size = bytes.le(end + 12, 4), start = bytes.le(end + 16, 4);
  if (end >= 20 && bytes.le(end - 20, 4) == kZip64LocatorSignature) {
    // ZIP64 (PyTorch always writes it): its values rule, but the classic record may not
    // say otherwise, so that every reader sees the same directory.
    const auto zip64 = bytes.le(end - 20 + 8, 8);
    bytes.need(zip64, 56);
    WMARK_CHECK(bytes.le(zip64, 4) == kZip64EndSignature, who,
                ": a broken ZIP64 end of central directory");
    const auto count64 = bytes.le(zip64 + 32, 8), size64 = bytes.le(zip64 + 40, 8), start64 = bytes.le(zip64 + 48, 8);
    WMARK_CHECK((count == kSaturated16 || count == count64) && (size == kSaturated32 || size == size64) &&
                    (start == kSaturated32 || start == start64),
                who, ": its two zip directory records disagree");
    count = count64, size = size64, start = start64;
  }
  WMARK_CHECK(count <= max_entries, file, " holds ", count, " zip entries; the limit is ", max_entries);
  bytes.need(start, size);
  std::vector<ZipEntry> entries;
  entries.reserve(count);
  std::uint64_t at = start;
  for (std::uint64_t k = 0; k < count; ++k) {
    WMARK_CHECK(at + 46 <= start + size && bytes.le(at, 4) == kEntrySignature, who,
                ": a damaged zip directory entry");
    ZipEntry entry;
    entry.method = static_cast<std::uint16_t>(bytes.le(at + 10, 2));
    entry.compressed = bytes.le(at + 20, 4);
    entry.uncompressed = bytes.le(at + 24, 4);
    const auto name_length = bytes.le(at + 28, 2), extra_length = bytes.le(at + 30, 2), comment_length = bytes.le(at + 32, 2);
    entry.name = std::string(bytes.slice(at + 46, name_length));
    apply_zip64_extra(bytes, at + 46 + name_length, extra_length, entry, who);
    at += 46 + name_length + extra_length + comment_length;
    WMARK_CHECK(at <= start + size, who, ": a damaged zip directory entry");
    entries.push_back(std::move(entry));
  }
  return entries;
}

}  // namespace wmark

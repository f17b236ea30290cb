#include "zip_archive.h"

#include "test_support.h"

#include <caffe2/serialize/inline_container.h>
#include <catch2/catch.hpp>

#include <fstream>

namespace wmark::test {

void write_archive(const std::filesystem::path& path, const std::map<std::string, std::string>& records) {
  std::ofstream file(path, std::ios::binary);
  caffe2::serialize::PyTorchStreamWriter writer([&](const void* data, std::size_t n) {
    file.write(static_cast<const char*>(data), static_cast<std::streamsize>(n));
    return n;
  });
  for (const auto& [name, content] : records) {
    if (name != "version") writer.writeRecord(name, content.data(), content.size());  // the writer adds it
  }
  writer.writeEndOfFile();
}

std::map<std::string, std::string> read_archive(const std::filesystem::path& path) {
  caffe2::serialize::PyTorchStreamReader reader(path.string());
  std::map<std::string, std::string> records;
  for (const auto& name : reader.getAllRecords()) {
    auto [data, size] = reader.getRecord(name);
    records[name] = std::string(static_cast<const char*>(data.get()), size);
  }
  return records;
}

std::string pickle_unicode(const std::string& s) { return "X" + le32(static_cast<std::uint32_t>(s.size())) + s; }

void declare_size(std::string& archive, const std::string& name, std::uint32_t size) {
  const std::string signature = "PK\x01\x02";
  for (auto at = archive.find(signature); at != std::string::npos; at = archive.find(signature, at + 1)) {
    const auto name_length = std::uint8_t(archive[at + 28]) | std::uint8_t(archive[at + 29]) << 8;
    const auto entry = archive.substr(at + 46, name_length);
    if (entry.size() < name.size() || entry.compare(entry.size() - name.size(), name.size(), name) != 0) continue;
    archive.replace(at + 20, 4, le32(size));
    archive.replace(at + 24, 4, le32(size));
    return;
  }
  FAIL("no zip entry " << name);
}

}  // namespace wmark::test

// Test support: writing LibTorch zip archives record by record, and patching what their
// central directory declares, to build the hostile files the readers must refuse.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

namespace wmark::test {

// A LibTorch archive holding `records` (e.g. data.pkl, data/0, code/__torch__.py).
void write_archive(const std::filesystem::path& path, const std::map<std::string, std::string>& records);

// Every record of the archive at `path` (its "version" record included).
std::map<std::string, std::string> read_archive(const std::filesystem::path& path);

// Little-endian 32-bit field, and a pickle BINUNICODE string.
std::string pickle_unicode(const std::string& s);

// Sets both sizes a zip's central directory declares for `name` (no ZIP64 fields then).
void declare_size(std::string& archive, const std::string& name, std::uint32_t size);

}  // namespace wmark::test

// Helpers shared by the tests: real data paths, temp folders, corrupted copies.
#pragma once

#include <filesystem>
#include <string>

#include "wmark/data/dataset.h"

namespace wmark::test {

/// ../shared/data beside the checkout (tests read the real datasets there).
std::filesystem::path shared_data();

/// A fresh, empty temporary folder, removed when the object goes away.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

/// Writes bytes to a file; gzip-compressed when the name ends in .gz unless `raw`.
void write_bytes(const std::filesystem::path& path, const std::string& bytes, bool raw = false);

/// The MNIST splits, loaded once per test process.
const DatasetSplits& mnist();

/// Runs a shell command, returns its exit code and captures stdout+stderr into `output`.
int run_command(const std::string& command, std::string& output);

/// Path of the built wmark CLI.
std::string wmark_binary();

}  // namespace wmark::test

#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include "test_support.h"

#include <zlib.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <random>

#include "wmark/data/catalog.h"
#include "wmark/util/runtime.h"

namespace fs = std::filesystem;

namespace wmark::test {

namespace {
// Tests train small models: use the cores and the allocator settings like the CLI does.
const int kThreads = configure_runtime();
}  // namespace

fs::path shared_data() { return fs::path(WMARK_TEST_SOURCE_DIR).parent_path() / "shared" / "data"; }

TempDir::TempDir() {
  std::random_device device;
  path_ = fs::temp_directory_path() / ("wmark-test-" + std::to_string(device()));
  fs::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ignored;
  fs::remove_all(path_, ignored);
}

void write_bytes(const fs::path& path, const std::string& bytes, bool raw) {
  if (!raw && path.extension() == ".gz") {
    gzFile file = gzopen(path.c_str(), "wb");
    REQUIRE(file != nullptr);
    REQUIRE(gzwrite(file, bytes.data(), static_cast<unsigned>(bytes.size())) == int(bytes.size()));
    gzclose(file);
    return;
  }
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

const DatasetSplits& mnist() {
  static const DatasetSplits splits = load_dataset("mnist", shared_data());
  return splits;
}

int run_command(const std::string& command, std::string& output) {
  output.clear();
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::array<char, 4096> buffer{};
  while (fgets(buffer.data(), buffer.size(), pipe)) output += buffer.data();
  const int status = pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string wmark_binary() { return WMARK_CLI_PATH; }

}  // namespace wmark::test

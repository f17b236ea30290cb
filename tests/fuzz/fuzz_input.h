// Shared by the libFuzzer targets: the parsers under test read files, so each input is
// written to one per-process file in /dev/shm (memory-backed) first. A target passes
// when the parser returns a value or throws wmark::Error (a clear error) — anything
// else (a crash, a sanitizer report, another exception type) is a finding.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include <c10/util/Exception.h>

#include "wmark/util/error.h"

namespace wmark::fuzz {

inline std::filesystem::path input_file(const std::uint8_t* data, std::size_t size, const std::string& suffix = "") {
  const auto path = std::filesystem::path("/dev/shm") / ("wmark-fuzz-" + std::to_string(getpid()) + suffix);
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data),
                                                               static_cast<std::streamsize>(size));
  return path;
}

// Runs `parse`; a wmark::Error is the expected way to refuse input.
template <typename Parse>
void expect_value_or_error(Parse parse) {
  try {
    parse();
  } catch (const wmark::Error&) {
  }
}

}  // namespace wmark::fuzz

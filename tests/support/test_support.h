// Helpers shared by the tests: real data paths, temp folders, corrupted copies.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "wmark/claim/identity.h"
#include "wmark/data/dataset.h"
#include "wmark/models/network.h"

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

/// The little-endian 4 bytes of v (zip and pickle records).
inline std::string le32(std::uint32_t v) { return {char(v), char(v >> 8), char(v >> 16), char(v >> 24)}; }
/// The big-endian 4 bytes of v (IDX and PNG headers).
inline std::string be32(std::uint32_t v) { return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)}; }

/// Writes bytes to a file; gzip-compressed when the name ends in .gz unless `raw`.
void write_bytes(const std::filesystem::path& path, const std::string& bytes, bool raw = false);

/// While it lives, no file of this process may grow past `bytes` (RLIMIT_FSIZE, with
/// SIGXFSZ ignored so a write fails with EFBIG): a write failure midway, even as root.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(std::uint64_t bytes);
  ~FileSizeLimit();
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;

 private:
  std::uint64_t previous_soft_ = 0;
  void (*previous_handler_)(int) = nullptr;
};

/// A JSON text of `depth` nested arrays.
std::string deeply_nested_json(int depth);

/// The MNIST splits, loaded once per test process.
const DatasetSplits& mnist();

/// Runs a shell command, returns its exit code and captures stdout+stderr into `output`.
int run_command(const std::string& command, std::string& output);

/// Path of the built wmark CLI.
std::string wmark_binary();

/// A freshly initialised mnist_cnn, its weights drawn from `seed`.
NetworkPtr fresh_mnist_cnn(std::uint64_t seed);

/// A test owner whose Ed25519 key pair comes from `seed` (never a real secret): fixtures
/// that derive triggers from the owner's public key must not change from run to run.
Identity fixed_identity(std::uint8_t seed);

/// Runs the built wmark CLI with `args` (as run_command does).
int run_wmark(const std::string& args, std::string& output);

/// A program running beside the test (e.g. `wmark serve`), its stdout+stderr piped back.
/// Killed (SIGKILL) if still running when the object goes away.
class BackgroundProcess {
 public:
  /// Starts argv[0] with its arguments; throws if it cannot be started.
  explicit BackgroundProcess(const std::vector<std::string>& argv);
  ~BackgroundProcess();
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;
  /// The next output line containing `needle`, waiting at most `seconds`; "" on timeout
  /// or when the program ended first. Everything read is kept in output().
  std::string wait_for_line(const std::string& needle, double seconds);
  /// Sends `signal_number` and waits at most `seconds`; returns the exit code, or -1 if
  /// it had to be killed or died from a signal.
  int stop(int signal_number, double seconds);
  /// The process id.
  int pid() const { return pid_; }
  /// All output read so far.
  const std::string& output() const { return output_; }

 private:
  int pid_ = -1;
  int fd_ = -1;
  std::string output_, pending_;
  bool finished_ = false;
  int exit_code_ = -1;
};

}  // namespace wmark::test

#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include "test_support.h"

#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sodium.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <thread>
#include <cstdio>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "wmark/data/catalog.h"
#include "wmark/models/registry.h"
#include "wmark/util/encoding.h"
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

Identity fixed_identity(std::uint8_t seed) {
  REQUIRE(sodium_init() >= 0);
  unsigned char seed_bytes[crypto_sign_SEEDBYTES];
  std::fill(std::begin(seed_bytes), std::end(seed_bytes), seed);
  unsigned char public_key[crypto_sign_PUBLICKEYBYTES], secret_key[crypto_sign_SECRETKEYBYTES];
  crypto_sign_seed_keypair(public_key, secret_key, seed_bytes);
  // Through the file format, so the fixture's owner is an ordinary loaded identity.
  TempDir dir;
  const auto path = dir / "owner.key";
  {
    std::ofstream out(path);
    out << nlohmann::json{{"format", "wmark-identity-1"},
                          {"algorithm", "ed25519"},
                          {"public_key", hex_encode(public_key, sizeof(public_key))},
                          {"secret_key", hex_encode(secret_key, sizeof(secret_key))}}
               .dump();
  }
  fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write);
  return Identity::load(path);
}

NetworkPtr fresh_mnist_cnn(std::uint64_t seed) {
  torch::manual_seed(seed);
  return model_registry().create("mnist_cnn", ModelSpec{{1, 28, 28}, 10});
}

int run_wmark(const std::string& args, std::string& output) { return run_command(wmark_binary() + " " + args, output); }

BackgroundProcess::BackgroundProcess(const std::vector<std::string>& argv) {
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  pid_ = fork();
  REQUIRE(pid_ >= 0);
  if (pid_ == 0) {
    dup2(fds[1], STDOUT_FILENO);
    dup2(fds[1], STDERR_FILENO);
    close(fds[0]);
    close(fds[1]);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  close(fds[1]);
  fd_ = fds[0];
}

BackgroundProcess::~BackgroundProcess() {
  if (!finished_ && pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (fd_ >= 0) close(fd_);
}

std::string BackgroundProcess::wait_for_line(const std::string& needle, double seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (true) {
    for (auto newline = pending_.find('\n'); newline != std::string::npos; newline = pending_.find('\n')) {
      const auto line = pending_.substr(0, newline);
      pending_.erase(0, newline + 1);
      if (line.find(needle) != std::string::npos) return line;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || fd_ < 0) return "";
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buffer[4096];
    const auto n = read(fd_, buffer, sizeof(buffer));
    if (n <= 0) {
      close(fd_);
      fd_ = -1;
      continue;
    }
    output_.append(buffer, static_cast<std::size_t>(n));
    pending_.append(buffer, static_cast<std::size_t>(n));
  }
}

int BackgroundProcess::stop(int signal_number, double seconds) {
  if (finished_) return exit_code_;
  kill(pid_, signal_number);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  int status = 0;
  while (waitpid(pid_, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      finished_ = true;
      return exit_code_ = -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // Collect the rest of the output.
  wait_for_line("\x01never\x01", 0.5);
  finished_ = true;
  return exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

FileSizeLimit::FileSizeLimit(std::uint64_t bytes) {
  previous_handler_ = ::signal(SIGXFSZ, SIG_IGN);
  rlimit limit{};
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &limit) == 0);
  previous_soft_ = limit.rlim_cur;
  limit.rlim_cur = bytes;
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &limit) == 0);
}

FileSizeLimit::~FileSizeLimit() {
  rlimit limit{};
  ::getrlimit(RLIMIT_FSIZE, &limit);
  limit.rlim_cur = previous_soft_;
  ::setrlimit(RLIMIT_FSIZE, &limit);
  ::signal(SIGXFSZ, previous_handler_);
}

std::string deeply_nested_json(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

}  // namespace wmark::test

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <vector>

#include "../support/test_support.h"
#include "wmark/util/error.h"
#include "wmark/util/files.h"

using namespace wmark;
using Catch::Matchers::Contains;

TEST_CASE("write_file_atomic never replaces a file unless forced", "[util]") {
  test::TempDir dir;
  const auto path = dir / "out.txt";
  write_file_atomic(path, "first", false);
  CHECK(read_file(path) == "first");
  CHECK_THROWS_WITH(write_file_atomic(path, "second", false), Contains("already exists") && Contains("--force"));
  CHECK(read_file(path) == "first");
  write_file_atomic(path, "second", true);
  CHECK(read_file(path) == "second");
  CHECK_THROWS_WITH(write_file_atomic(dir / "no-such-folder" / "x", "x", false), Contains("does not exist"));
}

TEST_CASE("secret files are created with the requested permissions", "[util]") {
  test::TempDir dir;
  using std::filesystem::perms;
  write_file_atomic(dir / "secret", "k", false, perms::owner_read | perms::owner_write);
  const auto mode = std::filesystem::status(dir / "secret").permissions();
  CHECK((mode & (perms::group_all | perms::others_all)) == perms::none);
}

TEST_CASE("read_maybe_gzip reads plain and gzip files and rejects damaged ones", "[util]") {
  test::TempDir dir;
  const std::string text(100000, 'x');
  test::write_bytes(dir / "plain.bin", text);
  test::write_bytes(dir / "packed.bin.gz", text);
  CHECK(read_maybe_gzip(dir / "plain.bin") == text);
  CHECK(read_maybe_gzip(dir / "packed.bin.gz") == text);
  const std::string packed = read_file(dir / "packed.bin.gz");
  test::write_bytes(dir / "cut.bin.gz", packed.substr(0, packed.size() / 2), /*raw=*/true);
  CHECK_THROWS_WITH(read_maybe_gzip(dir / "cut.bin.gz"), Contains("cut.bin.gz") && Contains("truncated"));
  CHECK_THROWS_WITH(read_maybe_gzip(dir / "missing.gz"), Contains("missing.gz") && Contains("does not exist"));
}

namespace {

// Sets the umask for a scope: 0 lets any too-wide creation mode show.
class Umask {
 public:
  explicit Umask(mode_t mask) : previous_(::umask(mask)) {}
  ~Umask() { ::umask(previous_); }

 private:
  mode_t previous_;
};

mode_t mode_of_fd(int fd) {
  struct stat info{};
  REQUIRE(::fstat(fd, &info) == 0);
  return info.st_mode & 07777;
}

std::vector<std::string> names_in(const std::filesystem::path& folder) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(folder)) names.push_back(entry.path().filename());
  return names;
}

}  // namespace

TEST_CASE("create_file_exclusive creates a file with exactly the mode asked, before any byte", "[util]") {
  test::TempDir dir;
  Umask open_umask(0);  // a creation with 0666 and a later chmod would show here
  using std::filesystem::perms;
  const int secret = create_file_exclusive(dir / "secret", perms::owner_read | perms::owner_write);
  CHECK(mode_of_fd(secret) == 0600);
  ::close(secret);
  Umask narrow_umask(077);  // and the umask cannot narrow what the caller asked for
  const int shared = create_file_exclusive(dir / "shared", perms::owner_read | perms::owner_write |
                                                               perms::group_read | perms::others_read);
  CHECK(mode_of_fd(shared) == 0644);
  ::close(shared);
  CHECK_THROWS_WITH(create_file_exclusive(dir / "shared", perms::owner_read), Contains("shared") && Contains("exists"));
}

TEST_CASE("write_file_atomic's temporary file is never wider than the final mode, even for a moment", "[util]") {
  // Watches the folder and stats every new file the moment it appears.
  test::TempDir dir;
  Umask open_umask(0);
  const int watch = ::inotify_init1(IN_CLOEXEC);
  REQUIRE(watch >= 0);
  REQUIRE(::inotify_add_watch(watch, dir.path().c_str(), IN_CREATE) >= 0);
  const int folder = ::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  REQUIRE(folder >= 0);
  std::atomic<int> seen{0}, wide{0};
  std::thread watcher([&] {
    alignas(inotify_event) char buffer[4096];
    while (true) {
      const auto n = ::read(watch, buffer, sizeof(buffer));
      if (n <= 0) return;
      for (char* at = buffer; at < buffer + n;) {
        const auto* event = reinterpret_cast<inotify_event*>(at);
        const std::string name = event->len ? event->name : "";
        if (name == "stop") return;
        struct stat info{};
        if (::fstatat(folder, name.c_str(), &info, AT_SYMLINK_NOFOLLOW) == 0) {
          ++seen;
          if (info.st_mode & 077) ++wide;
        }
        at += sizeof(inotify_event) + event->len;
      }
    }
  });
  using std::filesystem::perms;
  for (int k = 0; k < 50; ++k)
    write_file_atomic(dir / ("key" + std::to_string(k)), std::string(1000, 'k'), false, perms::owner_read | perms::owner_write);
  test::write_bytes(dir / "stop", "", true);
  watcher.join();
  ::close(folder);
  ::close(watch);
  CHECK(seen > 0);
  CHECK(wide == 0);
  for (int k = 0; k < 50; ++k) CHECK((std::filesystem::status(dir / ("key" + std::to_string(k))).permissions() & perms::all) ==
                                     (perms::owner_read | perms::owner_write));
}

TEST_CASE("a symlink planted where a file is created is refused and its target untouched", "[util]") {
  test::TempDir dir;
  using std::filesystem::perms;
  test::write_bytes(dir / "precious", "mine", true);
  std::filesystem::create_symlink(dir / "precious", dir / "planted");
  CHECK_THROWS_WITH(create_file_exclusive(dir / "planted", perms::owner_read | perms::owner_write),
                    Contains("planted") && Contains("exists"));
  CHECK(read_file(dir / "precious") == "mine");
  // A dangling one would otherwise create its target wherever it points.
  std::filesystem::create_symlink(dir / "elsewhere", dir / "dangling");
  CHECK_THROWS_AS(create_file_exclusive(dir / "dangling", perms::owner_read), Error);
  CHECK_FALSE(std::filesystem::exists(dir / "elsewhere"));
}

TEST_CASE("a write that fails midway leaves neither the file nor a temporary file", "[util]") {
  test::TempDir dir;
  {
    test::FileSizeLimit limit(64 * 1024);
    CHECK_THROWS_WITH(write_file_atomic(dir / "big.bin", std::string(1 << 20, 'x'), false),
                      Contains("big.bin") && Contains("error while writing"));
  }
  CHECK(names_in(dir.path()).empty());
  write_file_atomic(dir / "big.bin", std::string(1 << 20, 'x'), false);  // and works once it can
  CHECK(names_in(dir.path()) == std::vector<std::string>{"big.bin"});
}

TEST_CASE("a file that appears between the check and the commit is not replaced without --force", "[util]") {
  // The race a check-then-rename leaves open: another writer (or an attacker) creates
  // the output after check_writable() passed. The commit claims the name atomically.
  test::TempDir dir;
  const auto path = dir / "model.pt";
  for (const bool symlink : {false, true}) {
    std::filesystem::remove(path);
    const auto temp = temp_path_for(path);
    ::close(create_file_exclusive(temp, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));
    if (symlink) {
      test::write_bytes(dir / "theirs", "theirs", false);
      std::filesystem::create_symlink(dir / "theirs", path);
    } else {
      test::write_bytes(path, "theirs", false);
    }
    CHECK_THROWS_WITH(commit_temp_file(temp, path, false), Contains("appeared while writing") && Contains("--force"));
    CHECK(read_file(path) == "theirs");
    CHECK(std::filesystem::is_symlink(path) == symlink);
    CHECK_FALSE(std::filesystem::exists(temp));  // the temporary file is cleaned up
  }
  // Forced, the commit replaces it (the link itself, not its target).
  const auto temp = temp_path_for(path);
  test::write_bytes(temp, "ours", false);
  commit_temp_file(temp, path, true);
  CHECK(read_file(path) == "ours");
  CHECK(read_file(dir / "theirs") == "theirs");
}

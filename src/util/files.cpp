#include "wmark/util/files.h"

#include <zlib.h>

#include <fcntl.h>
#include <stdio.h>  // renameat2, RENAME_NOREPLACE (glibc >= 2.28)
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>

#include "wmark/util/error.h"

namespace fs = std::filesystem;

namespace wmark {

void check_writable(const fs::path& path, bool force) {
  WMARK_CHECK(!path.empty(), "no output path given");
  WMARK_CHECK(force || !fs::exists(path), "output file ", path.string(),
              " already exists; choose another path or pass --force to overwrite it");
  WMARK_CHECK(!fs::is_directory(path), "output path ", path.string(), " is a directory");
  const fs::path parent = path.has_parent_path() ? path.parent_path() : fs::path(".");
  WMARK_CHECK(fs::is_directory(parent), "cannot write ", path.string(), ": folder ",
              parent.string(), " does not exist");
}

std::string read_file(const fs::path& path) {
  WMARK_CHECK(fs::exists(path), "file ", path.string(), " does not exist");
  WMARK_CHECK(!fs::is_directory(path), path.string(), " is a directory, expected a file");
  std::ifstream in(path, std::ios::binary);
  WMARK_CHECK(in, "cannot open ", path.string(), ": ", std::strerror(errno));
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  WMARK_CHECK(!in.bad(), "error while reading ", path.string());
  return bytes;
}

std::string read_maybe_gzip(const fs::path& path) {
  WMARK_CHECK(fs::exists(path), "file ", path.string(), " does not exist");
  WMARK_CHECK(!fs::is_directory(path), path.string(), " is a directory, expected a file");
  gzFile file = gzopen(path.c_str(), "rb");
  WMARK_CHECK(file != nullptr, "cannot open ", path.string(), ": ", std::strerror(errno));
  gzbuffer(file, 1 << 17);
  std::string bytes;
  std::string chunk(1 << 20, '\0');
  while (true) {
    int got = gzread(file, chunk.data(), static_cast<unsigned>(chunk.size()));
    if (got < 0) {
      int code = 0;
      std::string message = gzerror(file, &code);
      gzclose(file);
      WMARK_FAIL("cannot decompress ", path.string(), ": ", message,
                 " (the gzip file is damaged or truncated)");
    }
    if (got == 0) break;
    bytes.append(chunk.data(), static_cast<std::size_t>(got));
  }
  int code = 0;
  const char* message = gzerror(file, &code);
  std::string error = (code != Z_OK && code != Z_STREAM_END && message) ? message : "";
  // gzclose reports a stream that ended in the middle (Z_BUF_ERROR): a truncated file.
  if (gzclose(file) == Z_BUF_ERROR && error.empty()) error = "unexpected end of file";
  WMARK_CHECK(error.empty(), "cannot decompress ", path.string(), ": ", error,
              " (the gzip file is damaged or truncated)");
  return bytes;
}

fs::path temp_path_for(const fs::path& path) {
  std::random_device device;
  return fs::path(path.string() + ".tmp" + std::to_string(device() % 1000000));
}

int create_file_exclusive(const fs::path& file, fs::perms mode) {
  const auto bits = static_cast<mode_t>(mode) & 07777;
  // O_EXCL|O_NOFOLLOW: a new inode or nothing, never an existing file or a planted
  // symlink; created with at most `bits` (the umask can only narrow them), then set
  // exactly, so no moment exists where the file is more open than asked.
  const int fd = ::open(file.c_str(), O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC, bits);
  WMARK_CHECK(fd >= 0, "cannot create ", file.string(), ": ", std::strerror(errno));
  if (::fchmod(fd, bits) != 0) {
    const int saved = errno;
    ::close(fd);
    ::unlink(file.c_str());
    WMARK_FAIL("cannot set the permissions of ", file.string(), ": ", std::strerror(saved));
  }
  return fd;
}

namespace {

// Every byte, retrying short writes and EINTR.
bool write_all(int fd, const std::string& bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const auto n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) errno = EIO;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

// The rename is only durable once the folder's entry is on disk too.
void sync_folder(const fs::path& path) {
  const fs::path parent = path.has_parent_path() ? path.parent_path() : fs::path(".");
  const int fd = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;  // best effort: the data itself is already synced
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

// Without --force the final name is claimed atomically: renameat2(RENAME_NOREPLACE), or
// on file systems without it link()+unlink(), both of which fail if the name exists,
// so a file appearing between the check and the commit is never replaced.
void commit_temp_file(const fs::path& temp, const fs::path& path, bool force) {
  auto give_up = [&](const std::string& why) {
    std::error_code ignored;
    fs::remove(temp, ignored);
    WMARK_FAIL(why);
  };
  if (force) {
    std::error_code error;
    fs::rename(temp, path, error);
    if (error) give_up("cannot write " + path.string() + ": " + error.message());
  } else {
    int result = ::renameat2(AT_FDCWD, temp.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE);
    if (result != 0 && (errno == EINVAL || errno == ENOSYS)) {
      result = ::link(temp.c_str(), path.c_str());
      if (result == 0) ::unlink(temp.c_str());
    }
    if (result != 0) {
      if (errno == EEXIST)
        give_up("output file " + path.string() + " appeared while writing; not replaced (pass --force to overwrite)");
      give_up("cannot write " + path.string() + ": " + std::strerror(errno));
    }
  }
  sync_folder(path);
}

void write_file_atomic(const fs::path& path, const std::string& bytes, bool force,
                       fs::perms mode) {
  check_writable(path, force);
  const fs::path temp = temp_path_for(path);
  const int fd = create_file_exclusive(temp, mode);
  std::string problem;
  if (!write_all(fd, bytes)) {
    problem = std::strerror(errno);
  } else if (::fsync(fd) != 0) {
    problem = std::strerror(errno);
  }
  if (::close(fd) != 0 && problem.empty()) problem = std::strerror(errno);
  if (!problem.empty()) {
    ::unlink(temp.c_str());
    WMARK_FAIL("error while writing ", temp.string(), ": ", problem);
  }
  commit_temp_file(temp, path, force);
}

}  // namespace wmark

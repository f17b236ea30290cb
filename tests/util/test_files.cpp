#include <catch2/catch.hpp>

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

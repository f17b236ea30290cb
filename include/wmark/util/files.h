/// \file
/// File helpers: whole-file reads (plain or gzip), and writes that never replace
/// a user's file unless asked to.
#pragma once

#include <filesystem>
#include <string>

#include "wmark/util/export.h"

namespace wmark {

/// Checks that `path` may be written: not empty, not a folder, its folder exists, and
/// it does not exist yet unless `force`. Throws wmark::Error otherwise (the message
/// suggests `--force`).
WMARK_API void check_writable(const std::filesystem::path& path, bool force);

/// Reads a whole file; throws wmark::Error naming the file when it is missing, a
/// folder or unreadable.
WMARK_API std::string read_file(const std::filesystem::path& path);

/// Reads a whole file that may be gzip-compressed (zlib reads plain files unchanged);
/// throws wmark::Error naming the file when it is missing, unreadable, or a damaged or
/// truncated gzip stream.
WMARK_API std::string read_maybe_gzip(const std::filesystem::path& path);

/// Writes `bytes` to a temporary file beside `path`, syncs it, renames it into place and
/// syncs the folder, so a crash never leaves a half-written output. Refuses to replace
/// an existing file unless `force` (see check_writable()). The temporary file is created
/// with exactly `mode` (see create_file_exclusive()), so a secret is never readable by
/// others, not even for a moment; it is removed on every failure. Throws wmark::Error
/// on failure.
WMARK_API void write_file_atomic(const std::filesystem::path& path, const std::string& bytes,
                                 bool force,
                                 std::filesystem::perms mode = std::filesystem::perms::owner_read |
                                                               std::filesystem::perms::owner_write |
                                                               std::filesystem::perms::group_read |
                                                               std::filesystem::perms::others_read);

/// Creates `file` for writing with exactly the permission bits `mode` from the start
/// (open with O_CREAT|O_EXCL|O_NOFOLLOW, then fchmod past the umask) and returns its
/// descriptor; the caller closes it. Throws wmark::Error naming the file if it exists
/// already, including as a symlink, which is never followed.
WMARK_API int create_file_exclusive(const std::filesystem::path& file, std::filesystem::perms mode);

/// A temporary path beside `path` for writers that save through another library
/// (LibTorch archives); pair it with commit_temp_file().
WMARK_API std::filesystem::path temp_path_for(const std::filesystem::path& path);

/// Moves a temporary file written beside `path` into place. Checks `force` again: if
/// `path` appeared meanwhile and `force` is false, removes `temp` and throws
/// wmark::Error; also removes `temp` and throws when the rename fails.
WMARK_API void commit_temp_file(const std::filesystem::path& temp,
                                const std::filesystem::path& path, bool force);

}  // namespace wmark

/// \file
/// File helpers: whole-file reads (plain or gzip), and writes that never replace
/// a user's file unless asked to.
#pragma once

#include <filesystem>
#include <string>

namespace wmark {

/// Throws if `path` exists and `force` is false ("pass --force to overwrite").
void check_writable(const std::filesystem::path& path, bool force);

/// Reads a whole file; names the file in the error when it cannot be read.
std::string read_file(const std::filesystem::path& path);

/// Reads a whole file that may be gzip-compressed (zlib reads plain files unchanged).
std::string read_maybe_gzip(const std::filesystem::path& path);

/// Writes `bytes` to a temporary file beside `path`, then renames it into place,
/// so a crash never leaves a half-written output. Refuses to replace an existing
/// file unless `force`. `mode` sets the permission bits of the new file.
void write_file_atomic(const std::filesystem::path& path, const std::string& bytes, bool force,
                       std::filesystem::perms mode = std::filesystem::perms::owner_read |
                                                     std::filesystem::perms::owner_write |
                                                     std::filesystem::perms::group_read |
                                                     std::filesystem::perms::others_read);

/// A temporary path beside `path` for writers that save through another library
/// (LibTorch archives); pair it with commit_temp_file().
std::filesystem::path temp_path_for(const std::filesystem::path& path);

/// Moves a temporary file written beside `path` into place (checks `force` again).
void commit_temp_file(const std::filesystem::path& temp, const std::filesystem::path& path,
                      bool force);

}  // namespace wmark

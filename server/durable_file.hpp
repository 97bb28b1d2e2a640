// Files written so that a crash leaves the old or the new one, never a mix: temp, fsync, rename.
#pragma once
#include <string>

namespace apexd::server {

/// Writes `text` to a temporary file beside `path` (`path` + ".apexd-tmp"), fsync'd. Returns its
/// name; empty on failure, with `error` saying why.
std::string write_temp(const std::string& path, const std::string& text, std::string& error);

/// fsyncs the folder `path` is in, so that a rename or an unlink in it is durable.
void fsync_folder(const std::string& path);

/// Replaces `path` with `text` atomically and durably (write_temp, rename, fsync_folder).
/// Returns false, with `error`, on failure (the old file, if any, is left as it was).
bool write_file_atomically(const std::string& path, const std::string& text, std::string& error);

}  // namespace apexd::server

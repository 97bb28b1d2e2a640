// One resource record as loaded from a zone file, before compilation.
#pragma once
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

namespace apexd::zone {

/// A loaded RR: owner and RDATA in uncompressed wire form, with where it came from.
struct Record {
  std::string owner;    ///< wire form, original letter case
  uint16_t type = 0;
  uint16_t rclass = 1;
  uint32_t ttl = 0;
  std::string rdata;    ///< wire form, names uncompressed
  std::shared_ptr<const std::string> file;  ///< source file, for messages (shared by its records)
  unsigned line = 0;    ///< line where the record starts
  std::string comment;  ///< trailing comment text (Cloudflare `cf_tags=` live here)
};

/// A file a zone was read from, as it was when read (reload reuses zones whose files are unchanged).
struct FileStamp {
  std::string path;
  int64_t mtime_ns = 0;
  uint64_t size = 0;
  /// A regular file with one link, not a symlink: a watch on its folder sees every change to it
  /// (a symlink's target or another hard link can change without an event in that folder).
  bool watchable = false;
  bool operator==(const FileStamp&) const = default;
};

/// The current stamp of `path`; size 0 and mtime 0 when it cannot be read.
FileStamp stamp_file(const std::string& path);

/// A zone that cannot be loaded; what() is "file:line: reason".
class ZoneError : public std::runtime_error {
 public:
  ZoneError(const std::string& file, unsigned line, const std::string& reason)
      : std::runtime_error(file + ":" + std::to_string(line) + ": " + reason), file_(file), line_(line) {}
  const std::string& file() const { return file_; }
  unsigned line() const { return line_; }

 private:
  std::string file_;
  unsigned line_;
};

}  // namespace apexd::zone

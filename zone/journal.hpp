// The IXFR journal of one zone: difference sequences (RFC 1995 §4), their condensation, and the file that keeps them.
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace apexd::zone {

/// One RR of a zone version as a transfer carries it.
struct JournalRR {
  std::string owner;  ///< lowercase uncompressed wire name
  uint16_t type = 0;
  uint32_t ttl = 0;
  std::string rdata;  ///< uncompressed wire RDATA
  bool operator==(const JournalRR&) const = default;
};

/// Canonical order (RFC 4034 §6.1 on owner, then type, then rdata bytes, then ttl): a strict weak
/// order. Owners equal but for letter case are ordered by their bytes, so only equal RRs are
/// equivalent.
bool canonical_less(const JournalRR& a, const JournalRR& b);

/// One difference sequence (RFC 1995 §4): the version with serial `serial_from` → `serial_to`.
/// `removed` begins with the old SOA, `added` with the new SOA; the rest of each in canonical order.
struct Changeset {
  uint32_t serial_from = 0, serial_to = 0;
  std::vector<JournalRR> removed, added;
  bool operator==(const Changeset&) const = default;
};

/// The difference between two whole versions (every RR of each, exactly one SOA each, any order;
/// an RR listed twice counts once). An RR whose TTL changed is removed and added. Throws
/// std::invalid_argument if a side has no SOA or several, or an SOA's RDATA holds no serial.
Changeset diff_versions(std::vector<JournalRR> before, std::vector<JournalRR> after);

/// Consecutive changesets (chain[i].serial_to == chain[i+1].serial_from) as one changeset with
/// the same net effect (RFC 1995 §5 "condensation"): an RR added and later removed appears in
/// neither list; removed then re-added, in neither; the old SOA is the first changeset's, the new
/// SOA the last's. O(total size · log). Throws std::invalid_argument on an empty chain, a break
/// in the serials, a changeset without its SOAs, or one that removes an RR the chain already
/// removed (or adds one it already added): such a chain has no net effect.
Changeset condense(std::span<const Changeset> chain);

/// Applies a changeset to a version (the RRs of serial_from, any order): every removed RR must be
/// present (else returns std::nullopt), every added RR must not be present once the removals are
/// done (else nullopt), and neither list may name an RR twice (else nullopt). The result is in
/// canonical order. Used by the secondary side for IXFR in.
std::optional<std::vector<JournalRR>> apply_changeset(std::vector<JournalRR> version, const Changeset& cs);

/// CRC-32C (Castagnoli polynomial, RFC 3720 §B.4) of `data`: the journal's entry checksum.
uint32_t crc32c(std::string_view data);

/// The journal of one zone on disk: a sequence of changesets, each a continuation of the one
/// before, with the 64-bit `tag` the caller gives each (a fingerprint of the version after it).
/// Owns the open file; movable, not copyable. Not thread-safe: one owner at a time.
class Journal {
 public:
  /// Opens the journal at `path`, creating an empty one if the file does not exist (the folder
  /// must exist). Reads every entry and checks its checksum; a torn or corrupt tail (short
  /// entry, bad magic, bad checksum, an entry that does not continue the one before) is cut off:
  /// the valid prefix is kept, the file truncated to it, and `damage()` says what was cut
  /// ("path: offset N: reason, M bytes dropped"). Throws std::runtime_error("path: reason") when the
  /// file cannot be read or written. `max_bytes` bounds the file size (0 = unbounded); a file
  /// found larger loses its oldest entries as append() would drop them.
  static Journal open(const std::string& path, uint64_t max_bytes);

  Journal(Journal&& other) noexcept;
  Journal& operator=(Journal&& other) noexcept;
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;
  ~Journal();

  /// Appends one changeset: written and fsync'd before it returns (the first write also fsyncs
  /// the folder, so the file's creation is durable). If `cs.serial_from != last_serial()` on a
  /// non-empty journal, the journal is cleared first (a discontinuity: the secondaries fall back
  /// to AXFR). Then, while the file is larger than max_bytes, the oldest entries are dropped
  /// (rewrite to a temp file in the same folder + fsync + rename + fsync folder). A single
  /// changeset larger than max_bytes leaves the journal holding just it (so the newest step is
  /// always there). Throws std::invalid_argument when `cs` is malformed (a list not starting with
  /// an SOA whose serial is the changeset's, an owner that is not a wire name, RDATA over 65535
  /// bytes) and std::runtime_error on an I/O error; the journal in memory then still matches the file.
  void append(const Changeset& cs, uint64_t tag);
  /// The condensed changeset from version `serial` to last_serial(), or nullopt when the
  /// journal does not reach back to `serial` (or is empty, or serial == last_serial()). When the
  /// journal passes through `serial` more than once (serial arithmetic wrapped), the newest
  /// occurrence is the one meant.
  std::optional<Changeset> since(uint32_t serial) const;
  bool empty() const { return changesets_.empty(); }
  /// serial_from of the oldest entry; 0 when empty.
  uint32_t first_serial() const { return empty() ? 0 : changesets_.front().serial_from; }
  /// serial_to of the newest entry; 0 when empty.
  uint32_t last_serial() const { return empty() ? 0 : changesets_.back().serial_to; }
  /// The tag of the newest entry; 0 when empty.
  uint64_t last_tag() const { return empty() ? 0 : tags_.back(); }
  size_t entries() const { return changesets_.size(); }
  /// Bytes on disk (the file header included).
  uint64_t size_bytes() const { return size_; }
  /// Drops every entry: the file keeps only its header (truncated, fsync'd). Throws
  /// std::runtime_error on an I/O error, the journal then still holding what the file holds.
  void clear();
  /// What open() cut off ("path: offset N: reason, M bytes dropped"); empty when nothing was.
  const std::string& damage() const { return damage_; }
  const std::string& path() const { return path_; }

 private:
  Journal() = default;
  void load();
  void write_fresh_header();
  void rewrite_keeping(size_t first_kept, const Changeset* extra, uint64_t extra_tag);
  void sync_folder_once();
  [[noreturn]] void fail(const std::string& what, int err) const;

  std::string path_;
  uint64_t max_bytes_ = 0;
  int fd_ = -1;
  bool folder_synced_ = false;
  bool tail_dirty_ = false;  ///< a failed write may have left bytes past size_
  uint64_t size_ = 0;
  std::vector<Changeset> changesets_;
  std::vector<uint64_t> tags_;
  std::vector<uint64_t> entry_bytes_;  ///< encoded size of each entry, header included
  std::string damage_;
};

}  // namespace apexd::zone

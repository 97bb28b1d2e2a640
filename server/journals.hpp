// The IXFR journals of the zones that have secondaries: every new version's difference, kept on disk.
#pragma once
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

#include "resolver/alias_resolver.hpp"
#include "server/flattener.hpp"
#include "server/snapshot.hpp"
#include "server/transfer_view.hpp"
#include "xfr/axfr_out.hpp"
#include "zone/journal.hpp"
#include "zone/zone_set.hpp"

namespace apexd::server {

/// A file name for per-zone state: the origin in presentation form, anything but [a-z0-9._-]
/// as %XX (a label may hold '/'), e.g. "example.com." for example.com.
std::string zone_state_name(const std::string& origin_text);

/// A fingerprint of a zone's data apart from its SOA serial: equal fingerprints, same records
/// (what tells, after a restart, whether the file still holds the journal's last version).
uint64_t zone_data_fingerprint(const zone::Zone& z);

/// One journal per zone with secondaries (`allow_transfer` or `notify`, and `journal_max` > 0),
/// in `dir` (state_dir/journal). Each new version of such a zone — a reload, a flattened
/// target's move, a transfer in — adds the difference between what the two versions transfer
/// (zone data, flattened and proxied replacements included) as one entry, fsync'd; IXFR out
/// reads the condensed difference from a secondary's serial. Versions are journaled in the
/// order they were published, one at a time, on the reload executor.
class Journals {
 public:
  Journals(std::string dir, boost::asio::io_context& io, SnapshotCell<zone::ZoneSet>& zones,
           resolver::AliasResolver* resolver, const EdgeAddresses* edges, LastKnownAddresses* last_known = nullptr);

  /// At start-up, before the first publish: opens the journal of every zone that keeps one and
  /// makes the loaded zone continue it. The file unchanged since the journal's last version →
  /// the zone keeps the serial it was served with (apexd may have raised it past the file's);
  /// changed while we were stopped → the serial moves past both and the journal starts again
  /// (secondaries take one AXFR). A zone with flattened or proxied names always starts again
  /// under a new serial: their addresses may have moved meanwhile. Returns the set to publish.
  std::shared_ptr<const zone::ZoneSet> startup(std::shared_ptr<const zone::ZoneSet> set);
  /// After the first publish, on the reload executor: resolves the flattened and proxied names
  /// of the zones that keep a journal, the base their first difference is computed from.
  void baseline(const zone::ZoneSet& set);
  /// A new version was published: journal before → after, then call `done` (which sends the
  /// NOTIFYs: a secondary that asks at once then finds the step in the journal). `done` is
  /// called at once for a zone that keeps no journal. Call on the reload executor.
  void record(std::shared_ptr<const zone::Zone> before, std::shared_ptr<const zone::Zone> after,
              std::function<void()> done);
  /// The condensed difference from `from` to `current` for `origin` (lowercase wire), when the
  /// journal reaches back to `from` and ends at `current`. Any thread.
  std::optional<zone::Changeset> since(const std::string& origin, uint32_t from, uint32_t current) const;

  uint64_t entries_written() const { return written_.load(); }

 private:
  struct Entry {
    std::optional<zone::Journal> journal;
    /// Replacements the last journaled version was computed with, by owner (lowercase wire);
    /// unknown after a restart.
    std::optional<std::unordered_map<std::string, std::vector<xfr::AddressRRset>>> last_replacements;
  };
  boost::asio::awaitable<void> drain();
  boost::asio::awaitable<void> take_baseline(std::shared_ptr<const zone::Zone> z);
  boost::asio::awaitable<void> journal_one(std::shared_ptr<const zone::Zone> before, std::shared_ptr<const zone::Zone> after);
  Entry* open_entry(const zone::Zone& z);  // under mutex_
  std::string path_for(const zone::Zone& z) const;

  std::string dir_;
  boost::asio::io_context& io_;
  SnapshotCell<zone::ZoneSet>& zones_;
  resolver::AliasResolver* resolver_;
  const EdgeAddresses* edges_;
  LastKnownAddresses* last_known_;
  mutable std::mutex mutex_;  ///< entries_ (journals are read by IXFR on the workers)
  std::unordered_map<std::string, Entry> entries_;  ///< by origin
  struct Pending {
    std::shared_ptr<const zone::Zone> before, after;
    std::function<void()> done;
    bool baseline = false;  ///< only resolve `after`'s replacements (see baseline())
  };
  std::deque<Pending> queue_;
  bool draining_ = false;
  bool dir_failed_ = false;
  std::atomic<uint64_t> written_{0};
};

}  // namespace apexd::server

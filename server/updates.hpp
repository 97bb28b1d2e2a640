// Dynamic updates at run time (RFC 2136): the one change path (changeset → change log on disk →
// new zone version → swap → IXFR journal and NOTIFY), and the change logs replayed at start-up.
#pragma once
#include <sys/socket.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "crypto/tsig.hpp"
#include "server/snapshot.hpp"
#include "zone/journal.hpp"
#include "zone/zone_records.hpp"
#include "zone/zone_set.hpp"

namespace apexd::server {

/// A change log is compacted into the zone's overlay (state_dir/changes/ZONE.overlay: the zone
/// in zone-file syntax, cf_tags kept) past this many entries or bytes, so it never grows without
/// bound and a restart replays at most this much.
inline constexpr size_t change_log_compact_entries = 100;
inline constexpr uint64_t change_log_compact_bytes = uint64_t(1) << 20;

/// Every zone's run-time changes live in `dir` (state_dir/changes) as a change log in the
/// journal format: each applied update one checksummed, fsync'd entry, written before the
/// update is acknowledged, and compacted into an overlay beside it (change_log_compact_entries).
/// The operator's zone file is never rewritten (its comments, and the cf_tags proxied markers in
/// them, stay). A zone loaded from its file gets its overlay and change log replayed when they
/// were made on this very file's data; a file edited by hand (and reloaded) wins: its older
/// overlay and change log are dropped (Knot's `zonefile-load: difference` rule).
class Updates {
 public:
  using OnVersion = std::function<void(std::shared_ptr<const zone::Zone> before, std::shared_ptr<const zone::Zone> after)>;

  Updates(std::string dir, boost::asio::io_context& io, SnapshotCell<zone::ZoneSet>& zones, OnVersion on_version);

  /// The zones in `loaded` were just read from their files (start-up or reload): each gets its
  /// change log replayed (or dropped, when the file changed under it). Returns the set to
  /// publish. Call on `io` (or before it runs).
  std::shared_ptr<const zone::ZoneSet> replay(std::shared_ptr<const zone::ZoneSet> set,
                                              const std::vector<std::shared_ptr<const zone::Zone>>& loaded);

  /// Answers the UPDATE `request` from `peer` into `out` (RFC 2136 §3.8: the header and the zone
  /// section, the rcode; signed when the request was). Only TSIG-signed updates from keys the
  /// zone's allow_update names are taken; the change itself runs on `io`, one at a time.
  /// Returns the reply's size (0: drop).
  boost::asio::awaitable<size_t> answer(std::span<const uint8_t> request, std::span<uint8_t> out,
                                        const sockaddr_storage& peer, std::span<const crypto::TsigKey> keys);

  using Change = zone::ZoneEdit;
  using MakeChange = zone::MakeEdit;
  struct Outcome {
    uint16_t rcode = 0;
    std::string why;
    std::shared_ptr<const zone::Zone> zone;  ///< the version published (or the current one when nothing changed)
  };

  /// The one change path, on `io`: `make` against the zone `origin` (lowercase wire) as it is
  /// now; its result compiled, appended to the change log (fsync'd), published, journaled for
  /// the secondaries and NOTIFYed. `who` names the source in the log ("key acme.", "api").
  Outcome commit(const std::string& origin, const std::string& who, const MakeChange& make);
  /// The same from any thread: runs commit on `io` and waits for it.
  boost::asio::awaitable<Outcome> change(std::string origin, std::string who, MakeChange make);

  /// Publishes a zone that was not served (created through the API), on `io`.
  void add_zone(std::shared_ptr<const zone::Zone> z);
  /// Stops serving the zone `origin` and deletes its change log, on `io`.
  void remove_zone(const std::string& origin);
  /// Runs `fn` on `io`, one at a time with every change, and waits for it.
  boost::asio::awaitable<void> run(std::function<void()> fn);

  std::atomic<uint64_t> applied{0}, refused{0}, failed{0}, unchanged{0};

 private:
  struct Overlay {
    uint64_t base = 0;  ///< zone_data_fingerprint of the file it was made on
    std::shared_ptr<const zone::Zone> zone;
  };
  Outcome apply(const std::vector<uint8_t>& request, const std::string& origin, const std::string& key);
  std::string overlay_path_for(const zone::Zone& z) const;
  std::optional<Overlay> read_overlay(const zone::Zone& z, std::string& error) const;
  void drop_changes(const zone::Zone& z, zone::Journal* log);
  void compact(const zone::Zone& z, zone::Journal& log, uint64_t base);
  zone::Journal* log_for(const zone::Zone& z);
  std::string path_for(const zone::Zone& z) const;

  std::string dir_;
  boost::asio::io_context& io_;
  SnapshotCell<zone::ZoneSet>& zones_;
  OnVersion on_version_;
  std::unordered_map<std::string, zone::Journal> logs_;  ///< by origin; touched on io_ only
  std::unordered_map<std::string, uint64_t> overlay_base_;  ///< zones with an overlay: the file data it was made on
  bool dir_failed_ = false;
};

/// Whether `request` is an UPDATE (opcode 5, QR clear).
inline bool is_update(std::span<const uint8_t> request) {
  return request.size() >= 12 && !(request[2] & 0x80) && ((request[2] >> 3) & 0x0F) == 5;
}

}  // namespace apexd::server

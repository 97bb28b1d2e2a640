// Dynamic updates at run time (RFC 2136): the one change path (changeset → change log on disk →
// new zone version → swap → IXFR journal and NOTIFY), and the change logs replayed at start-up.
#include "server/updates.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "server/durable_file.hpp"
#include "server/journals.hpp"
#include "server/update.hpp"
#include "server/worker.hpp"
#include "xfr/xfr_in.hpp"
#include "zone/wire/packet_writer.hpp"
#include "zone/wire/query.hpp"
#include "zone/wire/tsig.hpp"
#include "zone/wire/types.hpp"
#include "zone/loader.hpp"
#include "zone/zone_records.hpp"

namespace apexd::server {

namespace asio = boost::asio;

namespace {

int64_t unix_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string key_of(wire::NameView n) { return std::string(reinterpret_cast<const char*>(n.data()), n.size()); }

}  // namespace

Updates::Updates(std::string dir, asio::io_context& io, SnapshotCell<zone::ZoneSet>& zones, OnVersion on_version)
    : dir_(std::move(dir)), io_(io), zones_(zones), on_version_(std::move(on_version)) {}

std::string Updates::path_for(const zone::Zone& z) const { return dir_ + "/" + zone_state_name(z.origin_text()) + "changes"; }

zone::Journal* Updates::log_for(const zone::Zone& z) {
  std::string origin = key_of(z.origin());
  auto it = logs_.find(origin);
  if (it != logs_.end()) return &it->second;
  if (dir_failed_) return nullptr;
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) {
    dir_failed_ = true;
    spdlog::error("event=change_log_unavailable dir={} error=\"{}\" action=\"updates refused (SERVFAIL)\"", dir_, ec.message());
    return nullptr;
  }
  try {
    zone::Journal j = zone::Journal::open(path_for(z), 0);
    if (!j.damage().empty())
      spdlog::error("event=change_log_damaged zone={} damage=\"{}\" action=\"kept the valid entries\"", z.origin_text(),
                    j.damage());
    return &logs_.emplace(origin, std::move(j)).first->second;
  } catch (const std::exception& e) {
    spdlog::error("event=change_log_unavailable zone={} error=\"{}\"", z.origin_text(), e.what());
    return nullptr;
  }
}

std::string Updates::overlay_path_for(const zone::Zone& z) const {
  return dir_ + "/" + zone_state_name(z.origin_text()) + "overlay";
}

// An overlay: the zone as the file and its change log made it, in zone-file syntax (cf_tags in
// comments), with the fingerprint of the file's data it was made on.
std::optional<Updates::Overlay> Updates::read_overlay(const zone::Zone& z, std::string& error) const {
  std::string path = overlay_path_for(z);
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  Overlay ov;
  size_t at = text.find("\n; base ");
  unsigned long long base = 0;
  unsigned serial = 0;
  if (at == std::string::npos || std::sscanf(text.c_str() + at, "\n; base %llx serial %u", &base, &serial) != 2) {
    error = path + ": no \"; base HEX serial N\" line";
    return std::nullopt;
  }
  ov.base = base;
  try {
    ov.zone = zone::compile_zone(z.origin(), zone::load_zone_text(text, z.origin(), path), z.source(), z.options(), z.files(),
                                 z.warnings());
  } catch (const std::exception& e) {
    error = e.what();
    return std::nullopt;
  }
  return ov;
}

void Updates::drop_changes(const zone::Zone& z, zone::Journal* log) {
  std::error_code ec;
  std::filesystem::remove(overlay_path_for(z), ec);
  overlay_base_.erase(key_of(z.origin()));
  if (log) log->clear();
}

std::shared_ptr<const zone::ZoneSet> Updates::replay(std::shared_ptr<const zone::ZoneSet> set,
                                                     const std::vector<std::shared_ptr<const zone::Zone>>& loaded) {
  std::vector<std::shared_ptr<const zone::Zone>> zones;
  bool changed = false;
  for (const auto& z : loaded) {
    bool has_overlay = std::filesystem::exists(overlay_path_for(*z));
    if (z->options().allow_update.empty() && !has_overlay && !std::filesystem::exists(path_for(*z))) continue;
    zone::Journal* log = log_for(*z);
    if (!log || (log->empty() && !has_overlay)) continue;
    uint64_t fingerprint = zone_data_fingerprint(*z);
    std::string error;
    std::optional<Overlay> ov = has_overlay ? read_overlay(*z, error) : std::nullopt;
    if (has_overlay && !ov) {
      spdlog::error("event=changes_dropped zone={} error=\"the overlay cannot be read: {}\" action=\"the zone file "
                    "alone is served\"", z->origin_text(), error);
      drop_changes(*z, log);
      continue;
    }
    if ((ov && ov->base != fingerprint) || (!log->empty() && log->last_tag() != fingerprint)) {
      // The changes were made on other data: the operator edited the file, and wins.
      spdlog::warn("event=changes_dropped zone={} entries={} overlay={} reason=\"the zone file changed since the "
                   "changes were made: the file wins\"", z->origin_text(), log->entries(), ov ? "yes" : "no");
      drop_changes(*z, log);
      continue;
    }
    // Without an overlay, the log starts from the file's data under the serial the file had
    // then; a reload may have raised the loaded zone's serial since (reload.cpp: data reloaded
    // under a serial that did not grow), which leaves the data, and so the log, as they were.
    // With one, the log continues from the overlay's serial (a crash between writing the overlay
    // and clearing the log leaves entries up to it: they are in the overlay already).
    const zone::Zone& start = ov ? *ov->zone : *z;
    std::optional<std::vector<zone::JournalRR>> rrs = zone::tagged_zone_rrs(start);
    uint32_t from = ov ? start.serial() : log->first_serial();
    if (!ov) zone::set_soa_serial(rrs->front().rdata, from);
    std::shared_ptr<const zone::Zone> next;
    try {
      if (!log->empty() && !(ov && log->last_serial() == from)) {
        std::optional<zone::Changeset> all = log->since(from);
        if (all) rrs = zone::apply_changeset(std::move(*rrs), *all);
        if (!all || !rrs) throw std::runtime_error("the changes do not apply to the file's records");
      } else if (!log->empty()) {
        log->clear();
      }
      next = recompile_zone(*z, std::move(*rrs));
      if (zone::serial_greater(z->serial(), next->serial())) next = next->with_serial(z->serial());  // never back
    } catch (const std::exception& e) {
      spdlog::error("event=changes_dropped zone={} entries={} error=\"{}\"", z->origin_text(), log->entries(), e.what());
      drop_changes(*z, log);
      continue;
    }
    if (ov) overlay_base_[key_of(z->origin())] = fingerprint;
    spdlog::info("event=changes_replayed zone={} entries={} file_serial={} serial={} overlay={}", z->origin_text(),
                 log->entries(), z->serial(), next->serial(), ov ? "yes" : "no");
    if (!changed) zones = set->zones();
    changed = true;
    size_t at = set->index_of(z->origin());
    if (at != zone::ZoneSet::npos) zones[at] = next;
  }
  if (!changed) return set;
  return std::make_shared<const zone::ZoneSet>(std::move(zones), set->failed());
}

// A change log past change_log_compact_entries or _bytes becomes the overlay: the zone as it is
// now written whole (temp, fsync, rename), then the log cleared. A crash in between leaves both,
// which replay() reads right.
void Updates::compact(const zone::Zone& z, zone::Journal& log, uint64_t base) {
  char line[64];
  std::snprintf(line, sizeof line, "; base %016llx serial %u\n", static_cast<unsigned long long>(base), z.serial());
  std::string text = "; apexd overlay of " + z.origin_text() + ": its zone file with every change made at run time\n" +
                     "; (updates, the HTTP API), compacted from its change log. Written by apexd: do not edit.\n" + line +
                     zone::records_to_text(zone::tagged_to_records(zone::tagged_zone_rrs(z), nullptr), "");
  std::string error;
  size_t entries = log.entries();
  uint64_t bytes = log.size_bytes();
  if (!write_file_atomically(overlay_path_for(z), text, error)) {
    spdlog::error("event=compaction_failed zone={} error=\"{}\" action=\"the change log keeps growing\"", z.origin_text(), error);
    return;
  }
  overlay_base_[key_of(z.origin())] = base;
  try {
    log.clear();
  } catch (const std::exception& e) {
    spdlog::error("event=compaction_failed zone={} error=\"{}\"", z.origin_text(), e.what());
    return;
  }
  spdlog::info("event=changes_compacted zone={} serial={} entries={} log_bytes={} overlay_bytes={}", z.origin_text(), z.serial(),
               entries, bytes, text.size());
}

// The first entry of a log is tagged with the fingerprint of the file's data it applies to
// (zone_data_fingerprint); every later entry repeats it. Serials in the log chain among
// themselves: the versions apexd makes in between (flattened addresses moving) change serials only.
Updates::Outcome Updates::commit(const std::string& origin, const std::string& who, const MakeChange& make) {
  auto set = zones_.load();
  wire::NameView o(reinterpret_cast<const uint8_t*>(origin.data()), origin.size());
  std::shared_ptr<const zone::Zone> current = set->shared_exact(o);
  if (!current) return {wire::rcode::NOTAUTH, "the zone is not loaded", nullptr};
  Change r = make(*current);
  if (r.rcode != wire::rcode::NOERROR) return {r.rcode, r.why, current};
  if (!r.after) {
    unchanged.fetch_add(1);
    return {wire::rcode::NOERROR, "nothing to change", current};
  }
  std::shared_ptr<const zone::Zone> next;
  try {
    next = recompile_zone(*current, *r.after);
  } catch (const std::exception& e) {
    return {wire::rcode::REFUSED, std::string("the changed zone would not be valid: ") + e.what(), current};
  }
  zone::Journal* log = log_for(*current);
  if (!log) return {wire::rcode::SERVFAIL, "no change log to write the change to", current};
  try {
    zone::Changeset cs = zone::diff_versions(zone::tagged_zone_rrs(*current), zone::tagged_zone_rrs(*next));
    uint64_t base = !log->empty() ? log->last_tag() : overlay_base_.count(origin) ? overlay_base_[origin]
                                                                                 : zone_data_fingerprint(*current);
    if (!log->empty() && cs.serial_from != log->last_serial()) {
      cs.serial_from = log->last_serial();
      zone::set_soa_serial(cs.removed.front().rdata, cs.serial_from);
    }
    log->append(cs, base);  // fsync'd: the change is durable from here on
  } catch (const std::exception& e) {
    return {wire::rcode::SERVFAIL, std::string("the change log cannot be written: ") + e.what(), current};
  }
  zones_.publish(zones_.load()->with_zone(next));
  applied.fetch_add(1);
  if (log->entries() >= change_log_compact_entries || log->size_bytes() >= change_log_compact_bytes) {
    uint64_t base = log->last_tag();
    compact(*next, *log, base);
  }
  spdlog::info("event=change_applied zone={} by=\"{}\" serial={} previous_serial={} added={} removed={}", next->origin_text(),
               who, next->serial(), current->serial(), r.added, r.removed);
  if (on_version_) on_version_(current, next);
  return {wire::rcode::NOERROR, {}, next};
}

asio::awaitable<Updates::Outcome> Updates::change(std::string origin, std::string who, MakeChange make) {
  // Only a pointer into this frame is captured (see answer(): g++ 12 and coroutine lambdas).
  struct Job {
    std::string origin, who;
    MakeChange make;
  } job{std::move(origin), std::move(who), std::move(make)};
  Job* j = &job;
  co_return co_await asio::co_spawn(
      io_, [this, j]() -> asio::awaitable<Outcome> { co_return commit(j->origin, j->who, j->make); }, asio::use_awaitable);
}

asio::awaitable<void> Updates::run(std::function<void()> fn) {
  std::function<void()>* f = &fn;
  co_await asio::co_spawn(io_, [f]() -> asio::awaitable<void> {
    (*f)();
    co_return;
  }, asio::use_awaitable);
}

void Updates::add_zone(std::shared_ptr<const zone::Zone> z) {
  zones_.publish(zones_.load()->with_zone(z));
  if (on_version_) on_version_(nullptr, z);
}

void Updates::remove_zone(const std::string& origin) {
  wire::NameView o(reinterpret_cast<const uint8_t*>(origin.data()), origin.size());
  std::shared_ptr<const zone::Zone> z = zones_.load()->shared_exact(o);
  zones_.publish(zones_.load()->without_zone(o));
  logs_.erase(origin);
  if (z) {
    drop_changes(*z, nullptr);
    std::error_code ec;
    std::filesystem::remove(path_for(*z), ec);
  }
}

Updates::Outcome Updates::apply(const std::vector<uint8_t>& request, const std::string& origin, const std::string& key) {
  std::string who = "key " + wire::name_to_text({reinterpret_cast<const uint8_t*>(key.data()), key.size()});
  return commit(origin, who, [&](const zone::Zone& current) {
    UpdateResult r = evaluate_update(request, current, key, unix_seconds());
    return Change{r.rcode, std::move(r.why), std::move(r.after), r.added, r.removed};
  });
}

asio::awaitable<size_t> Updates::answer(std::span<const uint8_t> request, std::span<uint8_t> out,
                                        const sockaddr_storage& peer, std::span<const crypto::TsigKey> keys) {
  wire::Query q;
  wire::ParseStatus st = wire::parse_query(request, q);
  if (st == wire::ParseStatus::drop || out.size() < 512) co_return 0;
  wire::PacketWriter w(out, out.size());
  wire::Header h = q.header;
  h.rd = false;
  w.begin_response(h);
  std::string client = peer_text(&peer);
  auto refuse = [&](uint16_t rc, const std::string& why) {
    w.set_rcode(rc);
    if (rc != wire::rcode::NOERROR) {
      refused.fetch_add(1);
      spdlog::info("event=update_refused zone={} client={} rcode={} reason=\"{}\"",
                   q.qname.len ? wire::name_to_text(q.qname_lower.view()) : "-", client, wire::rcode_to_text(rc), why);
    }
    return w.size();
  };
  if (st == wire::ParseStatus::formerr_noq) co_return refuse(wire::rcode::FORMERR, "no zone section");
  if (!w.put_question(q.qname.view(), q.qtype, q.qclass)) co_return refuse(wire::rcode::FORMERR, "zone section");
  if (st != wire::ParseStatus::ok) co_return refuse(wire::rcode::FORMERR, "malformed");
  // Only signed updates (RFC 8945); a failed verification is NOTAUTH with the TSIG error.
  if (!q.has_tsig) co_return refuse(wire::rcode::REFUSED, "unsigned (updates must be signed with a [[key]])");
  wire::TsigLookup tsig = wire::find_tsig(request);
  if (tsig.status != wire::TsigFind::found) co_return refuse(wire::rcode::FORMERR, "malformed TSIG");
  uint64_t now = uint64_t(unix_seconds());
  crypto::TsigVerifyResult v = crypto::verify_request(request, tsig.record, keys, now);
  if (v.status != crypto::TsigStatus::ok) {
    size_t n = refuse(v.rcode(), "TSIG error " + std::to_string(v.error()));
    size_t signed_n = crypto::append_error_tsig(out, n, tsig.record, v, now);
    co_return signed_n ? signed_n : n;
  }
  auto sign = [&](size_t len) {
    crypto::TsigSigner signer(*v.key, v.request_mac.view());
    size_t n = signer.sign(out, len, now);
    return n ? n : len;
  };
  auto zones = zones_.load();
  const zone::Zone* z = zones->find_exact(q.qname_lower.view());
  // RFC 2136 §3.1.1: a zone we are not authoritative for is NOTAUTH.
  if (!z) co_return sign(refuse(update_rcode::NOTAUTH, "not a zone of ours"));
  if (z->options().is_secondary()) co_return sign(refuse(wire::rcode::REFUSED, "a secondary zone (send updates to its primary)"));
  bool any = false;
  for (const zone::UpdateGrant& g : z->options().allow_update) any |= g.key == v.key->name;
  if (!any) co_return sign(refuse(wire::rcode::REFUSED, "the key has no allow_update grant for the zone"));
  // The lambda given to co_spawn captures only trivially copyable things: g++ 12 copies a
  // coroutine lambda into co_spawn's frame bit by bit (ASan saw a captured std::string freed
  // from the wrong frame, then a captured shared_ptr released twice). The job lives in this
  // frame, which waits for it.
  struct Job {
    std::vector<uint8_t> request;
    std::string origin, key;
  } job{{request.begin(), request.end()},
        std::string(reinterpret_cast<const char*>(q.qname_lower.data.data()), q.qname_lower.len), v.key->name};
  Job* j = &job;
  Outcome o = co_await asio::co_spawn(
      io_, [this, j]() -> asio::awaitable<Outcome> { co_return apply(j->request, j->origin, j->key); },
      asio::use_awaitable);
  if (o.rcode != wire::rcode::NOERROR) {
    if (o.rcode == wire::rcode::SERVFAIL) failed.fetch_add(1);
    co_return sign(refuse(o.rcode, o.why));
  }
  w.set_rcode(wire::rcode::NOERROR);
  co_return sign(w.size());
}

}  // namespace apexd::server

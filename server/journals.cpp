// The IXFR journals of the zones that have secondaries: every new version's difference, kept on disk.
#include "server/journals.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>

#include "server/transfer_view.hpp"
#include "xfr/ixfr_out.hpp"
#include "zone/wire/types.hpp"

namespace apexd::server {

namespace asio = boost::asio;

namespace {

using ByOwner = std::unordered_map<std::string, std::vector<xfr::AddressRRset>>;

bool keeps_journal(const zone::Zone& z) { return z.options().has_secondaries() && z.options().journal_max > 0; }

std::string key_of(wire::NameView n) { return std::string(reinterpret_cast<const char*>(n.data()), n.size()); }

ByOwner by_owner(const zone::Zone& z, const xfr::Replacements& r) {
  ByOwner out;
  for (const auto& [node, sets] : r) out.emplace(key_of(z.name(*z.node_at(node))), sets);
  return out;
}

xfr::Replacements by_node(const zone::Zone& z, const ByOwner& r) {
  xfr::Replacements out;
  for (const auto& [owner, sets] : r) {
    const zone::Node* n = z.find({reinterpret_cast<const uint8_t*>(owner.data()), owner.size()});
    if (n) out.emplace(uint32_t(n - z.nodes().data()), sets);
  }
  return out;
}

int64_t unix_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

zone::JournalRR soa_rr(const zone::Zone& z) {
  auto rd = z.rdata(z.soa(), 0);
  return {key_of(z.origin()), wire::rrtype::SOA, z.soa().ttl, std::string(reinterpret_cast<const char*>(rd.data()), rd.size())};
}

}  // namespace

uint64_t zone_data_fingerprint(const zone::Zone& z) {
  uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a, 64 bits
  auto mix = [&](const uint8_t* p, size_t n) {
    for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ULL;
  };
  auto mix32 = [&](uint32_t v) {
    uint8_t b[4] = {uint8_t(v >> 24), uint8_t(v >> 16), uint8_t(v >> 8), uint8_t(v)};
    mix(b, 4);
  };
  for (const zone::Node& n : z.nodes()) {
    wire::NameView name = z.name(n);
    mix(name.data(), name.size());
    for (const zone::RRset& s : z.rrsets(n)) {
      mix32(uint32_t(s.type) << 16 | s.rdata_count);
      mix32(s.ttl);
      for (size_t i = 0; i < s.rdata_count; ++i) {
        std::span<const uint8_t> rd = z.rdata(s, i);
        mix32(uint32_t(rd.size()));
        if (s.type == wire::rrtype::SOA && &n == &z.apex()) {
          // Everything but the serial (RFC 1035 §3.3.13: after MNAME and RNAME).
          size_t m = wire::name_wire_length(rd);
          size_t at = m + wire::name_wire_length(rd.subspan(m));
          mix(rd.data(), at);
          if (rd.size() >= at + 4) mix(rd.data() + at + 4, rd.size() - at - 4);
        } else {
          mix(rd.data(), rd.size());
        }
      }
    }
  }
  for (const zone::Zone::AsideRecord& a : z.aside()) {
    mix(reinterpret_cast<const uint8_t*>(a.owner.data()), a.owner.size());
    mix32(uint32_t(a.type) << 16);
    mix32(a.ttl);
    mix(reinterpret_cast<const uint8_t*>(a.rdata.data()), a.rdata.size());
  }
  return h;
}

Journals::Journals(std::string dir, asio::io_context& io, SnapshotCell<zone::ZoneSet>& zones,
                   resolver::AliasResolver* resolver, const EdgeAddresses* edges, LastKnownAddresses* last_known)
    : dir_(std::move(dir)), io_(io), zones_(zones), resolver_(resolver), edges_(edges), last_known_(last_known) {}

std::string zone_state_name(const std::string& origin_text) {
  std::string name;
  for (unsigned char c : origin_text) {
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_') {
      name += char(c);
    } else {
      static const char* hex = "0123456789ABCDEF";
      name += '%';
      name += hex[c >> 4];
      name += hex[c & 15];
    }
  }
  return name;
}

std::string Journals::path_for(const zone::Zone& z) const { return dir_ + "/" + zone_state_name(z.origin_text()) + "journal"; }

Journals::Entry* Journals::open_entry(const zone::Zone& z) {
  std::string origin = key_of(z.origin());
  auto it = entries_.find(origin);
  if (it != entries_.end()) return &it->second;
  if (dir_failed_) return nullptr;
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) {
    dir_failed_ = true;
    spdlog::error("event=journal_unavailable dir={} error=\"{}\" action=\"IXFR answered with the whole zone\"", dir_,
                  ec.message());
    return nullptr;
  }
  Entry& e = entries_[origin];
  std::string path = path_for(z);
  try {
    e.journal.emplace(zone::Journal::open(path, z.options().journal_max));
    if (!e.journal->damage().empty())
      spdlog::error("event=journal_damaged zone={} damage=\"{}\" action=\"kept the valid entries\"", z.origin_text(),
                    e.journal->damage());
  } catch (const std::exception& ex) {
    spdlog::error("event=journal_unavailable zone={} error=\"{}\" action=\"IXFR answered with the whole zone\"",
                  z.origin_text(), ex.what());
  }
  return &e;
}

std::shared_ptr<const zone::ZoneSet> Journals::startup(std::shared_ptr<const zone::ZoneSet> set) {
  std::vector<std::shared_ptr<const zone::Zone>> zones = set->zones();
  bool changed = false;
  std::lock_guard lock(mutex_);
  for (auto& z : zones) {
    if (!keeps_journal(*z)) continue;
    Entry* e = open_entry(*z);
    if (!e || !e->journal || e->journal->empty()) continue;
    zone::Journal& j = *e->journal;
    uint64_t fp = zone_data_fingerprint(*z);
    try {
      if (has_replaced_names(*z) && !z->options().is_secondary()) {
        // Flattened or proxied names: what the journal's last version transferred for them is
        // not known until they are resolved again, and may have moved while we were stopped.
        // A new serial (secondaries take one AXFR) is what keeps them right.
        uint32_t serial = zone::serial_greater(z->serial(), j.last_serial())
                              ? z->serial()
                              : zone::next_serial(j.last_serial(), z->options().serial, unix_seconds());
        spdlog::info("event=journal_restarted zone={} journal_serial={} file_serial={} serial={} "
                     "reason=\"flattened or proxied names: their addresses may have moved while apexd was stopped\"",
                     z->origin_text(), j.last_serial(), z->serial(), serial);
        j.clear();
        if (serial != z->serial()) {
          z = z->with_serial(serial);
          changed = true;
        }
        continue;
      }
      if (fp == j.last_tag()) {
        if (z->serial() == j.last_serial()) continue;
        if (zone::serial_greater(j.last_serial(), z->serial()) && !z->options().is_secondary()) {
          // The file is the journal's last version; we had served it under a raised serial.
          spdlog::info("event=zone_serial_continued zone={} file_serial={} serial={}", z->origin_text(), z->serial(),
                       j.last_serial());
          z = z->with_serial(j.last_serial());
          changed = true;
        } else if (zone::serial_greater(z->serial(), j.last_serial())) {
          // Same data under a newer serial (the SOA alone changed): one SOA-only step.
          zone::Changeset cs;
          cs.serial_from = j.last_serial();
          cs.serial_to = z->serial();
          cs.removed.push_back(soa_rr(*z->with_serial(j.last_serial())));
          cs.added.push_back(soa_rr(*z));
          j.append(cs, fp);
        } else {
          j.clear();  // a secondary's copy older than its journal: nothing to continue
        }
        continue;
      }
      // The zone changed while we were stopped: its difference from the journal's last version
      // is unknown, so the journal starts again from this version.
      uint32_t serial = z->serial();
      if (!z->options().is_secondary() && !zone::serial_greater(serial, j.last_serial()))
        serial = zone::next_serial(j.last_serial(), z->options().serial, unix_seconds());
      spdlog::warn("event=journal_restarted zone={} journal_serial={} file_serial={} serial={} "
                   "reason=\"the zone changed while apexd was stopped\" action=\"secondaries take one AXFR\"",
                   z->origin_text(), j.last_serial(), z->serial(), serial);
      j.clear();
      if (serial != z->serial()) {
        z = z->with_serial(serial);
        changed = true;
      }
    } catch (const std::exception& ex) {
      spdlog::error("event=journal_failed zone={} error=\"{}\"", z->origin_text(), ex.what());
    }
  }
  if (!changed) return set;
  return std::make_shared<const zone::ZoneSet>(std::move(zones), set->failed());
}

void Journals::baseline(const zone::ZoneSet& set) {
  for (const auto& z : set.zones())
    if (keeps_journal(*z) && has_replaced_names(*z)) queue_.push_back({nullptr, z, nullptr, true});
  if (queue_.empty() || draining_) return;
  draining_ = true;
  asio::co_spawn(io_, drain(), asio::detached);
}

void Journals::record(std::shared_ptr<const zone::Zone> before, std::shared_ptr<const zone::Zone> after,
                      std::function<void()> done) {
  if (!after || !keeps_journal(*after)) {
    if (done) done();
    return;
  }
  queue_.push_back({std::move(before), std::move(after), std::move(done), false});
  if (draining_) return;
  draining_ = true;
  asio::co_spawn(io_, drain(), asio::detached);
}

asio::awaitable<void> Journals::drain() {
  while (!queue_.empty()) {
    Pending p = std::move(queue_.front());
    queue_.pop_front();
    try {
      if (p.baseline) co_await take_baseline(std::move(p.after));
      else co_await journal_one(std::move(p.before), std::move(p.after));
    } catch (const std::exception& e) {
      spdlog::error("event=journal_failed error=\"{}\"", e.what());
    }
    if (p.done) p.done();
  }
  draining_ = false;
}

asio::awaitable<void> Journals::take_baseline(std::shared_ptr<const zone::Zone> z) {
  xfr::Replacements reps = co_await transfer_replacements(resolver_, edges_, *zones_.load(), *z, last_known_);
  std::lock_guard lock(mutex_);
  Entry* e = open_entry(*z);
  if (e && !e->last_replacements) e->last_replacements = by_owner(*z, reps);
}

asio::awaitable<void> Journals::journal_one(std::shared_ptr<const zone::Zone> before, std::shared_ptr<const zone::Zone> after) {
  xfr::Replacements after_reps;
  if (has_replaced_names(*after)) after_reps = co_await transfer_replacements(resolver_, edges_, *zones_.load(), *after, last_known_);
  ByOwner after_owned = by_owner(*after, after_reps);
  Entry* e;
  std::optional<ByOwner> before_owned;
  {
    std::lock_guard lock(mutex_);
    e = open_entry(*after);
    if (!e || !e->journal) co_return;
    before_owned = e->last_replacements;
  }
  auto remember = [&] {
    std::lock_guard lock(mutex_);
    e->last_replacements = std::move(after_owned);
  };
  if (!before || (has_replaced_names(*before) && !before_owned)) {
    // Nothing to take the difference from (a new zone), or the addresses the last version was
    // transferred with are unknown (after a restart): the journal starts again here.
    std::lock_guard lock(mutex_);
    if (!e->journal->empty()) {
      spdlog::info("event=journal_restarted zone={} serial={} reason=\"{}\"", after->origin_text(), after->serial(),
                   before ? "the flattened addresses of the last version are not known since the restart" : "new zone");
      e->journal->clear();
    }
    e->last_replacements = std::move(after_owned);
    co_return;
  }
  auto started = std::chrono::steady_clock::now();
  zone::Changeset cs;
  try {
    std::vector<zone::JournalRR> from = xfr::transfer_rrs(before, by_node(*before, before_owned.value_or(ByOwner{})));
    std::vector<zone::JournalRR> to = xfr::transfer_rrs(after, after_reps);
    cs = zone::diff_versions(std::move(from), std::move(to));
  } catch (const std::exception& ex) {
    spdlog::error("event=journal_failed zone={} serial={} error=\"{}\" action=\"journal cleared\"", after->origin_text(),
                  after->serial(), ex.what());
    std::lock_guard lock(mutex_);
    e->journal->clear();
    co_return;
  }
  {
    std::lock_guard lock(mutex_);
    try {
      e->journal->append(cs, zone_data_fingerprint(*after));
      ++written_;
    } catch (const std::exception& ex) {
      spdlog::error("event=journal_failed zone={} serial={} error=\"{}\"", after->origin_text(), after->serial(), ex.what());
    }
  }
  remember();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
  spdlog::info("event=journal_entry zone={} serial_from={} serial_to={} removed={} added={} entries={} bytes={} ms={}",
               after->origin_text(), cs.serial_from, cs.serial_to, cs.removed.size(), cs.added.size(),
               e->journal->entries(), e->journal->size_bytes(), ms);
}

std::optional<zone::Changeset> Journals::since(const std::string& origin, uint32_t from, uint32_t current) const {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(origin);
  if (it == entries_.end() || !it->second.journal || it->second.journal->last_serial() != current) return std::nullopt;
  try {
    return it->second.journal->since(from);
  } catch (const std::exception& e) {
    spdlog::error("event=journal_failed error=\"{}\"", e.what());
    return std::nullopt;
  }
}

}  // namespace apexd::server

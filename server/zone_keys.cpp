// Keys per signed zone: BIND key files in key_dir, generated on first use for primaries.
#include "server/zone_keys.hpp"

#include <spdlog/spdlog.h>

#include <cstdio>

#include "zone/wire/types.hpp"

namespace apexd::server {

namespace {

wire::NameView view(const std::string& s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

std::string where(const ZoneConfig& z) {
  return (z.config_file ? *z.config_file : std::string("?")) + ":" + std::to_string(z.line) + ": zone " + z.origin_text;
}

std::string hex(std::span<const uint8_t> b) {
  static const char* d = "0123456789ABCDEF";
  std::string out;
  for (uint8_t c : b) out += d[c >> 4], out += d[c & 15];
  return out;
}

}  // namespace

std::shared_ptr<const SignerTable> load_signer_table(const Config& cfg, bool generate, int64_t now,
                                                     std::optional<int64_t>* next_change) {
  auto table = std::make_shared<SignerTable>();
  if (next_change) next_change->reset();
  for (const ZoneConfig& z : cfg.zones) {
    if (!z.options.dnssec) continue;
    std::string dir = zone_key_dir(cfg, z);
    try {
      auto keys = crypto::read_zone_keys(dir, view(z.origin));
      if (keys.empty() && generate && !z.options.is_secondary()) {
        std::string base = crypto::generate_key(dir, view(z.origin), z.dnssec_algorithm, 257, now);
        spdlog::info("event=key_generated zone={} key={}/{} algorithm={} role=csk", z.origin_text, dir, base,
                     crypto::dnssec_algorithm_mnemonic(z.dnssec_algorithm));
        keys = crypto::read_zone_keys(dir, view(z.origin));
      }
      if (keys.empty() && !generate && !z.options.is_secondary()) continue;  // `apexd check`: made at start
      if (keys.empty())
        throw ConfigError(where(z) + ": dnssec = true but " + dir + " holds no key for it (run `apexd keygen --dir " +
                          dir + " " + z.origin_text + "`" + (z.options.is_secondary() ? ", or copy the primary's keys there)" : ")"));
      if (next_change)
        for (const auto& k : keys)
          if (auto t = k->next_event(now); t && (!*next_change || *t < **next_change)) *next_change = t;
      table->add(make_zone_keys(view(z.origin), std::move(keys), now));
    } catch (const crypto::KeyError& e) {
      throw ConfigError(where(z) + ": " + e.what());
    }
  }
  return table;
}

std::string keygen(const std::string& dir, const std::string& zone, crypto::DnssecAlgorithm alg, bool ksk, int64_t now,
                   std::optional<int64_t> publish, std::optional<int64_t> activate) {
  std::string text = zone.empty() || zone.back() != '.' ? zone + "." : zone;
  auto wire = wire::name_from_text(text);
  if (!wire) throw crypto::KeyError("'" + zone + "' is not a domain name");
  return crypto::generate_key(dir, view(*wire), alg, ksk ? 257 : 256, now, publish, activate);
}

std::vector<std::string> ds_records(const Config& cfg, const std::string& zone) {
  std::string text = zone.empty() || zone.back() != '.' ? zone + "." : zone;
  auto wire = wire::name_from_text(text);
  if (!wire) throw crypto::KeyError("'" + zone + "' is not a domain name");
  std::string lower = wire::name_lower(view(*wire));
  for (const ZoneConfig& z : cfg.zones) {
    if (z.origin != lower) continue;
    if (!z.options.dnssec) throw ConfigError(where(z) + ": not signed (dnssec = true is not set)");
    auto keys = crypto::read_zone_keys(zone_key_dir(cfg, z), view(z.origin));
    ZoneKeys zk;
    try {
      zk = make_zone_keys(view(z.origin), std::move(keys));  // every key: DS for a KSK published later too
    } catch (const crypto::KeyError&) {
      throw ConfigError(where(z) + ": no key in " + zone_key_dir(cfg, z) + " yet (start apexd once, or run apexd keygen)");
    }
    std::vector<std::string> out;
    for (const auto& ds : zk.cds) {
      char head[64];
      std::snprintf(head, sizeof head, "%u %u %u ", unsigned(ds[0] << 8 | ds[1]), unsigned(ds[2]), unsigned(ds[3]));
      out.push_back(z.origin_text + " 3600 IN DS " + head + hex(std::span<const uint8_t>(ds).subspan(4)));
    }
    return out;
  }
  throw ConfigError(cfg.path + ": no [[zone]] with origin " + wire::name_to_text(view(lower)));
}

}  // namespace apexd::server

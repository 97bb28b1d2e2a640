// The DNSSEC keys of every signed zone of a config, read (and for a primary without keys,
// generated) from key_dir at start-up and on each reload.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "server/config.hpp"
#include "server/online_signer.hpp"

namespace apexd::server {

/// Reads the keys of every zone with dnssec = true. A primary zone without keys gets a CSK of
/// its dnssec_algorithm when `generate` (logged, event=key_generated); a secondary never does
/// (it must sign with its primary's keys, copied there by the operator). Throws ConfigError
/// ("file:line: zone[N].key_dir: …") for a missing or broken key.
/// Key timing (BIND's Publish/Activate/Inactive/Delete) is applied at `now`; `next_change`
/// (when given) gets the first timing event after it, when the table must be made again.
std::shared_ptr<const SignerTable> load_signer_table(const Config& cfg, bool generate, int64_t now,
                                                     std::optional<int64_t>* next_change = nullptr);

/// `apexd keygen`: generates a key pair in `dir`; returns its base name.
std::string keygen(const std::string& dir, const std::string& zone, crypto::DnssecAlgorithm alg, bool ksk, int64_t now,
                   std::optional<int64_t> publish = std::nullopt, std::optional<int64_t> activate = std::nullopt);

/// `apexd ds`: the DS records (zone-file lines, SHA-256) of the zone's KSKs or CSKs, TTL = 3600.
std::vector<std::string> ds_records(const Config& cfg, const std::string& zone);

}  // namespace apexd::server

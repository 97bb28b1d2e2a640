// Loads RFC 1035 master files into Records (ldns parses the RDATA; no ldns type leaks out).
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "zone/record.hpp"
#include "zone/wire/name.hpp"

namespace apexd::zone {

inline constexpr int max_include_depth = 8;  // loop guard for $INCLUDE

/// Reads `path` with `origin` as the initial $ORIGIN. Handles $ORIGIN, $TTL and $INCLUDE
/// (relative to the including file). Throws ZoneError with file:line on any error.
/// `files`, when given, receives a stamp of every file read ($INCLUDEs too), taken before reading.
/// Records outside `origin` are skipped; `warnings`, when given, gets "file:line: …" for each.
std::vector<Record> load_zone_file(const std::string& path, wire::NameView origin,
                                   std::vector<FileStamp>* files = nullptr,
                                   std::vector<std::string>* warnings = nullptr);

/// The same for text in memory; `source` names it in messages and anchors relative $INCLUDEs.
/// `fast_path = false` sends every record through ldns (tests compare both paths).
std::vector<Record> load_zone_text(std::string_view text, wire::NameView origin, const std::string& source,
                                   std::vector<FileStamp>* files = nullptr, bool fast_path = true,
                                   std::vector<std::string>* warnings = nullptr);

/// Whether `rdata` (wire form) is well-formed RDATA of `type`, as a loaded file's must be (a
/// TXT's strings fit, an A has 4 bytes, names are names…): the reason when it is not. For
/// records that arrive in wire form (transfers, updates). Unknown types are taken as they are.
std::optional<std::string> check_rdata(uint16_t type, const std::string& rdata);

/// `records` as master-file text (absolute names, one RR a line, `header` as leading comments)
/// that load_zone_text reads back to the same records: how a secondary keeps its copy. A
/// record's `comment` (one line) follows it after `;`, so cf_tags read back too.
std::string records_to_text(const std::vector<Record>& records, const std::string& header);

}  // namespace apexd::zone

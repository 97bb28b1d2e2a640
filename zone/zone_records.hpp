// A compiled zone as a list of RRs and back: what IXFR differences are taken from and applied to.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "zone/journal.hpp"
#include "zone/record.hpp"
#include "zone/zone.hpp"

namespace apexd::zone {

/// Every RR of `z` as loaded (flattened CNAMEs as CNAMEs, proxied names with their own data),
/// the SOA first, then the nodes in canonical order, then the records kept aside (NSEC3).
std::vector<JournalRR> zone_rrs(const Zone& z);

/// RRs as loader Records (for compile_zone), each naming `file` at line 0.
std::vector<Record> to_records(std::vector<JournalRR> rrs, std::shared_ptr<const std::string> file);

}  // namespace apexd::zone

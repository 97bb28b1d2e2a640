// libFuzzer: a primary's answer stream (what a hostile primary sends) through the secondary's
// TransferParser, and a full zone it accepts through validation and the copy writer. The input's
// first byte picks AXFR or IXFR (from serial 10); the rest is TCP framing: 2-byte lengths, messages.
// Invariants: records stay inside the zone; a copy that compiles is written as text that reads
// back to the same number of records.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>

#include "xfr/xfr_in.hpp"
#include "zone/loader.hpp"
#include "zone/wire/types.hpp"
#include "zone/zone.hpp"
#include "zone/zone_records.hpp"

using namespace apexd;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  static const std::string origin = *wire::name_from_text("hostile.test.");
  wire::NameView o(reinterpret_cast<const uint8_t*>(origin.data()), origin.size());
  bool ixfr = data[0] & 1;
  uint16_t id = uint16_t(data[1] << 8 | data[2]);
  xfr::TransferParser p(o, id, ixfr ? wire::rrtype::IXFR : wire::rrtype::AXFR,
                        ixfr ? std::optional<uint32_t>(10) : std::nullopt, 1 << 20);
  size_t at = 3;
  while (at + 2 <= size && p.status() == xfr::TransferParser::Status::more) {
    size_t len = size_t(data[at]) << 8 | data[at + 1];
    at += 2;
    if (len > size - at) len = size - at;
    p.feed({data + at, len});
    at += len;
  }
  xfr::InboundTransfer t = p.take();
  for (const zone::JournalRR& rr : t.records)
    if (!wire::name_is_subdomain({reinterpret_cast<const uint8_t*>(rr.owner.data()), rr.owner.size()}, o))
      __builtin_trap();
  if (t.kind != xfr::InboundTransfer::Kind::full) return 0;
  auto file = std::make_shared<const std::string>("fuzz");
  std::vector<zone::Record> records = zone::to_records(t.records, file);
  std::string text = zone::records_to_text(records, "fuzz");
  try {
    auto z = zone::compile_zone(o, std::move(records), "fuzz");
  } catch (const zone::ZoneError&) {
    return 0;
  }
  // The copy a secondary writes must load back: every record, no more, no fewer.
  std::vector<zone::Record> back;
  try {
    back = zone::load_zone_text(text, o, "/nonexistent/copy.zone");
  } catch (const zone::ZoneError& e) {
    std::fprintf(stderr, "the copy does not load: %s\n%s", e.what(), text.c_str());
    __builtin_trap();
  }
  if (back.size() != t.records.size()) {
    std::fprintf(stderr, "the copy loads %zu records of %zu:\n%s", back.size(), t.records.size(), text.c_str());
    __builtin_trap();
  }
  return 0;
}

// Incoming transfers (a secondary's side): SOA queries, AXFR (RFC 5936) and IXFR (RFC 1995) from a primary.
#pragma once
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "crypto/tsig.hpp"
#include "zone/journal.hpp"
#include "zone/wire/name.hpp"
#include "zone/wire/reader.hpp"

namespace apexd::xfr {

inline constexpr std::chrono::seconds soa_query_timeout{2};   // one try over UDP; two tries
inline constexpr std::chrono::seconds xfr_read_timeout{10};   // each read of a transfer (and the connect)
inline constexpr std::chrono::minutes xfr_total_timeout{15};  // a whole transfer, however it drips

/// A primary: a literal address and a port.
struct Primary {
  std::string host;
  uint16_t port = 53;
  std::string text() const { return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port); }
};

/// What a primary says its serial is.
struct SoaAnswer {
  bool ok = false;
  uint32_t serial = 0;
  std::string error;  ///< why not, when !ok
};

/// Asks `primary` for the SOA of `origin` (lowercase wire) over UDP (TCP when truncated),
/// signed with `key` when given (the answer must then verify). Two tries.
boost::asio::awaitable<SoaAnswer> query_soa(const Primary& primary, wire::NameView origin, const crypto::TsigKey* key);

/// What a transfer brought.
struct InboundTransfer {
  enum class Kind : uint8_t {
    failed,       ///< `error` says why; nothing is to change
    up_to_date,   ///< IXFR answered with our serial (or an older one): nothing to do
    full,         ///< the whole zone, in `records` (SOA first, the closing SOA not repeated)
    incremental,  ///< difference sequences from our serial to `serial`, in `changesets`
  };
  Kind kind = Kind::failed;
  std::string error;
  uint32_t serial = 0;  ///< of the version received
  std::vector<zone::JournalRR> records;
  std::vector<zone::Changeset> changesets;
  uint64_t bytes = 0;   ///< RR wire bytes received (what max_zone_size bounds)
  size_t messages = 0;
  size_t rrs = 0;
};

/// Reads the answer messages of one AXFR or IXFR request (RFC 5936 §2.2, RFC 1995 §4) and
/// checks them as they come: ID, QR, opcode, rcode, question, class IN, SOA at the origin
/// first and last with the same serial, difference sequences that chain from `have_serial` to
/// the new serial, and the byte budget. Records outside the zone are skipped (counted);
/// RDATA names are decompressed (RFC 3597 §4) and lowercased as the loader does. Pure: the
/// fuzzer and the unit tests feed it messages directly.
class TransferParser {
 public:
  /// `qtype` AXFR or IXFR; `have_serial` our version's (IXFR only).
  TransferParser(wire::NameView origin, uint16_t id, uint16_t qtype, std::optional<uint32_t> have_serial,
                 uint64_t max_bytes);
  enum class Status : uint8_t { more, done, error };
  /// One message (without its TCP length). After done or error, nothing more is taken.
  Status feed(std::span<const uint8_t> msg);
  Status status() const { return status_; }
  /// The result (after done, or the error).
  InboundTransfer take();
  size_t skipped_out_of_zone() const { return out_of_zone_; }

 private:
  enum class Phase : uint8_t { first_soa, second, full, ixfr_deleted, ixfr_added, done };
  Status fail(std::string why);
  Status take_rr(zone::JournalRR rr, bool is_soa, uint32_t soa_serial);

  std::string origin_;
  uint16_t id_;
  uint16_t qtype_;
  std::optional<uint32_t> have_;
  uint64_t max_bytes_;
  Phase phase_ = Phase::first_soa;
  Status status_ = Status::more;
  InboundTransfer result_;
  zone::JournalRR first_soa_;
  size_t out_of_zone_ = 0;
};

/// Transfers `origin` from `primary` over TCP: IXFR from `have_soa` (our SOA's RDATA, wire)
/// when given, else AXFR; signed with `key` when given, every message of the answer then
/// verified (RFC 8945 §5.3.1). Every read has a deadline; the whole at most xfr_total_timeout.
boost::asio::awaitable<InboundTransfer> fetch_zone(const Primary& primary, wire::NameView origin,
                                                   const crypto::TsigKey* key, std::optional<std::string> have_soa,
                                                   uint64_t max_bytes);

/// One resource record read from a message, its RDATA names decompressed (RFC 3597 §4).
struct MessageRR {
  wire::NameBuf owner;  ///< as sent (letter case kept)
  uint16_t type = 0, rclass = 0;
  uint32_t ttl = 0;
  std::string rdata;  ///< uncompressed; empty RDATA (RDLENGTH 0) is kept empty
};
/// Reads the RR at `r` in `msg`; false when it is malformed (nothing else is checked).
bool read_message_rr(std::span<const uint8_t> msg, wire::Reader& r, MessageRR& out);

/// The serial field of SOA RDATA in wire form (0 when it is too short).
uint32_t soa_rdata_serial(std::span<const uint8_t> rdata);

}  // namespace apexd::xfr

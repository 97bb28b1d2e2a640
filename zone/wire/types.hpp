// DNS constants: RR types, classes, opcodes and rcodes (RFC 1035 §3.2, IANA registries).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <optional>

namespace apexd::wire {

/// RR types the server treats specially or names in its output.
namespace rrtype {
inline constexpr uint16_t A = 1, NS = 2, MD = 3, MF = 4, CNAME = 5, SOA = 6, MB = 7, MG = 8, MR = 9,
                          NULL_ = 10, WKS = 11, PTR = 12, HINFO = 13, MINFO = 14, MX = 15, TXT = 16,
                          RP = 17, AFSDB = 18, X25 = 19, ISDN = 20, RT = 21, NSAP_PTR = 23, SIG = 24, PX = 26, AAAA = 28,
                          LOC = 29, NXT = 30, ATMA = 34, KX = 36, A6 = 38, SINK = 40, SRV = 33, NAPTR = 35, DNAME = 39, OPT = 41,
                          DS = 43, SSHFP = 44, RRSIG = 46, NSEC = 47, DNSKEY = 48, NSEC3 = 50, NSEC3PARAM = 51, CDS = 59, CDNSKEY = 60,
                          TLSA = 52, SVCB = 64, HTTPS = 65, SPF = 99, IXFR = 251, AXFR = 252, MAILB = 253,
                          MAILA = 254, ANY = 255, CAA = 257;
}

namespace rrclass {
inline constexpr uint16_t IN = 1, CH = 3, NONE = 254, ANY = 255;
}

namespace opcode {
inline constexpr uint8_t QUERY = 0, NOTIFY = 4, UPDATE = 5;  // RFC 1996, RFC 2136
}

namespace rcode {
inline constexpr uint16_t NOERROR = 0, FORMERR = 1, SERVFAIL = 2, NXDOMAIN = 3, NOTIMP = 4,
                          REFUSED = 5, YXDOMAIN = 6, NOTAUTH = 9, BADVERS = 16;
}

/// Mnemonic of a type ("A", "TYPE65400" for unknown ones, RFC 3597 §5).
std::string type_to_text(uint16_t type);
/// Whether `type` has a mnemonic (is in the IANA registry as ldns knows it).
bool is_known_type(uint16_t type);
/// Inverse of type_to_text; accepts "TYPEnnn". Case-insensitive.
std::optional<uint16_t> type_from_text(std::string_view text);
/// Mnemonic of an rcode ("NOERROR", "RCODE23" for unknown ones).
std::string rcode_to_text(uint16_t rc);

}  // namespace apexd::wire

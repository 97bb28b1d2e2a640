// Zone-file loading: our own entry splitting and directives, ldns for each RR's syntax.
// This is the only file that includes ldns (DESIGN.md).
#include "zone/loader.hpp"

#include <ldns/ldns.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>

#include "zone/rdata_text.hpp"
#include "zone/wire/types.hpp"
#include "zone/zone_text.hpp"

namespace apexd::zone {

namespace {

struct RdfDeleter {
  void operator()(ldns_rdf* r) const { ldns_rdf_deep_free(r); }
};
struct RrDeleter {
  void operator()(ldns_rr* r) const { ldns_rr_free(r); }
};
struct BufferDeleter {
  void operator()(ldns_buffer* b) const { ldns_buffer_free(b); }
};
using RdfPtr = std::unique_ptr<ldns_rdf, RdfDeleter>;
using RrPtr = std::unique_ptr<ldns_rr, RrDeleter>;

RdfPtr rdf_from_wire(const std::string& wire) {
  return RdfPtr(ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME, wire.size(), wire.data()));
}

std::string read_file(const std::string& path, const std::string& from_file, unsigned from_line,
                      std::vector<FileStamp>* files) {
  if (files) files->push_back(stamp_file(path));  // before reading: a later change shows on the next reload
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (from_file.empty()) throw ZoneError(path, 0, "cannot open zone file");
    throw ZoneError(from_file, from_line, "cannot open included file '" + path + "'");
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::optional<uint32_t> parse_ttl(const std::string& text) {
  uint32_t plain = 0;
  if (parse_number(text, 0xFFFFFFFF, plain)) return plain;  // the common case, without ldns
  if (text.empty() || !std::isdigit(static_cast<unsigned char>(text[0]))) return std::nullopt;
  // All digits but over 32 bits: ldns would wrap it; BIND and Knot refuse it (RFC 2181 §8).
  if (std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) return std::nullopt;
  const char* end = nullptr;
  uint32_t v = ldns_str2period(text.c_str(), &end);
  if (end == nullptr || *end != '\0') return std::nullopt;
  return v;
}

bool is_class(std::string_view t) {
  std::string u;
  for (char c : t) u += char(std::toupper(static_cast<unsigned char>(c)));
  return u == "IN" || u == "CH" || u == "CS" || u == "HS" || (u.size() > 5 && u.compare(0, 5, "CLASS") == 0);
}

// "IN", or its RFC 3597 §5 spelling "CLASS1".
bool is_in_class(std::string_view t) {
  if (t.size() == 2) return (t[0] | 0x20) == 'i' && (t[1] | 0x20) == 'n';
  return t.size() == 6 && std::equal(t.begin(), t.end(), "CLASS1", [](char a, char b) { return std::toupper(a) == b; });
}

// QTYPEs and meta-types (OPT, TSIG, AXFR, ANY, …: RFC 6895 §3.1 reserves 128–255) and the
// reserved type 0 never appear as data; BIND refuses them too.
bool is_meta_type(uint16_t type) { return type == 0 || type == wire::rrtype::OPT || (type >= 128 && type <= 255); }

bool decimal_within(std::string_view t, uint32_t max) {
  uint32_t v = 0;
  return parse_number(t, max, v);
}

// Fields ldns parses leniently, checked first against the type's ldns descriptor: ldns reads
// numbers with strtol and keeps the low bits (MX 65536 becomes 0), and maps an unknown type
// mnemonic to 0 (in RRSIG's type covered and in NSEC/NSEC3/CSYNC bitmaps). BIND refuses both.
// Fields that may span several tokens end the walk; ldns checks those itself.
std::optional<std::string> check_fields(uint16_t type, std::span<const std::string_view> tokens) {
  const ldns_rr_descriptor* d = ldns_rr_descript(type);
  if (d == nullptr) return std::nullopt;
  size_t max = ldns_rr_descriptor_maximum(d);
  auto bad = [](std::string_view what, std::string_view t) {
    return std::optional<std::string>(std::string(what) + " '" + std::string(t) + "'");
  };
  for (size_t i = 0; i < tokens.size() && i < max; ++i) {
    std::string_view t = tokens[i];
    bool numeric = !t.empty() && std::isdigit(static_cast<unsigned char>(t[0]));
    switch (ldns_rr_descriptor_field_type(d, i)) {
      case LDNS_RDF_TYPE_INT8:
        if (!decimal_within(t, 0xFF)) return bad("not a number in 0..255", t);
        break;
      case LDNS_RDF_TYPE_INT16:
        if (!decimal_within(t, 0xFFFF)) return bad("not a number in 0..65535", t);
        break;
      case LDNS_RDF_TYPE_INT32:
        if (!decimal_within(t, 0xFFFFFFFF)) return bad("not a number in 0..4294967295", t);
        break;
      case LDNS_RDF_TYPE_ALG:
      case LDNS_RDF_TYPE_CERTIFICATE_USAGE:
      case LDNS_RDF_TYPE_SELECTOR:
      case LDNS_RDF_TYPE_MATCHING_TYPE:  // a mnemonic or a number that fits 8 bits
        if (numeric && !decimal_within(t, 0xFF)) return bad("not a number in 0..255", t);
        break;
      case LDNS_RDF_TYPE_CERT_ALG:
        if (numeric && !decimal_within(t, 0xFFFF)) return bad("not a number in 0..65535", t);
        break;
      case LDNS_RDF_TYPE_TYPE:
        if (!wire::type_from_text(t)) return bad("unknown type", t);
        break;
      case LDNS_RDF_TYPE_HEX: {  // the rest: ldns keeps a lone last digit as a high nibble
        size_t digits = 0;
        for (size_t k = i; k < tokens.size(); ++k) {
          for (char c : tokens[k])
            if (!std::isxdigit(static_cast<unsigned char>(c))) return bad("bad hex encoding", tokens[k]);
          digits += tokens[k].size();
        }
        if (digits % 2) return std::optional<std::string>("odd number of hex digits");
        return std::nullopt;
      }
      case LDNS_RDF_TYPE_NSEC:  // the type bitmap: every remaining token
        for (size_t k = i; k < tokens.size(); ++k)
          if (!wire::type_from_text(tokens[k])) return bad("unknown type in the type bitmap", tokens[k]);
        return std::nullopt;
      case LDNS_RDF_TYPE_DNAME:
      case LDNS_RDF_TYPE_A:
      case LDNS_RDF_TYPE_AAAA:
      case LDNS_RDF_TYPE_STR:
      case LDNS_RDF_TYPE_B32_EXT:
      case LDNS_RDF_TYPE_NSEC3_SALT:
      case LDNS_RDF_TYPE_TIME:
      case LDNS_RDF_TYPE_PERIOD:
      case LDNS_RDF_TYPE_EUI48:
      case LDNS_RDF_TYPE_EUI64:
      case LDNS_RDF_TYPE_ILNP64:
      case LDNS_RDF_TYPE_TAG:
      case LDNS_RDF_TYPE_APL:
        break;  // one token each, parsed strictly by ldns
      default:
        return std::nullopt;  // may span tokens (B64, HEX, LOC, WKS, HIP, SVCPARAMS, …)
    }
  }
  return std::nullopt;
}

// What ldns parses without complaint but BIND refuses, checked on the wire form it produced.
std::optional<std::string> check_parsed(uint16_t type, const std::string& rdata) {
  if (type == wire::rrtype::LOC && rdata.size() == 16 && rdata[0] == 0) {
    // RFC 1876 §2: latitude and longitude are thousandths of an arc second offset by 2^31.
    auto angle = [&](size_t at) {
      uint32_t v = uint32_t(uint8_t(rdata[at])) << 24 | uint32_t(uint8_t(rdata[at + 1])) << 16 |
                   uint32_t(uint8_t(rdata[at + 2])) << 8 | uint8_t(rdata[at + 3]);
      return std::abs(int64_t(v) - (int64_t(1) << 31));
    };
    if (angle(4) > int64_t(90) * 3600 * 1000) return "LOC latitude beyond 90 degrees";
    if (angle(8) > int64_t(180) * 3600 * 1000) return "LOC longitude beyond 180 degrees";
  }
  return std::nullopt;
}

// RFC 3597 §5: generic RDATA of a known type must be valid RDATA of that type (BIND checks;
// an A of 3 bytes is refused). ldns reads it by the type's descriptor.
std::optional<std::string> check_generic_for_type(uint16_t type, const std::string& rdata) {
  if (!wire::is_known_type(type) || encoded_only_here(type)) return std::nullopt;
  // SINK: ldns's descriptor has a field too few (see encode_sink); three octets, then any data.
  if (type == wire::rrtype::SINK) return rdata.size() >= 3 ? std::nullopt : std::optional<std::string>("SINK RDATA shorter than 3 octets");
  std::string wire_rdata;
  wire_rdata += char(rdata.size() >> 8);
  wire_rdata += char(rdata.size());
  wire_rdata += rdata;
  RrPtr rr(ldns_rr_new());
  ldns_rr_set_type(rr.get(), ldns_rr_type(type));
  size_t pos = 0;
  ldns_status st = ldns_wire2rdf(rr.get(), reinterpret_cast<const uint8_t*>(wire_rdata.data()), wire_rdata.size(), &pos);
  if (st != LDNS_STATUS_OK || pos != wire_rdata.size() || (rdata.empty() && type != wire::rrtype::NULL_))
    return "'\\#' data is not valid " + wire::type_to_text(type) + " RDATA";
  return std::nullopt;
}

// SINK (draft-eastlake-kitchen-sink): meaning, coding and subcoding (8 bits each), then
// base64 data. ldns 1.8's descriptor has one number too few.
std::optional<std::string> encode_sink(std::span<const std::string_view> tokens, std::string& out) {
  if (tokens.size() < 3) return "SINK needs meaning, coding and subcoding";
  out.clear();
  for (size_t i = 0; i < 3; ++i) {
    uint32_t v = 0;
    if (!parse_number(tokens[i], 0xFF, v)) return "not a number in 0..255 '" + std::string(tokens[i]) + "'";
    out += char(v);
  }
  std::string b64;
  for (size_t i = 3; i < tokens.size(); ++i) b64 += tokens[i];
  if (b64.empty()) return std::nullopt;
  ldns_rdf* raw = nullptr;
  if (ldns_str2rdf_b64(&raw, b64.c_str()) != LDNS_STATUS_OK || !raw) return "bad base64 in SINK data";
  RdfPtr data(raw);
  out.append(reinterpret_cast<const char*>(ldns_rdf_data(data.get())), ldns_rdf_size(data.get()));
  return std::nullopt;
}

class Loader {
 public:
  Loader(wire::NameView zone_origin, std::vector<FileStamp>* files, bool fast_path, std::vector<std::string>* warnings)
      : zone_origin_(zone_origin.begin(), zone_origin.end()), files_(files), fast_path_(fast_path), warnings_(warnings) {
    zone_text_ = wire::name_to_text(zone_origin);
    if (!zone_text_.empty()) zone_text_.pop_back();  // "example.com." → "example.com"
  }

  void load_text(std::string_view text, const std::string& file, const std::string& origin,
                 std::optional<uint32_t> dollar_ttl, int depth) {
    std::string current_origin = origin;
    auto file_ref = std::make_shared<const std::string>(file);
    for_each_entry(text, file, [&](const TextEntry& e) {
      // A NUL byte is no text (ldns would stop reading there; named-checkzone refuses it too).
      if (e.text.find('\0') != std::string::npos) throw ZoneError(file, e.line, "NUL byte in the zone text");
      split_token_views(e.text, tokens_);
      if (tokens_.empty()) return;
      if (!e.owner_blank && tokens_[0][0] == '$') {
        std::vector<std::string> tokens(tokens_.begin(), tokens_.end());
        directive(tokens, e, file, current_origin, dollar_ttl, depth);
        return;
      }
      record(e, file_ref, current_origin, dollar_ttl);
    });
  }

  std::vector<Record> take() { return std::move(records_); }

 private:
  void directive(const std::vector<std::string>& tokens, const TextEntry& e, const std::string& file,
                 std::string& origin, std::optional<uint32_t>& dollar_ttl, int depth) {
    const std::string& d = tokens[0];
    if (d == "$ORIGIN") {
      if (tokens.size() != 2) throw ZoneError(file, e.line, "$ORIGIN takes one domain name");
      auto name = wire::name_from_text(tokens[1], view(origin));
      if (!name) throw ZoneError(file, e.line, "invalid $ORIGIN '" + tokens[1] + "'");
      origin = *name;
    } else if (d == "$TTL") {
      if (tokens.size() != 2) throw ZoneError(file, e.line, "$TTL takes one value");
      dollar_ttl = parse_ttl(tokens[1]);
      if (!dollar_ttl) throw ZoneError(file, e.line, "invalid $TTL '" + tokens[1] + "'");
    } else if (d == "$INCLUDE") {
      if (tokens.size() < 2 || tokens.size() > 3)
        throw ZoneError(file, e.line, "$INCLUDE takes a file name and an optional origin");
      if (depth >= max_include_depth) throw ZoneError(file, e.line, "$INCLUDE nested too deeply (loop?)");
      std::filesystem::path p(tokens[1]);
      if (p.is_relative()) p = std::filesystem::path(file).parent_path() / p;
      std::string inc_origin = origin;
      if (tokens.size() == 3) {
        auto name = wire::name_from_text(tokens[2], view(origin));
        if (!name) throw ZoneError(file, e.line, "invalid $INCLUDE origin '" + tokens[2] + "'");
        inc_origin = *name;
      }
      std::string text = read_file(p.string(), file, e.line, files_);
      // The included file starts with our $TTL; its $ORIGIN and $TTL do not leak back (RFC 1035 §5.1).
      load_text(text, p.string(), inc_origin, dollar_ttl, depth + 1);
    } else {
      throw ZoneError(file, e.line, "unsupported directive '" + d + "'");
    }
  }

  static wire::NameView view(const std::string& s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

  // "owner [TTL] [CLASS] TYPE RDATA", TTL and CLASS in either order (RFC 1035 §5.1).
  void record(const TextEntry& e, const std::shared_ptr<const std::string>& file, const std::string& origin,
              const std::optional<uint32_t>& dollar_ttl) {
    Record r;
    size_t i = 0;
    if (e.owner_blank) {
      if (last_owner_.empty()) throw ZoneError(*file, e.line, "record without an owner name and no previous owner");
      r.owner = last_owner_;
    } else {
      std::string_view owner = tokens_[i++];
      auto name = owner.find('"') == std::string_view::npos
                      ? wire::name_from_text(cloudflare_owner(owner), view(origin))
                      : std::nullopt;
      if (!name) throw ZoneError(*file, e.line, "invalid owner name '" + std::string(owner) + "'");
      r.owner = std::move(*name);
    }
    std::optional<uint32_t> ttl;
    bool class_seen = false;
    for (int k = 0; k < 2 && i < tokens_.size(); ++k) {
      std::string_view t = tokens_[i];
      if (!ttl && !t.empty() && std::isdigit(static_cast<unsigned char>(t[0]))) {
        ttl = parse_ttl(std::string(t));
        if (!ttl) throw ZoneError(*file, e.line, "invalid TTL '" + std::string(t) + "'");
        ++i;
      } else if (!class_seen && is_class(t)) {
        if (!is_in_class(t)) throw ZoneError(*file, e.line, "only class IN is served");
        class_seen = true;
        ++i;
      } else {
        break;
      }
    }
    if (i >= tokens_.size()) throw ZoneError(*file, e.line, "record without a type in '" + e.text + "'");
    std::optional<uint16_t> type = wire::type_from_text(tokens_[i]);
    if (!type) throw ZoneError(*file, e.line, "unknown type '" + std::string(tokens_[i]) + "' in '" + e.text + "'");
    if (is_meta_type(*type))
      throw ZoneError(*file, e.line, "type " + std::string(tokens_[i]) + " is a meta-type or QTYPE, not data (RFC 6895 §3.1)");
    if (*type == wire::rrtype::MD || *type == wire::rrtype::MF)  // as BIND refuses them
      throw ZoneError(*file, e.line, "type " + std::string(tokens_[i]) + " is obsolete, use MX (RFC 973)");
    ++i;
    r.type = *type;
    r.ttl = ttl ? *ttl : dollar_ttl ? *dollar_ttl : last_ttl_ ? *last_ttl_ : 3600;
    std::span<const std::string_view> rdata_tokens(tokens_.data() + i, tokens_.size() - i);
    auto refuse = [&](const std::string& why) { throw ZoneError(*file, e.line, why + " in '" + e.text + "'"); };
    if (!rdata_tokens.empty() && rdata_tokens[0] == "\\#") {
      if (auto error = encode_generic_rdata(rdata_tokens, r.rdata)) refuse(*error);
      if (auto error = check_generic_for_type(r.type, r.rdata)) refuse(*error);
    } else if (encoded_only_here(r.type)) {
      if (!encode_rdata_fast(r.type, rdata_tokens, view(origin), r.rdata)) refuse("invalid " + wire::type_to_text(r.type) + " RDATA");
    } else if (r.type == wire::rrtype::SINK) {
      if (auto error = encode_sink(rdata_tokens, r.rdata)) refuse(*error);
    } else if (!fast_path_ || !encode_rdata_fast(r.type, rdata_tokens, view(origin), r.rdata)) {
      if (auto error = check_fields(r.type, rdata_tokens)) refuse(*error);
      r.rdata = rdata_with_ldns(r, rdata_tokens, e, *file, origin);
      if (auto error = check_parsed(r.type, r.rdata)) refuse(*error);
    }
    if (r.rdata.size() > 65535) throw ZoneError(*file, e.line, "RDATA longer than 65535 bytes");
    lowercase_rdata_names(r.type, r.rdata);  // as knotd serves them

    last_owner_ = r.owner;
    last_ttl_ = r.ttl;
    auto zone_origin = view(zone_origin_);
    if (!wire::name_is_subdomain(view(r.owner), zone_origin)) {
      // BIND, Knot and NSD skip such a record with a warning and serve the rest of the zone.
      if (warnings_)
        warnings_->push_back(*file + ":" + std::to_string(e.line) + ": record " +
                             wire::name_to_text(view(r.owner)) + " " + wire::type_to_text(r.type) +
                             " is outside the zone " + wire::name_to_text(zone_origin) + ", ignored");
      return;
    }
    r.file = file;
    r.line = e.line;
    r.comment = e.comment;
    records_.push_back(std::move(r));
  }

  // Everything the fast path does not take: ldns parses "owner TTL IN TYPE RDATA" with all
  // fields explicit (so its default-TTL handling never applies) and reports syntax errors.
  std::string rdata_with_ldns(const Record& r, std::span<const std::string_view> rdata_tokens, const TextEntry& e,
                              const std::string& file, const std::string& origin) {
    // The owner is ours already; ldns gets the root instead, so that its own name limits (it
    // refuses 255-byte names, RFC 1035 §2.3.4 allows them) never apply to it.
    std::string text = ". " + std::to_string(r.ttl) + " IN " + wire::type_to_text(r.type);
    for (std::string_view t : rdata_tokens) {
      text += ' ';
      text += t;
    }
    RdfPtr origin_rdf = rdf_from_wire(origin);
    ldns_rr* raw = nullptr;
    ldns_status st = ldns_rr_new_frm_str(&raw, text.c_str(), r.ttl, origin_rdf.get(), nullptr);
    RrPtr rr(raw);
    if (st != LDNS_STATUS_OK || !rr)
      throw ZoneError(file, e.line, std::string(ldns_get_errorstr_by_id(st)) + " in '" + e.text + "'");
    std::unique_ptr<ldns_buffer, BufferDeleter> buf(ldns_buffer_new(512));
    if (ldns_rr_rdata2buffer_wire(buf.get(), rr.get()) != LDNS_STATUS_OK)
      throw ZoneError(file, e.line, "cannot encode RDATA");
    return std::string(reinterpret_cast<const char*>(ldns_buffer_begin(buf.get())), ldns_buffer_position(buf.get()));
  }

  // Cloudflare's exports write owners without the trailing dot ("example.com  3600 IN SOA …").
  // Read literally that is example.com.example.com.; a relative owner whose absolute reading
  // already lies in the zone is taken as absolute, so such a zone loads as it is.
  std::string cloudflare_owner(std::string_view owner) const {
    std::string o(owner);
    if (o.empty() || o == "@" || o.back() == '.') return o;
    // Cheap test first: does the text end with the zone's name (without its final dot)?
    const std::string& z = zone_text_;
    auto ieq = [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b)); };
    bool ends = o.size() >= z.size() && std::equal(z.begin(), z.end(), o.end() - long(z.size()), ieq) &&
                (o.size() == z.size() || o[o.size() - z.size() - 1] == '.');
    if (!ends) return o;
    auto absolute = wire::name_from_text(o + ".");
    if (absolute && wire::name_is_subdomain(view(*absolute), view(zone_origin_))) return o + ".";
    return o;
  }

  std::string zone_origin_;
  std::string zone_text_;  // the origin in text, without its final dot
  std::vector<FileStamp>* files_;
  bool fast_path_;
  std::vector<std::string>* warnings_;
  std::vector<std::string_view> tokens_;
  std::vector<Record> records_;
  std::string last_owner_;  // wire form
  std::optional<uint32_t> last_ttl_;
};

}  // namespace

FileStamp stamp_file(const std::string& path) {
  FileStamp st;
  st.path = path;
  struct stat sb {};
  if (::lstat(path.c_str(), &sb) == 0) {
    st.watchable = S_ISREG(sb.st_mode) && sb.st_nlink == 1;
    if (S_ISLNK(sb.st_mode) && ::stat(path.c_str(), &sb) != 0) return st;
    st.mtime_ns = int64_t(sb.st_mtim.tv_sec) * 1000000000 + sb.st_mtim.tv_nsec;
    st.size = uint64_t(sb.st_size);
  }
  return st;
}

std::vector<Record> load_zone_text(std::string_view text, wire::NameView origin, const std::string& source,
                                   std::vector<FileStamp>* files, bool fast_path, std::vector<std::string>* warnings) {
  Loader loader(origin, files, fast_path, warnings);
  loader.load_text(text, source, std::string(origin.begin(), origin.end()), std::nullopt, 0);
  return loader.take();
}

std::optional<std::string> check_rdata(uint16_t type, const std::string& rdata) {
  if (rdata.size() > 65535) return "RDATA longer than 65535 bytes";
  if (is_meta_type(type)) return "type " + wire::type_to_text(type) + " is a meta-type or QTYPE, not data (RFC 6895 §3.1)";
  if (type == wire::rrtype::MD || type == wire::rrtype::MF) return "type " + wire::type_to_text(type) + " is obsolete (RFC 973)";
  if (encoded_only_here(type)) return std::nullopt;  // ldns misreads these: taken as they are
  return check_generic_for_type(type, rdata);
}

namespace {

// Whether `line` read by our own loader (what reads the copy back) gives `r` again: its owner,
// type and RDATA (with RDATA names lowercased, as loading does). Checking with ldns alone missed
// what our tokenizer reads differently.
bool reads_back(const std::string& line, const Record& r) {
  static const std::string root(1, '\0');
  try {
    std::vector<Record> back =
        load_zone_text(line + "\n", wire::NameView(reinterpret_cast<const uint8_t*>(root.data()), root.size()), "copy");
    if (back.size() != 1) return false;
    std::string want = r.rdata;
    lowercase_rdata_names(r.type, want);
    auto name = [](const std::string& n) { return wire::name_lower(wire::NameView(reinterpret_cast<const uint8_t*>(n.data()), n.size())); };
    return back[0].type == r.type && name(back[0].owner) == name(r.owner) && back[0].rdata == want;
  } catch (const ZoneError&) {
    return false;
  }
}

}  // namespace

std::string records_to_text(const std::vector<Record>& records, const std::string& header) {
  std::string out;
  for (size_t i = 0; i < header.size();) {  // each line of the header as a comment
    size_t nl = header.find('\n', i);
    if (nl == std::string::npos) nl = header.size();
    out += "; " + header.substr(i, nl - i) + "\n";
    i = nl + 1;
  }
  std::string wire;
  for (const Record& r : records) {
    // The presentation form ldns prints, which every loader reads back; RFC 3597's generic form
    // for the types ldns misreads (encoded_only_here) and anything ldns cannot print.
    wire.assign(r.owner);
    auto u16 = [&](uint16_t v) { wire += char(v >> 8), wire += char(v & 0xff); };
    u16(r.type);
    u16(wire::rrclass::IN);
    u16(uint16_t(r.ttl >> 16));
    u16(uint16_t(r.ttl));
    u16(uint16_t(r.rdata.size()));
    wire += r.rdata;
    ldns_rr* rr = nullptr;
    size_t pos = 0;
    char* text = nullptr;
    // SINK (RFC-draft, type 40): ldns prints only its first field, losing the rest.
    if (!encoded_only_here(r.type) && r.type != wire::rrtype::SINK &&
        ldns_wire2rr(&rr, reinterpret_cast<const uint8_t*>(wire.data()), wire.size(), &pos, LDNS_SECTION_ANSWER) ==
            LDNS_STATUS_OK)
      text = ldns_rr2str(rr);
    if (rr) ldns_rr_free(rr);
    // The owner as we print it (ldns leaves '"', '$' and '@' in labels bare); the rest as ldns
    // prints it for the common types whose text holds no escape, and for any other record only
    // when ldns reads the line back to the same bytes (an empty URI target prints as nothing that
    // parses: found by fuzz_xfr_in, as were the owners).
    static constexpr uint16_t faithful[] = {wire::rrtype::A, wire::rrtype::AAAA, wire::rrtype::NS, wire::rrtype::CNAME,
                                            wire::rrtype::PTR, wire::rrtype::MX, wire::rrtype::SOA, wire::rrtype::SRV,
                                            wire::rrtype::DNAME, wire::rrtype::TXT};
    std::string line;
    if (text && std::strstr(text, "\\#") == nullptr && std::strstr(text, "Unknown") == nullptr) {
      const char* tab = std::strchr(text, '\t');
      if (tab) line = wire::name_to_text({reinterpret_cast<const uint8_t*>(r.owner.data()), r.owner.size()}) + tab;
    }
    // ldns prints a '"' inside a name bare, which a zone-file reader takes for the start of a
    // quoted string (found by fuzz_xfr_in: an MX target with a '"' in a label): outside TXT, a
    // quote makes the line untrusted too.
    bool trusted = std::find(std::begin(faithful), std::end(faithful), r.type) != std::end(faithful) &&
                   line.find('\\') == std::string::npos &&
                   (r.type == wire::rrtype::TXT || line.find('"') == std::string::npos);
    if (!line.empty() && !trusted && !reads_back(line, r)) line.clear();
    // A record's comment (its cf_tags) goes after it, on its line, as a file would have it.
    std::string comment;
    if (!r.comment.empty() && r.comment.find_first_of("\n\r") == std::string::npos) comment = " ; " + r.comment;
    if (!line.empty()) {
      while (!line.empty() && line.back() == '\n') line.pop_back();
      out += line + comment + '\n';
    } else {
      static const char* hex = "0123456789abcdef";
      out += wire::name_to_text({reinterpret_cast<const uint8_t*>(r.owner.data()), r.owner.size()}) + "\t" +
             std::to_string(r.ttl) + "\tIN\t" + wire::type_to_text(r.type) + "\t\\# " + std::to_string(r.rdata.size());
      if (!r.rdata.empty()) out += ' ';
      for (unsigned char c : r.rdata) out += hex[c >> 4], out += hex[c & 15];
      out += comment + '\n';
    }
    std::free(text);
  }
  return out;
}

std::vector<Record> load_zone_file(const std::string& path, wire::NameView origin, std::vector<FileStamp>* files,
                                   std::vector<std::string>* warnings) {
  std::string text = read_file(path, "", 0, files);
  return load_zone_text(text, origin, path, files, true, warnings);
}

}  // namespace apexd::zone

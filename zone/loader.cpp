// Zone-file loading: our own entry splitting and directives, ldns for each RR's syntax.
// This is the only file that includes ldns (DESIGN.md).
#include "zone/loader.hpp"

#include <ldns/ldns.h>
#include <sys/stat.h>

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

bool is_in_class(std::string_view t) { return t.size() == 2 && (t[0] | 0x20) == 'i' && (t[1] | 0x20) == 'n'; }

class Loader {
 public:
  Loader(wire::NameView zone_origin, std::vector<FileStamp>* files, bool fast_path)
      : zone_origin_(zone_origin.begin(), zone_origin.end()), files_(files), fast_path_(fast_path) {
    zone_text_ = wire::name_to_text(zone_origin);
    if (!zone_text_.empty()) zone_text_.pop_back();  // "example.com." → "example.com"
  }

  void load_text(std::string_view text, const std::string& file, const std::string& origin,
                 std::optional<uint32_t> dollar_ttl, int depth) {
    std::string current_origin = origin;
    auto file_ref = std::make_shared<const std::string>(file);
    for_each_entry(text, file, [&](const TextEntry& e) {
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
    ++i;
    r.type = *type;
    r.ttl = ttl ? *ttl : dollar_ttl ? *dollar_ttl : last_ttl_ ? *last_ttl_ : 3600;
    std::span<const std::string_view> rdata_tokens(tokens_.data() + i, tokens_.size() - i);
    if (!fast_path_ || !encode_rdata_fast(r.type, rdata_tokens, view(origin), r.rdata))
      r.rdata = rdata_with_ldns(r, rdata_tokens, e, *file, origin);
    if (r.rdata.size() > 65535) throw ZoneError(*file, e.line, "RDATA longer than 65535 bytes");

    auto zone_origin = view(zone_origin_);
    if (!wire::name_is_subdomain(view(r.owner), zone_origin))
      throw ZoneError(*file, e.line, "owner " + wire::name_to_text(view(r.owner)) + " is outside the zone " +
                                         wire::name_to_text(zone_origin));
    r.file = file;
    r.line = e.line;
    r.comment = e.comment;
    last_owner_ = r.owner;
    last_ttl_ = r.ttl;
    records_.push_back(std::move(r));
  }

  // Everything the fast path does not take: ldns parses "owner TTL IN TYPE RDATA" with all
  // fields explicit (so its default-TTL handling never applies) and reports syntax errors.
  std::string rdata_with_ldns(const Record& r, std::span<const std::string_view> rdata_tokens, const TextEntry& e,
                              const std::string& file, const std::string& origin) {
    std::string text = wire::name_to_text(view(r.owner)) + " " + std::to_string(r.ttl) + " IN " + wire::type_to_text(r.type);
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
  if (::stat(path.c_str(), &sb) == 0) {
    st.mtime_ns = int64_t(sb.st_mtim.tv_sec) * 1000000000 + sb.st_mtim.tv_nsec;
    st.size = uint64_t(sb.st_size);
  }
  return st;
}

std::vector<Record> load_zone_text(std::string_view text, wire::NameView origin, const std::string& source,
                                   std::vector<FileStamp>* files, bool fast_path) {
  Loader loader(origin, files, fast_path);
  loader.load_text(text, source, std::string(origin.begin(), origin.end()), std::nullopt, 0);
  return loader.take();
}

std::vector<Record> load_zone_file(const std::string& path, wire::NameView origin, std::vector<FileStamp>* files) {
  std::string text = read_file(path, "", 0, files);
  return load_zone_text(text, origin, path, files);
}

}  // namespace apexd::zone

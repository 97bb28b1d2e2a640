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
  if (text.empty() || !std::isdigit(static_cast<unsigned char>(text[0]))) return std::nullopt;
  const char* end = nullptr;
  uint32_t v = ldns_str2period(text.c_str(), &end);
  if (end == nullptr || *end != '\0') return std::nullopt;
  return v;
}

constexpr uint32_t zero_ttl_stand_in = 0x7FFFFFF1;  // not a TTL anyone writes (RFC 2181 §8 max is 2^31-1)

bool is_class(const std::string& t) {
  std::string u;
  for (char c : t) u += char(std::toupper(static_cast<unsigned char>(c)));
  return u == "IN" || u == "CH" || u == "CS" || u == "HS" || (u.size() > 5 && u.compare(0, 5, "CLASS") == 0);
}

bool is_ttl(const std::string& t) { return parse_ttl(t).has_value(); }

class Loader {
 public:
  Loader(wire::NameView zone_origin, std::vector<FileStamp>* files)
      : zone_origin_(zone_origin.begin(), zone_origin.end()), files_(files) {}

  void load_text(std::string_view text, const std::string& file, const std::string& origin,
                 std::optional<uint32_t> dollar_ttl, int depth) {
    std::string current_origin = origin;
    for (TextEntry& e : split_entries(text, file)) {
      std::vector<std::string> tokens = split_tokens(e.text);
      if (tokens.empty()) continue;
      if (!e.owner_blank && tokens[0][0] == '$') {
        directive(tokens, e, file, current_origin, dollar_ttl, depth);
        continue;
      }
      record(e, file, current_origin, dollar_ttl);
    }
  }

  std::vector<Record> take() { return std::move(records_); }

 private:
  void directive(const std::vector<std::string>& tokens, const TextEntry& e, const std::string& file,
                 std::string& origin, std::optional<uint32_t>& dollar_ttl, int depth) {
    const std::string& d = tokens[0];
    if (d == "$ORIGIN") {
      if (tokens.size() != 2) throw ZoneError(file, e.line, "$ORIGIN takes one domain name");
      auto name = wire::name_from_text(tokens[1], wire::NameView(
          reinterpret_cast<const uint8_t*>(origin.data()), origin.size()));
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
        auto name = wire::name_from_text(tokens[2], wire::NameView(
            reinterpret_cast<const uint8_t*>(origin.data()), origin.size()));
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

  void record(const TextEntry& e, const std::string& file, const std::string& origin,
              const std::optional<uint32_t>& dollar_ttl) {
    std::vector<std::string> tokens = split_tokens(e.text);
    if (e.owner_blank) {
      if (last_owner_.empty()) throw ZoneError(file, e.line, "record without an owner name and no previous owner");
      tokens.insert(tokens.begin(), last_owner_);
    }
    if (!e.owner_blank) tokens[0] = cloudflare_owner(tokens[0]);
    // RFC 1035 §5.1 allows "CLASS TTL" as well as "TTL CLASS"; ldns takes only the latter.
    if (tokens.size() > 3 && is_class(tokens[1]) && is_ttl(tokens[2])) std::swap(tokens[1], tokens[2]);
    std::string text;
    for (const std::string& t : tokens) {
      if (!text.empty()) text += ' ';
      text += t;
    }
    uint32_t default_ttl = dollar_ttl ? *dollar_ttl : (last_ttl_ ? *last_ttl_ : 3600);
    // ldns reads a default TTL of 0 as "none" (and uses 3600): pass a stand-in and map it back.
    const uint32_t ldns_default = default_ttl == 0 ? zero_ttl_stand_in : default_ttl;
    RdfPtr origin_rdf = rdf_from_wire(origin);
    ldns_rr* raw = nullptr;
    ldns_status st = ldns_rr_new_frm_str(&raw, text.c_str(), ldns_default, origin_rdf.get(), nullptr);
    RrPtr rr(raw);
    if (rr && default_ttl == 0 && ldns_rr_ttl(rr.get()) == zero_ttl_stand_in) ldns_rr_set_ttl(rr.get(), 0);
    if (st != LDNS_STATUS_OK || !rr) {
      throw ZoneError(file, e.line, std::string(ldns_get_errorstr_by_id(st)) + " in '" + e.text + "'");
    }
    if (ldns_rr_get_class(rr.get()) != LDNS_RR_CLASS_IN)
      throw ZoneError(file, e.line, "only class IN is served");

    ldns_rdf* owner = ldns_rr_owner(rr.get());
    Record r;
    r.owner.assign(reinterpret_cast<const char*>(ldns_rdf_data(owner)), ldns_rdf_size(owner));
    auto zone_origin = wire::NameView(reinterpret_cast<const uint8_t*>(zone_origin_.data()), zone_origin_.size());
    auto owner_view = wire::NameView(reinterpret_cast<const uint8_t*>(r.owner.data()), r.owner.size());
    if (!wire::name_is_subdomain(owner_view, zone_origin))
      throw ZoneError(file, e.line, "owner " + wire::name_to_text(owner_view) + " is outside the zone " +
                                        wire::name_to_text(zone_origin));
    r.type = ldns_rr_get_type(rr.get());
    r.rclass = ldns_rr_get_class(rr.get());
    r.ttl = ldns_rr_ttl(rr.get());
    std::unique_ptr<ldns_buffer, BufferDeleter> buf(ldns_buffer_new(512));
    if (ldns_rr_rdata2buffer_wire(buf.get(), rr.get()) != LDNS_STATUS_OK)
      throw ZoneError(file, e.line, "cannot encode RDATA");
    r.rdata.assign(reinterpret_cast<const char*>(ldns_buffer_begin(buf.get())), ldns_buffer_position(buf.get()));
    if (r.rdata.size() > 65535) throw ZoneError(file, e.line, "RDATA longer than 65535 bytes");
    r.file = file;
    r.line = e.line;
    r.comment = e.comment;

    char* owner_text = ldns_rdf2str(owner);
    last_owner_ = owner_text ? owner_text : "";
    free(owner_text);
    last_ttl_ = r.ttl;
    records_.push_back(std::move(r));
  }

  // Cloudflare's exports write owners without the trailing dot ("example.com  3600 IN SOA …").
  // Read literally that is example.com.example.com.; a relative owner whose absolute reading
  // already lies in the zone is taken as absolute, so such a zone loads as it is.
  std::string cloudflare_owner(const std::string& owner) const {
    if (owner.empty() || owner == "@" || owner.back() == '.') return owner;
    auto absolute = wire::name_from_text(owner + ".");
    auto origin = wire::NameView(reinterpret_cast<const uint8_t*>(zone_origin_.data()), zone_origin_.size());
    if (absolute && wire::name_is_subdomain({reinterpret_cast<const uint8_t*>(absolute->data()), absolute->size()}, origin))
      return owner + ".";
    return owner;
  }

  std::string zone_origin_;
  std::vector<FileStamp>* files_;
  std::vector<Record> records_;
  std::string last_owner_;
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
                                   std::vector<FileStamp>* files) {
  Loader loader(origin, files);
  loader.load_text(text, source, std::string(origin.begin(), origin.end()), std::nullopt, 0);
  return loader.take();
}

std::vector<Record> load_zone_file(const std::string& path, wire::NameView origin, std::vector<FileStamp>* files) {
  std::string text = read_file(path, "", 0, files);
  return load_zone_text(text, origin, path, files);
}

}  // namespace apexd::zone

// The PowerDNS Authoritative HTTP API (v1) over apexd's zones: routes, JSON shapes, rrset changes.
//
// Shapes and messages follow PowerDNS 4.7 (pdns/ws-auth.cc, docs/http-api, regression-tests.api).
// Where we differ, on purpose: record content is read as a zone file reads it (relative names
// are taken from the root, TXT may be unquoted), `disabled` records are refused (apexd keeps no
// record it does not serve), and a CNAME at a flattened name is reported as ALIAS.
#include "control/pdns_api.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cctype>
#include <map>
#include <optional>
#include <set>

#include "zone/cf_tags.hpp"
#include "zone/loader.hpp"
#include "zone/wire/name.hpp"
#include "zone/wire/types.hpp"

namespace apexd::control {

namespace json = boost::json;
namespace asio = boost::asio;

namespace {

constexpr uint16_t type_alias = zone::tag_rrtype + 1;  // a stand-in while parsing: ALIAS is a flattened CNAME here
constexpr uint32_t default_ttl = 3600;      // PowerDNS's default-ttl
constexpr const char* server_url = "/api/v1/servers/localhost";

struct ApiError {
  unsigned status;
  std::string message;
};

ApiResponse error(unsigned status, std::string message) {
  ApiResponse r;
  r.status = status;
  r.body = json::serialize(json::object{{"error", std::move(message)}});
  return r;
}

ApiResponse ok_json(json::value v, unsigned status = 200) {
  ApiResponse r;
  r.status = status;
  r.body = json::serialize(v);
  return r;
}

ApiResponse no_content() {
  ApiResponse r;
  r.status = 204;
  r.content_type.clear();
  return r;
}

std::string bytes(wire::NameView n) { return std::string(reinterpret_cast<const char*>(n.data()), n.size()); }
wire::NameView view(const std::string& s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

std::string lower_ascii(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string upper_ascii(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = char(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

// "example.org." in lowercase wire form, or an error in PowerDNS's words.
std::string canonical_name(std::string_view text) {
  if (text.empty() || text.back() != '.') throw ApiError{422, "DNS Name '" + std::string(text) + "' is not canonical"};
  std::optional<std::string> w = wire::name_from_text(text);
  if (!w) throw ApiError{422, "Unable to parse DNS Name '" + std::string(text) + "'"};
  return wire::name_lower(view(*w));
}

std::string type_text(uint16_t type) { return type == type_alias ? "ALIAS" : wire::type_to_text(type); }

// ---- zones as JSON ----------------------------------------------------------------------

uint32_t record_ttl(const zone::Zone& z, const std::string& owner, uint16_t type) {
  const zone::Node* n = z.find(view(owner));
  const zone::RRset* s = n ? z.rrset(*n, type) : nullptr;
  return s ? s->ttl : 0;
}

json::object zone_summary(const zone::Zone& z) {
  std::string name = z.origin_text();
  std::string id = zone_id(name);
  json::array masters;
  for (const zone::NotifyTarget& p : z.options().primaries)
    masters.emplace_back(p.port == 53 ? p.host : p.host + ":" + std::to_string(p.port));
  json::object o{{"id", id},
                 {"url", std::string(server_url) + "/zones/" + id},
                 {"name", name},
                 {"type", "Zone"},
                 {"kind", z.options().is_secondary() ? "Slave" : "Native"},
                 {"serial", z.serial()},
                 {"notified_serial", z.serial()},
                 {"edited_serial", z.serial()},
                 {"last_check", 0},
                 {"masters", std::move(masters)},
                 {"dnssec", false},
                 {"account", ""},
                 {"catalog", ""}};
  return o;
}

// Every RR of the zone as PowerDNS rrsets: grouped by name and type in the zone's order, the
// content in presentation form (as ldns prints it, which is canonical: absolute names, TXT
// quoted), proxied and flattened names carrying their cf_tags.
json::array zone_rrsets(const zone::Zone& z) {
  std::vector<zone::JournalRR> rrs = zone::zone_rrs(z);
  std::vector<zone::Record> records = zone::to_records(rrs, nullptr);
  std::string text = zone::records_to_text(records, "");
  json::array out;
  json::object* cur = nullptr;
  std::string cur_owner;
  uint16_t cur_type = 0;
  size_t i = 0, pos = 0;
  while (pos < text.size() && i < rrs.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string_view line(text.data() + pos, nl - pos);
    pos = nl + 1;
    // owner \t ttl \t class \t type \t content
    size_t f = 0;
    for (int k = 0; k < 4 && f != std::string_view::npos; ++k) f = line.find('\t', f == 0 && k == 0 ? 0 : f + 1);
    std::string content = f == std::string_view::npos ? std::string() : std::string(line.substr(f + 1));
    const zone::JournalRR& rr = rrs[i++];
    const zone::Node* n = z.find(view(rr.owner));
    uint16_t flags = n ? n->flags : 0;
    bool apex = n == &z.apex();
    bool proxied = flags & zone::node_proxied;
    bool alias = rr.type == wire::rrtype::CNAME && (flags & zone::node_flattened) &&
                 (apex || z.options().flatten != zone::FlattenMode::all);
    uint16_t shown = alias ? type_alias : rr.type;
    if (!cur || rr.owner != cur_owner || shown != cur_type) {
      cur_owner = rr.owner;
      cur_type = shown;
      json::object set{{"name", wire::name_to_text(view(rr.owner))},
                       {"type", type_text(shown)},
                       {"ttl", record_ttl(z, rr.owner, rr.type)},
                       {"records", json::array{}},
                       {"comments", json::array{}}};
      bool address = rr.type == wire::rrtype::A || rr.type == wire::rrtype::AAAA || rr.type == wire::rrtype::CNAME;
      if (address) set["proxied"] = proxied;
      if (address && proxied)
        set["comments"].as_array().push_back(
            json::object{{"content", "cf_tags=cf-proxied:true"}, {"account", ""}, {"modified_at", 0}});
      out.push_back(std::move(set));
      cur = &out.back().as_object();
    }
    (*cur)["records"].as_array().push_back(json::object{{"content", content}, {"disabled", false}});
  }
  return out;
}

json::object zone_detail(const zone::Zone& z, bool with_rrsets) {
  json::object o = zone_summary(z);
  o["soa_edit_api"] = "DEFAULT";
  o["soa_edit"] = "";
  o["nsec3param"] = "";
  o["nsec3narrow"] = false;
  o["presigned"] = false;
  o["api_rectify"] = false;
  o["master_tsig_key_ids"] = json::array{};
  o["slave_tsig_key_ids"] = json::array{};
  if (with_rrsets) o["rrsets"] = zone_rrsets(z);
  return o;
}

// ---- reading rrsets from JSON ------------------------------------------------------------

const json::value* field(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  return it == o.end() || it->value().is_null() ? nullptr : &it->value();
}

std::string get_string(const json::object& o, std::string_view key) {
  const json::value* v = field(o, key);
  if (!v || !v->is_string()) throw ApiError{422, "Key '" + std::string(key) + "' not present or not a String"};
  return std::string(v->as_string());
}

std::optional<uint32_t> get_u32(const json::object& o, std::string_view key) {
  const json::value* v = field(o, key);
  if (!v) return std::nullopt;
  int64_t n = -1;
  if (v->is_int64()) n = v->as_int64();
  else if (v->is_uint64()) n = v->as_uint64() > 0xffffffffULL ? -1 : int64_t(v->as_uint64());
  else if (v->is_string() && !v->as_string().empty() &&
           std::all_of(v->as_string().begin(), v->as_string().end(), [](char c) { return c >= '0' && c <= '9'; }) &&
           v->as_string().size() < 11)
    n = std::stoll(std::string(v->as_string()));
  else throw ApiError{422, "Key '" + std::string(key) + "' not an Integer or not present"};
  if (n < 0 || n > 0xffffffffLL) throw ApiError{422, "Key '" + std::string(key) + "' is out of range"};
  return uint32_t(n);
}

/// One rrset of a PATCH (or POST) body, checked and parsed.
struct RRsetChange {
  std::string owner;  ///< lowercase wire
  std::string label;  ///< "name IN TYPE", for messages
  uint16_t type = 0;  ///< type_alias for ALIAS
  bool remove = false;
  uint32_t ttl = 0;
  std::optional<std::vector<std::string>> rdatas;  ///< nullopt: records not given (comments only)
  std::optional<bool> proxied, flatten;              ///< from comments or the "proxied" field
};

// The records' content as a zone file line each reads it; relative names are taken from the
// root (PowerDNS wants them absolute: "ns1.example.net" is ns1.example.net., not below the zone).
std::vector<std::string> parse_records(const RRsetChange& c, const std::string& name_text,
                                       const std::vector<std::string>& contents) {
  uint16_t type = c.type == type_alias ? wire::rrtype::CNAME : c.type;
  std::string text;
  for (const std::string& content : contents) {
    if (content.find_first_of("\n\r") != std::string::npos || content.empty())
      throw ApiError{422, "Record " + name_text + "/" + type_text(c.type) + " '" + content + "': Not in expected format"};
    text += name_text + " " + std::to_string(c.ttl) + " IN " + wire::type_to_text(type) + " " + content + "\n";
  }
  std::vector<zone::Record> records;
  try {
    records = zone::load_zone_text(text, wire::NameView(reinterpret_cast<const uint8_t*>("\0"), 1), "api");
  } catch (const zone::ZoneError& e) {
    unsigned line = e.line() ? e.line() - 1 : 0;
    std::string content = line < contents.size() ? contents[line] : std::string();
    std::string why = e.what();
    size_t at = why.find(": ", why.find(':') + 1);
    throw ApiError{422, "Record " + name_text + "/" + type_text(c.type) + " '" + content +
                            "': " + (at == std::string::npos ? why : why.substr(at + 2))};
  }
  std::vector<std::string> out;
  for (zone::Record& r : records) {
    if (std::find(out.begin(), out.end(), r.rdata) != out.end())
      throw ApiError{422, "Duplicate record in RRset " + c.label + " with content \"" +
                              contents[size_t(&r - records.data())] + "\""};
    out.push_back(std::move(r.rdata));
  }
  if ((type == wire::rrtype::CNAME || type == wire::rrtype::SOA || type == wire::rrtype::DNAME) && out.size() > 1)
    throw ApiError{422, "RRset " + c.label + " has more than one record"};
  return out;
}

RRsetChange parse_rrset(const json::value& v, const std::string& origin, bool patch) {
  if (!v.is_object()) throw ApiError{422, "rrsets must be objects"};
  const json::object& o = v.as_object();
  RRsetChange c;
  std::string name_text = get_string(o, "name");
  c.owner = canonical_name(name_text);
  std::string type = upper_ascii(get_string(o, "type"));
  c.label = name_text + " IN " + type;
  if (type == "ALIAS") {
    c.type = type_alias;
  } else {
    std::optional<uint16_t> t = wire::type_from_text(type);
    if (!t) throw ApiError{422, "RRset " + c.label + ": unknown type given"};
    if (*t == wire::rrtype::OPT || *t == 250 /* TSIG */ || *t == wire::rrtype::ANY || *t == wire::rrtype::AXFR ||
        *t == wire::rrtype::IXFR || *t == zone::tag_rrtype || *t == 251 || *t == 253 || *t == 254)
      throw ApiError{422, "RRset " + c.label + ": invalid type given"};
    c.type = *t;
  }
  if (patch) {
    std::string changetype = upper_ascii(get_string(o, "changetype"));
    if (changetype == "DELETE") c.remove = true;
    else if (changetype != "REPLACE") throw ApiError{422, "Changetype not understood"};
  }
  bool in_zone = wire::name_is_subdomain(view(c.owner), view(origin));
  if (c.remove) return c;  // PowerDNS: ttl and records of a DELETE are ignored; out of zone is a no-op
  if (!in_zone) throw ApiError{422, "RRset " + c.label + ": Name is out of zone"};
  if (const json::value* recs = field(o, "records")) {
    if (!recs->is_array()) throw ApiError{422, "RRset " + c.label + ": records must be an array"};
    std::optional<uint32_t> ttl = get_u32(o, "ttl");
    if (!ttl) throw ApiError{422, "Key 'ttl' not an Integer or not present"};
    c.ttl = *ttl;
    std::vector<std::string> contents;
    for (const json::value& r : recs->as_array()) {
      if (!r.is_object()) throw ApiError{422, "RRset " + c.label + ": records must be objects"};
      const json::value* d = field(r.as_object(), "disabled");
      if (d && !d->is_bool()) throw ApiError{422, "Key 'disabled' not present or not a Bool"};
      if (d && d->as_bool())
        throw ApiError{422, "RRset " + c.label + ": disabled records are not supported (apexd keeps only what it serves)"};
      contents.push_back(get_string(r.as_object(), "content"));
    }
    c.rdatas = parse_records(c, name_text, contents);
  }
  if (const json::value* cm = field(o, "comments")) {
    if (!cm->is_array()) throw ApiError{422, "RRset " + c.label + ": comments must be an array"};
    bool proxied = false, flatten = false;
    for (const json::value& x : cm->as_array()) {
      if (!x.is_object()) throw ApiError{422, "RRset " + c.label + ": comments must be objects"};
      zone::CfTags tags = zone::parse_cf_tags(get_string(x.as_object(), "content"));
      proxied |= tags.proxied.value_or(false);
      flatten |= tags.flatten_cname;
    }
    c.proxied = proxied;
    c.flatten = flatten;
  }
  if (const json::value* p = field(o, "proxied")) {
    if (!p->is_bool()) throw ApiError{422, "Key 'proxied' not a Bool"};
    c.proxied = p->as_bool();
  }
  if (!c.rdatas && !c.proxied && !c.flatten) throw ApiError{422, "No change for RRset " + c.label};
  bool address = c.type == wire::rrtype::A || c.type == wire::rrtype::AAAA || c.type == wire::rrtype::CNAME ||
                 c.type == type_alias;
  if (c.proxied && *c.proxied && !address)
    throw ApiError{422, "RRset " + c.label + ": only A, AAAA, CNAME and ALIAS records can be proxied"};
  return c;
}

// ---- applying rrset changes to a zone -----------------------------------------------------

using RRsetKey = std::pair<std::string, uint16_t>;  // owner, type

// The zone after `changes`, applied in order (an earlier DELETE clears the way for a later
// REPLACE, as PowerDNS applies them in one transaction), the serial moved by the zone's policy
// unless the body set a larger one.
zone::ZoneEdit apply_changes(const zone::Zone& z, const std::vector<RRsetChange>& changes, int64_t now) {
  std::map<RRsetKey, std::vector<zone::JournalRR>> sets;
  std::set<std::pair<std::string, uint8_t>> tags;
  zone::JournalRR soa;
  for (zone::JournalRR& rr : zone::tagged_zone_rrs(z)) {
    if (rr.type == zone::tag_rrtype) tags.emplace(rr.owner, uint8_t(rr.rdata[0]));
    else if (rr.type == wire::rrtype::SOA && rr.owner == bytes(z.origin()) && soa.owner.empty()) soa = std::move(rr);
    else sets[{rr.owner, rr.type}].push_back(std::move(rr));
  }
  zone::ZoneEdit edit;
  uint32_t old_serial = z.serial();
  std::optional<uint32_t> serial_given;
  for (const RRsetChange& c : changes) {
    uint16_t type = c.type == type_alias ? wire::rrtype::CNAME : c.type;
    RRsetKey key{c.owner, type};
    if (c.remove) {
      if (type == wire::rrtype::SOA && c.owner == soa.owner) {
        edit.rcode = 5;
        edit.why = "RRset " + c.label + ": the zone's SOA cannot be deleted";
        return edit;
      }
      auto it = sets.find(key);
      if (it != sets.end()) edit.removed += it->second.size(), sets.erase(it);
      if (c.type == type_alias) tags.erase({c.owner, zone::tag_flatten_cname});
      continue;
    }
    if (c.rdatas) {
      if (type == wire::rrtype::SOA) {
        if (c.owner != soa.owner || c.rdatas->size() != 1) {
          edit.rcode = 5;
          edit.why = "RRset " + c.label + ": an SOA only at the apex, exactly one";
          return edit;
        }
        soa.rdata = c.rdatas->front();
        soa.ttl = c.ttl;
        size_t at = zone::soa_serial_offset({reinterpret_cast<const uint8_t*>(soa.rdata.data()), soa.rdata.size()});
        serial_given = uint32_t(uint8_t(soa.rdata[at])) << 24 | uint32_t(uint8_t(soa.rdata[at + 1])) << 16 |
                       uint32_t(uint8_t(soa.rdata[at + 2])) << 8 | uint8_t(soa.rdata[at + 3]);
        ++edit.added;
      } else {
        auto it = sets.find(key);
        if (it != sets.end()) edit.removed += it->second.size(), sets.erase(it);
        std::vector<zone::JournalRR> rrs;
        for (const std::string& rd : *c.rdatas) rrs.push_back({c.owner, type, c.ttl, rd});
        edit.added += rrs.size();
        if (!rrs.empty()) sets[key] = std::move(rrs);
      }
    }
    if (type == wire::rrtype::CNAME) {
      bool flatten = c.type == type_alias || c.flatten.value_or(false);
      if (flatten) tags.emplace(c.owner, zone::tag_flatten_cname);
      else if (c.rdatas) tags.erase({c.owner, zone::tag_flatten_cname});  // a plain CNAME given again: not flattened
    }
    if (c.proxied) {
      if (*c.proxied) tags.emplace(c.owner, zone::tag_proxied);
      else tags.erase({c.owner, zone::tag_proxied});
    }
  }
  // RFC 1034 §3.6.2: a CNAME is alone at its name (the apex CNAME apexd flattens beside the SOA
  // and NS is judged by the zone's own rules when it compiles).
  for (auto it = sets.begin(); it != sets.end(); ++it) {
    if (it->first.second != wire::rrtype::CNAME || it->first.first == soa.owner) continue;
    auto first = sets.lower_bound({it->first.first, 0});
    for (auto o = first; o != sets.end() && o->first.first == it->first.first; ++o) {
      if (o->first.second == wire::rrtype::CNAME || o->first.second == wire::rrtype::RRSIG ||
          o->first.second == wire::rrtype::NSEC)
        continue;
      edit.rcode = 5;
      edit.why = "RRset " + wire::name_to_text(view(it->first.first)) + " IN CNAME: Conflicts with pre-existing RRset";
      return edit;
    }
  }
  if (!serial_given || !zone::serial_greater(*serial_given, old_serial)) {
    uint32_t next = zone::next_serial(old_serial, z.options().serial, now);
    zone::set_soa_serial(soa.rdata, next);
  }
  std::vector<zone::JournalRR> after;
  after.push_back(std::move(soa));
  for (auto& [key, rrs] : sets)
    for (zone::JournalRR& rr : rrs) after.push_back(std::move(rr));
  for (const auto& [owner, tag] : tags) {
    auto first = sets.lower_bound({owner, 0});
    bool applies = false;
    for (auto o = first; o != sets.end() && o->first.first == owner; ++o) applies |= zone::tag_applies(tag, o->first.second);
    if (applies) after.push_back({owner, zone::tag_rrtype, 0, std::string(1, char(tag))});
  }
  for (const zone::Zone::AsideRecord& a : z.aside()) after.push_back({a.owner, a.type, a.ttl, a.rdata});
  if (edit.added == 0 && edit.removed == 0) {
    // Tags alone may have changed: compare with what the zone has.
    std::vector<zone::JournalRR> before = zone::tagged_zone_rrs(z);
    auto tag_set = [](const std::vector<zone::JournalRR>& v) {
      std::set<std::pair<std::string, std::string>> out;
      for (const zone::JournalRR& rr : v)
        if (rr.type == zone::tag_rrtype) out.emplace(rr.owner, rr.rdata);
      return out;
    };
    if (tag_set(before) == tag_set(after)) return edit;  // nothing to change
  }
  edit.after = std::move(after);
  return edit;
}

// ---- zone creation -------------------------------------------------------------------------

// The master-file text of a new zone from a POST body: the SOA (PowerDNS's default content, with
// the first nameserver as MNAME when there is one), the NS from `nameservers`, the rrsets, or the
// body's `zone` text.
std::string new_zone_text(const json::object& body, const std::string& name_text, const std::string& origin,
                          int64_t now) {
  const json::value* ns = field(body, "nameservers");
  std::vector<std::string> nameservers;
  if (ns) {
    if (!ns->is_array()) throw ApiError{422, "Nameservers is not a list"};
    for (const json::value& n : ns->as_array()) {
      if (!n.is_string() || n.as_string().empty()) throw ApiError{422, "Nameservers must be non-empty strings"};
      std::string text(n.as_string());
      if (text.back() != '.' || !wire::name_from_text(text))
        throw ApiError{422, "Nameserver is not canonical: '" + text + "'"};
      nameservers.push_back(text);
    }
  }
  if (const json::value* zt = field(body, "zone")) {
    if (field(body, "rrsets")) throw ApiError{422, "You cannot give rrsets AND zone data as text"};
    if (!zt->is_string()) throw ApiError{422, "Key 'zone' not a String"};
    std::string text(zt->as_string());
    if (lower_ascii(text).find("$include") != std::string::npos)
      throw ApiError{422, "$INCLUDE is not allowed in zone data given through the API"};
    return "$ORIGIN " + name_text + "\n" + text + (text.empty() || text.back() == '\n' ? "" : "\n");
  }
  std::vector<RRsetChange> rrsets;
  bool apex_ns = false, has_soa = false;
  if (const json::value* rs = field(body, "rrsets")) {
    if (!rs->is_array()) throw ApiError{422, "rrsets must be an array"};
    for (const json::value& v : rs->as_array()) {
      RRsetChange c = parse_rrset(v, origin, false);
      if (!c.rdatas) continue;
      apex_ns |= c.type == wire::rrtype::NS && c.owner == origin;
      has_soa |= c.type == wire::rrtype::SOA;
      rrsets.push_back(std::move(c));
    }
  }
  if (apex_ns && !nameservers.empty())
    throw ApiError{422, "Nameservers list MUST NOT be mixed with zone-level NS in rrsets"};
  std::optional<uint32_t> serial = get_u32(body, "serial");
  std::string text = "; created through apexd's HTTP API\n";
  if (!has_soa) {
    std::string mname = nameservers.empty() ? "a.misconfigured.dns.server.invalid." : nameservers.front();
    uint32_t s = zone::next_serial(serial.value_or(0), zone::SerialPolicy::dateserial, now);
    text += name_text + " " + std::to_string(default_ttl) + " IN SOA " + mname + " hostmaster." +
            (name_text == "." ? "" : name_text) + " " + std::to_string(s) + " 10800 3600 604800 3600\n";
  }
  for (const std::string& n : nameservers) text += name_text + " " + std::to_string(default_ttl) + " IN NS " + n + "\n";
  // The parsed records written back as text (absolute names), with their tags as cf_tags.
  std::vector<zone::Record> records;
  std::vector<std::string> comments;
  for (RRsetChange& c : rrsets) {
    uint16_t type = c.type == type_alias ? wire::rrtype::CNAME : c.type;
    std::string comment;
    if (c.proxied.value_or(false)) comment = "cf_tags=cf-proxied:true";
    else if (c.type == type_alias || c.flatten.value_or(false)) comment = "cf_tags=cf-flatten-cname";
    for (std::string& rd : *c.rdatas) {
      zone::Record r;
      r.owner = c.owner;
      r.type = type;
      r.ttl = c.ttl;
      r.rdata = std::move(rd);
      r.comment = comment;
      records.push_back(std::move(r));
    }
  }
  return text + zone::records_to_text(records, "");
}

// ---- routes -------------------------------------------------------------------------------

json::object server_object() {
  return json::object{{"type", "Server"},
                      {"id", "localhost"},
                      {"daemon_type", "authoritative"},
                      {"version", pdns_compatible_version},
                      {"url", server_url},
                      {"config_url", std::string(server_url) + "/config{/config_setting}"},
                      {"zones_url", std::string(server_url) + "/zones{/zone}"}};
}

json::value parse_body(std::string_view body) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec || !v.is_object()) throw ApiError{400, "Bad Request"};
  return v;
}

std::shared_ptr<const zone::Zone> find_zone(const ApiBackend& b, const std::string& id, std::string& origin) {
  std::optional<std::string> name = zone_id_to_name(id);
  if (!name) throw ApiError{400, "Bad Request"};
  std::optional<std::string> w = wire::name_from_text(*name);
  if (!w) throw ApiError{404, "Not Found"};
  origin = wire::name_lower(view(*w));
  std::shared_ptr<const zone::Zone> z = b.zones()->shared_exact(view(origin));
  if (!z) throw ApiError{404, "Not Found"};
  return z;
}

asio::awaitable<ApiResponse> zones_route(const ApiRequest& req, std::string_view query, const ApiBackend& b) {
  if (req.method == "GET") {
    auto set = b.zones();
    json::array out;
    std::string only = query_param(query, "zone");
    if (!only.empty()) {
      std::string origin = canonical_name(only);
      if (auto z = set->shared_exact(view(origin))) out.push_back(zone_summary(*z));
      co_return ok_json(std::move(out));
    }
    for (const auto& z : set->zones()) out.push_back(zone_summary(*z));
    co_return ok_json(std::move(out));
  }
  if (req.method != "POST") co_return error(405, "Method Not Allowed");
  json::value v = parse_body(req.body);
  const json::object& body = v.as_object();
  std::string name_text = get_string(body, "name");
  std::string origin = canonical_name(name_text);
  name_text = wire::name_to_text(view(origin));
  std::string kind = lower_ascii(get_string(body, "kind"));
  if (kind == "slave" || kind == "secondary" || kind == "consumer" || kind == "producer")
    throw ApiError{422, "kind " + get_string(body, "kind") +
                            " is not supported: apexd's API creates primary zones (configure secondaries in the config)"};
  if (const json::value* d = field(body, "dnssec"); d && d->is_bool() && d->as_bool())
    throw ApiError{422, "DNSSEC is not supported yet"};
  if (b.zones()->shared_exact(view(origin))) throw ApiError{409, "Conflict"};
  std::string text = new_zone_text(body, name_text, origin, b.now());
  auto [status, why] = co_await b.create(name_text, text);
  if (status) co_return error(status, why);
  auto z = b.zones()->shared_exact(view(origin));
  if (!z) co_return error(500, "the zone was created but is not served");
  co_return ok_json(zone_detail(*z, query_param(query, "rrsets") != "false"), 201);
}

asio::awaitable<ApiResponse> zone_route(const ApiRequest& req, std::string_view id, std::string_view rest,
                                        std::string_view query, const ApiBackend& b) {
  std::string origin;
  std::shared_ptr<const zone::Zone> z = find_zone(b, std::string(id), origin);
  if (rest == "/notify") {
    if (req.method != "PUT") co_return error(405, "Method Not Allowed");
    b.notify(z);
    co_return ok_json(json::object{{"result", "Notification queued"}});
  }
  if (rest == "/export") {
    if (req.method != "GET") co_return error(405, "Method Not Allowed");
    // As a zone file: proxied and flattened names with their cf_tags.
    std::string text = zone::records_to_text(zone::tagged_to_records(zone::tagged_zone_rrs(*z), nullptr), "");
    if (req.accept.find("application/json") != std::string_view::npos) co_return ok_json(json::object{{"zone", text}});
    ApiResponse r;
    r.body = std::move(text);
    r.content_type = "text/plain; charset=us-ascii";
    co_return r;
  }
  if (rest == "/cryptokeys" || rest == "/metadata") {
    if (req.method != "GET") co_return error(405, "Method Not Allowed");
    co_return ok_json(json::array{});
  }
  if (rest == "/rectify") co_return ok_json(json::object{{"result", "Rectified"}});
  if (!rest.empty()) co_return error(404, "Not Found");
  if (req.method == "GET") {
    std::string rrsets = query_param(query, "rrsets");
    if (!rrsets.empty() && rrsets != "true" && rrsets != "false")
      throw ApiError{422, "'rrsets' request parameter value '" + rrsets + "' is not supported"};
    co_return ok_json(zone_detail(*z, rrsets != "false"));
  }
  if (req.method == "DELETE") {
    auto [status, why] = co_await b.remove(origin);
    if (status) co_return error(status, why);
    co_return no_content();
  }
  if (req.method == "PUT") {
    // Zone metadata: apexd keeps none of PowerDNS's; a kind it cannot be is refused.
    json::value v = parse_body(req.body);
    if (const json::value* k = field(v.as_object(), "kind"); k && k->is_string()) {
      std::string kind = lower_ascii(k->as_string());
      bool secondary = z->options().is_secondary();
      if ((kind == "slave" || kind == "secondary") != secondary && !kind.empty())
        throw ApiError{422, "kind " + std::string(k->as_string()) + " is not what apexd serves this zone as"};
    }
    co_return no_content();
  }
  if (req.method != "PATCH") co_return error(405, "Method Not Allowed");
  if (z->options().is_secondary()) throw ApiError{422, "zone " + z->origin_text() + " is a secondary zone: change it at its primary"};
  json::value v = parse_body(req.body);
  const json::value* rs = field(v.as_object(), "rrsets");
  if (!rs || !rs->is_array()) throw ApiError{422, "No rrsets given in update request"};
  std::vector<RRsetChange> changes;
  std::set<RRsetKey> seen;
  for (const json::value& r : rs->as_array()) {
    RRsetChange c = parse_rrset(r, origin, true);
    if (!seen.emplace(c.owner, c.type).second) throw ApiError{422, "Duplicate RRset " + c.label};
    changes.push_back(std::move(c));
  }
  int64_t now = b.now();
  // Named, and capturing only a pointer into this frame (which outlives the edit): g++ 12
  // destroys a lambda temporary with non-trivial captures in a co_await expression twice.
  const std::vector<RRsetChange>* list = &changes;
  zone::MakeEdit make = [list, now](const zone::Zone& current) { return apply_changes(current, *list, now); };
  std::pair<uint16_t, std::string> result = co_await b.edit(origin, std::move(make));
  auto& [rcode, why] = result;
  if (rcode == 9) throw ApiError{404, "Not Found"};  // NOTAUTH: deleted meanwhile
  if (rcode == 2) throw ApiError{500, why};
  if (rcode != 0) throw ApiError{422, why};
  co_return no_content();
}

asio::awaitable<ApiResponse> route(const ApiRequest& req, const ApiBackend& b) {
  std::string_view target = req.target;
  std::string_view query;
  if (size_t q = target.find('?'); q != std::string_view::npos) {
    query = target.substr(q + 1);
    target = target.substr(0, q);
  }
  while (target.size() > 1 && target.back() == '/') target.remove_suffix(1);
  if (target == "/api") co_return ok_json(json::array{json::object{{"url", "/api/v1"}, {"version", 1}}});
  if (target == "/api/v1")
    co_return ok_json(json::array{json::object{{"server_url", "/api/v1/servers{/server}"}, {"api_features", json::array{}}}});
  if (target == "/api/v1/servers") co_return ok_json(json::array{server_object()});
  std::string_view prefix = server_url;
  if (target.substr(0, prefix.size()) != prefix) co_return error(404, "Not Found");
  std::string_view rest = target.substr(prefix.size());
  if (rest.empty()) co_return ok_json(server_object());
  if (rest == "/zones") co_return co_await zones_route(req, query, b);
  if (rest.substr(0, 7) == "/zones/") {
    rest.remove_prefix(7);
    size_t slash = rest.find('/');
    std::string id = percent_decode(rest.substr(0, slash));
    std::string_view more = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
    co_return co_await zone_route(req, id, more, query, b);
  }
  if (rest == "/config") co_return ok_json(json::array{});
  if (rest == "/statistics") co_return ok_json(json::array{});
  co_return error(404, "Not Found");
}

}  // namespace

std::string percent_decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += char(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string query_param(std::string_view query, std::string_view key) {
  for (size_t pos = 0; pos <= query.size();) {
    size_t amp = std::min(query.find('&', pos), query.size());
    std::string_view kv = query.substr(pos, amp - pos);
    size_t eq = kv.find('=');
    if (kv.substr(0, eq) == key) {
      std::string v(eq == std::string_view::npos ? std::string_view() : kv.substr(eq + 1));
      std::replace(v.begin(), v.end(), '+', ' ');  // form encoding
      return percent_decode(v);
    }
    pos = amp + 1;
  }
  return {};
}

std::string zone_id(std::string_view name_text) {
  std::string out;
  static const char* hex = "0123456789ABCDEF";
  for (unsigned char c : name_text) {
    if (std::isalnum(c) || c == '.' || c == '-') {
      out += char(c);
    } else {
      out += '=';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  if (out.empty() || out.back() != '.') out += '.';
  return out;
}

std::optional<std::string> zone_id_to_name(std::string_view id) {
  std::string out;
  for (size_t i = 0; i < id.size(); ++i) {
    if (id[i] != '=') {
      out += id[i];
      continue;
    }
    auto hexval = [](char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1; };
    if (i + 2 >= id.size() + 0 || hexval(id[i + 1]) < 0 || hexval(id[i + 2]) < 0) return std::nullopt;
    out += char(hexval(id[i + 1]) * 16 + hexval(id[i + 2]));
    i += 2;
  }
  if (out.empty() || out.back() != '.') out += '.';
  return out;
}

asio::awaitable<ApiResponse> handle_api(const ApiRequest& req, const ApiBackend& backend) {
  std::optional<ApiError> failed;
  try {
    co_return co_await route(req, backend);
  } catch (const ApiError& e) {
    failed = e;
  } catch (const std::exception& e) {
    failed = ApiError{500, e.what()};
  }
  co_return error(failed->status, failed->message);
}

}  // namespace apexd::control

// Tests for zone/wire/name: text ↔ wire, case-insensitive equality, canonical order, label helpers.
#include "zone/wire/name.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "support/dns_test.hpp"
#include "zone/wire/types.hpp"

using namespace apexd;
using apexd::test::view;
using apexd::test::wire_name;

namespace {

// Wire form built from labels, so expected bytes need no escapes: labels({"www", "example"}).
std::string labels(std::initializer_list<std::string> ls) {
  std::string out;
  for (const auto& l : ls) {
    out += char(l.size());
    out += l;
  }
  out += '\0';
  return out;
}

std::optional<std::string> from_text(std::string_view text, const std::string& origin = {}) {
  return wire::name_from_text(text, view(origin));
}

}  // namespace

TEST_CASE("name_from_text: accepted names and their wire form") {
  const std::string origin = labels({"example", "com"});
  struct Case {
    std::string text;
    bool relative_to_origin;  // parse with origin example.com.
    std::string wire;
  };
  const std::string l63(63, 'a');
  const std::string l61(61, 'b');
  const std::vector<Case> cases = {
      {"example.com.", false, labels({"example", "com"})},
      {"EXAMPLE.Com.", false, labels({"EXAMPLE", "Com"})},  // case kept
      {".", false, std::string(1, '\0')},
      {"www", true, labels({"www", "example", "com"})},
      {"a.b", true, labels({"a", "b", "example", "com"})},
      {"www.example.org.", true, labels({"www", "example", "org"})},  // absolute ignores the origin
      {"@", true, labels({"example", "com"})},
      {"a\\.b.example.", false, labels({"a.b", "example"})},
      {"\\065bc.", false, labels({"Abc"})},
      {"\\000.", false, labels({std::string(1, '\0')})},
      {"\\255x.", false, labels({"\xff" "x"})},
      {"a\\\\b.", false, labels({"a\\b"})},
      {"a\\ b.", false, labels({"a b"})},
      {"*.example.", false, labels({"*", "example"})},
      {l63 + ".", false, labels({l63})},
      // 3 × 64 + 62 + 1 = 255 bytes: the longest name.
      {l63 + "." + l63 + "." + l63 + "." + l61 + ".", false, labels({l63, l63, l63, l61})},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text);
    auto got = from_text(c.text, c.relative_to_origin ? origin : std::string());
    REQUIRE(got.has_value());
    CHECK(*got == c.wire);
    CHECK(wire::name_is_valid(view(*got)));
  }
}

TEST_CASE("name_from_text: rejected names") {
  const std::string origin = labels({"example", "com"});
  const std::string l63(63, 'a');
  const std::string l62(62, 'b');
  struct Case {
    std::string text;
    bool with_origin;
    std::string why;
  };
  const std::vector<Case> cases = {
      {"", true, "empty text"},
      {"@", false, "@ without an origin"},
      {"www", false, "relative name without an origin"},
      {"a..b.", false, "empty label in the middle"},
      {".a.", false, "empty first label"},
      {"..", false, "only empty labels"},
      {std::string(64, 'a') + ".", false, "label of 64 bytes"},
      {std::string(64, 'a'), true, "relative label of 64 bytes"},
      {l63 + "." + l63 + "." + l63 + "." + l62 + ".", false, "name of 256 bytes"},
      // 3 × 64 + 51 = 243 bytes, plus 13 for example.com. = 256.
      {l63 + "." + l63 + "." + l63 + "." + std::string(50, 'c'), true, "too long once the origin is appended"},
      {"a\\", false, "escape at the end"},
      {"\\06.", false, "\\DDD with a non-digit"},
      {"\\06", false, "\\DDD cut short"},
      {"\\256.", false, "\\DDD above 255"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text);
    CAPTURE(c.why);
    CHECK_FALSE(from_text(c.text, c.with_origin ? origin : std::string()).has_value());
  }
}

TEST_CASE("name_to_text: presentation form and round trip") {
  struct Case {
    std::string wire;
    std::string text;
  };
  const std::vector<Case> cases = {
      {std::string(1, '\0'), "."},
      {labels({"www", "Example", "com"}), "www.Example.com."},
      {labels({"a.b", "example"}), "a\\.b.example."},
      {labels({"a b"}), "a\\032b."},
      {labels({std::string(1, '\x01'), "z"}), "\\001.z."},
      {labels({"\xc8", "z"}), "\\200.z."},
      {labels({"a\\b"}), "a\\\\b."},
      {labels({"q\"t"}), "q\\\"t."},
      {labels({"semi;colon"}), "semi\\;colon."},
      {labels({"(p)"}), "\\(p\\)."},
      {labels({"at@", "dollar$"}), "at\\@.dollar\\$."},
      {labels({"*", "example"}), "*.example."},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text);
    CHECK(wire::name_to_text(view(c.wire)) == c.text);
    auto back = wire::name_from_text(c.text);
    REQUIRE(back.has_value());
    CHECK(*back == c.wire);
  }
}

TEST_CASE("name_equal ignores ASCII case only") {
  struct Case {
    std::string a;
    std::string b;
    bool equal;
  };
  const std::vector<Case> cases = {
      {"example.com.", "example.com.", true},
      {"Example.COM.", "eXAMPLE.com.", true},
      {"WWW.example.com.", "www.EXAMPLE.COM.", true},
      {"example.com.", "example.org.", false},
      {"example.com.", "www.example.com.", false},
      {"a.example.", "b.example.", false},
      {"ab.example.", "a.bexample.", false},  // same letters, other label boundaries
      {"\\195.", "\\227.", false},             // 0xC3 vs 0xE3: not ASCII letters, no case folding
      {"[.", "{.", false},                     // 0x5B vs 0x7B differ by 32 but are not letters
      {".", ".", true},
  };
  for (const Case& c : cases) {
    CAPTURE(c.a);
    CAPTURE(c.b);
    std::string a = wire_name(c.a), b = wire_name(c.b);
    CHECK(wire::name_equal(view(a), view(b)) == c.equal);
    CHECK(wire::name_equal(view(b), view(a)) == c.equal);
  }
}

TEST_CASE("name_lower and name_to_lower lowercase ASCII letters only") {
  std::string n = wire_name("WwW.Ex\\200Mple.COM.");
  std::string lower = wire::name_lower(view(n));
  CHECK(lower == labels({"www", "ex\xc8mple", "com"}));
  std::string out(n.size(), '?');
  wire::name_to_lower(view(n), reinterpret_cast<uint8_t*>(out.data()));
  CHECK(out == lower);
}

TEST_CASE("name_canonical_compare follows RFC 4034 §6.1") {
  // The example list of RFC 4034 §6.1, already in canonical order.
  const std::vector<std::string> ordered = {
      "example.",         "a.example.",    "yljkjljk.a.example.", "Z.a.example.",   "zABC.a.EXAMPLE.",
      "z.example.",       "\\001.z.example.", "*.z.example.",     "\\200.z.example.",
  };
  std::vector<std::string> wires;
  for (const auto& t : ordered) wires.push_back(wire_name(t));

  for (size_t i = 0; i < wires.size(); ++i) {
    for (size_t j = 0; j < wires.size(); ++j) {
      CAPTURE(ordered[i]);
      CAPTURE(ordered[j]);
      int c = wire::name_canonical_compare(view(wires[i]), view(wires[j]));
      if (i < j) CHECK(c < 0);
      if (i == j) CHECK(c == 0);
      if (i > j) CHECK(c > 0);
    }
  }

  // Sorting any shuffle gives the RFC order back.
  std::vector<std::string> shuffled = wires;
  std::mt19937 rng(4034);
  for (int round = 0; round < 20; ++round) {
    std::shuffle(shuffled.begin(), shuffled.end(), rng);
    std::sort(shuffled.begin(), shuffled.end(), [](const std::string& a, const std::string& b) {
      return wire::name_canonical_compare(view(a), view(b)) < 0;
    });
    CHECK(shuffled == wires);
  }
}

TEST_CASE("name_canonical_compare: case-insensitive and label-wise") {
  struct Case {
    std::string a;
    std::string b;
    int sign;
  };
  const std::vector<Case> cases = {
      {"zABC.a.EXAMPLE.", "zabc.a.example.", 0},
      {".", ".", 0},
      {".", "com.", -1},
      {"a.b.", "b.", 1},          // more labels after an equal suffix sort later
      {"aa.b.", "a.b.", 1},       // a label that is a prefix of another sorts first
      {"b.a.", "a.b.", -1},       // the rightmost label decides first
      {"a-b.example.", "a.example.", 1},
      {"Z.example.", "a.example.", 1},  // 'z' > 'a' once lowercased (not 'Z' < 'a')
  };
  for (const Case& c : cases) {
    CAPTURE(c.a);
    CAPTURE(c.b);
    std::string a = wire_name(c.a), b = wire_name(c.b);
    int got = wire::name_canonical_compare(view(a), view(b));
    int sign = (got > 0) - (got < 0);
    CHECK(sign == c.sign);
  }
}

TEST_CASE("name_strip, name_label_count, name_is_subdomain, name_is_wildcard") {
  SUBCASE("strip removes leading labels and stops at the root") {
    struct Case {
      std::string name;
      size_t strip;
      std::string expected;
    };
    const std::vector<Case> cases = {
        {"www.example.com.", 0, "www.example.com."}, {"www.example.com.", 1, "example.com."},
        {"www.example.com.", 2, "com."},             {"www.example.com.", 3, "."},
        {"www.example.com.", 7, "."},                {".", 1, "."},
    };
    for (const Case& c : cases) {
      CAPTURE(c.name);
      CAPTURE(c.strip);
      std::string n = wire_name(c.name);
      auto s = wire::name_strip(view(n), c.strip);
      CHECK(std::string(s.begin(), s.end()) == wire_name(c.expected));
    }
  }
  SUBCASE("label_count does not count the root") {
    struct Case {
      std::string name;
      size_t count;
    };
    const std::vector<Case> cases = {{".", 0}, {"com.", 1}, {"www.example.com.", 3}, {"*.a.b.c.d.", 5}};
    for (const Case& c : cases) {
      CAPTURE(c.name);
      std::string n = wire_name(c.name);
      CHECK(wire::name_label_count(view(n)) == c.count);
    }
    std::string deepest;
    for (int i = 0; i < 127; ++i) deepest += "\1a";
    deepest += '\0';
    CHECK(deepest.size() == 255);
    CHECK(wire::name_label_count(view(deepest)) == wire::max_labels);
  }
  SUBCASE("is_subdomain compares whole labels, case-insensitively") {
    struct Case {
      std::string name;
      std::string parent;
      bool below;
    };
    const std::vector<Case> cases = {
        {"www.example.com.", "example.com.", true},
        {"example.com.", "example.com.", true},
        {"WWW.Example.COM.", "example.com.", true},
        {"a.b.c.example.com.", "c.example.com.", true},
        {"example.com.", "www.example.com.", false},
        {"wwwexample.com.", "example.com.", false},
        {"example.org.", "example.com.", false},
        {"anything.", ".", true},
        {".", "com.", false},
    };
    for (const Case& c : cases) {
      CAPTURE(c.name);
      CAPTURE(c.parent);
      std::string n = wire_name(c.name), p = wire_name(c.parent);
      CHECK(wire::name_is_subdomain(view(n), view(p)) == c.below);
    }
  }
  SUBCASE("is_wildcard only for a leading `*` label") {
    struct Case {
      std::string name;
      bool wildcard;
    };
    const std::vector<Case> cases = {
        {"*.example.", true}, {"*.", true},         {"a*.example.", false},
        {"a.*.example.", false}, {"**.example.", false}, {"example.", false}, {".", false},
    };
    for (const Case& c : cases) {
      CAPTURE(c.name);
      std::string n = wire_name(c.name);
      CHECK(wire::name_is_wildcard(view(n)) == c.wildcard);
    }
  }
}

TEST_CASE("name_is_valid rejects malformed wire names") {
  struct Case {
    std::string wire;
    bool valid;
    std::string why;
  };
  const std::vector<Case> cases = {
      {labels({"example", "com"}), true, "normal"},
      {std::string(1, '\0'), true, "root"},
      {"", false, "empty"},
      {std::string("\3com", 4), false, "no root label"},
      {labels({"com"}) + "x", false, "bytes after the root label"},
      {std::string("\x40") + std::string(64, 'a') + std::string(1, '\0'), false, "label of 64"},
      {std::string("\5ab", 3), false, "label runs past the end"},
      {std::string("\xc0\x0c", 2), false, "compression pointer"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.why);
    CHECK(wire::name_is_valid(view(c.wire)) == c.valid);
  }
}

TEST_CASE("NameBuf holds a copy of a name") {
  std::string n = wire_name("www.example.com.");
  wire::NameBuf b;
  CHECK(b.len == 0);
  b.assign(view(n));
  CHECK(b.len == n.size());
  CHECK(std::string(b.view().begin(), b.view().end()) == n);
}

TEST_CASE("type and rcode mnemonics") {
  struct TypeCase {
    std::string text;
    std::optional<uint16_t> type;
  };
  const std::vector<TypeCase> types = {
      {"A", 1},           {"aaaa", 28},        {"Cname", 5},    {"CAA", 257},   {"TYPE65400", 65400},
      {"type1", 1},       {"TYPE65535", 65535}, {"TYPE65536", {}}, {"TYPE", {}},  {"TYPEx1", {}},
      {"BOGUS", {}},      {"", {}},
  };
  for (const auto& c : types) {
    CAPTURE(c.text);
    CHECK(wire::type_from_text(c.text) == c.type);
  }
  CHECK(wire::type_to_text(wire::rrtype::NAPTR) == "NAPTR");
  CHECK(wire::type_to_text(65400) == "TYPE65400");
  CHECK(wire::rcode_to_text(wire::rcode::NXDOMAIN) == "NXDOMAIN");
  CHECK(wire::rcode_to_text(wire::rcode::BADVERS) == "BADVERS");
  CHECK(wire::rcode_to_text(23) == "RCODE23");
}

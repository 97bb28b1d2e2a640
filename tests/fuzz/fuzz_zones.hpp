// Shared fixture for the fuzz targets: zones exercising every answer path, edges and a resolver.
#pragma once
#include <stdlib.h>

#include <memory>
#include <string>

#include "resolver/alias_resolver.hpp"
#include "crypto/dnssec_key.hpp"
#include "server/flattener.hpp"
#include "server/online_signer.hpp"
#include "server/query_handler.hpp"
#include "zone/loader.hpp"
#include "zone/zone.hpp"
#include "zone/zone_set.hpp"

namespace apexd::fuzz {

inline const char* example_zone = R"($ORIGIN example.com.
$TTL 300
@ SOA ns1 hostmaster 1 7200 3600 1209600 60
@ NS ns1
@ NS ns.sub
@ MX 10 mail
@ TXT "v=spf1 -all"
@ CNAME app.platform.test.
ns1 A 192.0.2.53
mail A 192.0.2.25
www CNAME app.platform.test. ; cf_tags=cf-proxied:true
ext CNAME far.example.net. ; cf_tags=cf-flatten-cname
alias CNAME mail
loop1 CNAME loop2
loop2 CNAME loop1
*.wild A 192.0.2.80
*.wc CNAME x.wc
dn DNAME platform.test.
sub NS ns.sub
ns.sub A 192.0.2.99
big TXT "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
big TXT "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
big TXT "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
big TXT "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
big TXT "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
big TXT "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
srv SRV 0 0 443 mail
)";

inline const char* platform_zone = R"($ORIGIN platform.test.
$TTL 60
@ SOA ns hostmaster 1 7200 3600 1209600 60
@ NS ns
ns A 192.0.2.1
app A 198.51.100.10
app AAAA 2001:db8::10
)";

struct World {
  std::shared_ptr<const zone::ZoneSet> zones;
  server::EdgeAddresses edges;
  resolver::ForwardUpstream upstream{resolver::UpstreamOptions{}};  // never called: handle_query only probes
  resolver::AliasResolver resolver{resolver::CacheOptions{}, upstream};
  // example.com. is signed online (DO=1 queries exercise signing and compact denial).
  server::SignerTable signers;
  crypto::SignatureCache signature_cache{4096, 4};
  server::SigningStats signing_stats;

  World() {
    auto load = [](const char* origin, const char* text, zone::ZoneOptions opts) {
      std::string o = *wire::name_from_text(origin);
      wire::NameView v(reinterpret_cast<const uint8_t*>(o.data()), o.size());
      return zone::compile_zone(v, zone::load_zone_text(text, v, origin), origin, opts);
    };
    zone::ZoneOptions all;
    all.flatten = zone::FlattenMode::all;
    zone::ZoneOptions signed_zone;
    signed_zone.dnssec = true;
    zones = std::make_shared<const zone::ZoneSet>(std::vector<std::shared_ptr<const zone::Zone>>{
        load("example.com.", example_zone, signed_zone), load("platform.test.", platform_zone, all)});
    char dir[] = "/tmp/apexd-fuzz-keys-XXXXXX";
    if (mkdtemp(dir)) {
      std::string o = *wire::name_from_text("example.com.");
      wire::NameView v(reinterpret_cast<const uint8_t*>(o.data()), o.size());
      crypto::generate_key(dir, v, crypto::DnssecAlgorithm::ecdsap256sha256, 257, 1764800000);
      signers.add(server::make_zone_keys(v, crypto::read_zone_keys(dir, v)));
    }
    edges.ipv4 = {std::string("\xcb\x00\x71\x0a", 4)};
    edges.ipv6 = {std::string(16, '\x20')};
  }

  server::HandlerOptions options() {
    server::HandlerOptions o;
    o.alias.resolver = &resolver;
    o.alias.edges = &edges;
    o.unix_now = 1764800000;  // fixed: a signature made now is the one the cache replays
    o.signing.table = &signers;
    o.signing.cache = &signature_cache;
    o.signing.stats = &signing_stats;
    return o;
  }
};

}  // namespace apexd::fuzz

// Cloudflare's per-record tags, read from a zone file's trailing comment (`; cf_tags=cf-proxied:true`).
#pragma once
#include <optional>
#include <string_view>

namespace apexd::zone {

/// The tags apexd understands; unknown tags are ignored.
struct CfTags {
  std::optional<bool> proxied;  ///< cf-proxied:true / cf-proxied:false
  bool flatten_cname = false;   ///< cf-flatten-cname
};

/// Parses `cf_tags=` in a comment: comma-separated `name` or `name:value`, values optionally
/// quoted, an optional free-text comment before ` cf_tags=`. Anything unparseable is ignored.
CfTags parse_cf_tags(std::string_view comment);

}  // namespace apexd::zone

// Zones created and deleted through the HTTP API: a [[zone]] table and a zone file each, in
// state_dir/zones/, read back by every start and reload like an included config file.
#pragma once
#include <memory>
#include <string>

#include "server/updates.hpp"
#include "zone/zone.hpp"

namespace apexd::server {

class ApiZones {
 public:
  /// `dir` is api_zone_dir(config); `defaults` the validated [control.zone_defaults] TOML text.
  ApiZones(std::string dir, std::string defaults, Updates& updates);

  struct Result {
    unsigned status = 0;  ///< 0: done; else the HTTP status of the failure (409, 422, 500)
    std::string error;
  };

  /// Creates the zone `origin_text` from master-file `text` (absolute names): the zone file and
  /// its table are written (temp, fsync, rename: the table last, so a crash leaves no table
  /// without its file), the zone loaded as a reload would and published. On the change thread.
  Result create(const std::string& origin_text, const std::string& text);

  /// Deletes an API-created zone: its table first (from then on a restart does not serve it),
  /// then its file and change log; the zone stops being served. On the change thread.
  Result remove(const zone::Zone& z);

  /// Updates the defaults a reload read.
  void set_defaults(std::string defaults) { defaults_ = std::move(defaults); }

 private:
  std::string dir_, defaults_;
  Updates& updates_;
};

}  // namespace apexd::server

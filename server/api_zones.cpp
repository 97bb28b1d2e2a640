// Zones created and deleted through the HTTP API: a [[zone]] table and a zone file each, in
// state_dir/zones/, read back by every start and reload like an included config file.
#include "server/api_zones.hpp"

#include <unistd.h>

#include <spdlog/spdlog.h>
#include <toml++/toml.h>

#include <filesystem>
#include <sstream>

#include "server/config.hpp"
#include "server/durable_file.hpp"
#include "server/journals.hpp"

namespace apexd::server {

ApiZones::ApiZones(std::string dir, std::string defaults, Updates& updates)
    : dir_(std::move(dir)), defaults_(std::move(defaults)), updates_(updates) {}

ApiZones::Result ApiZones::create(const std::string& origin_text, const std::string& text) {
  std::string base = dir_ + "/" + zone_state_name(origin_text);
  std::string zone_file = base + "zone", table_file = base + "toml";
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) return {500, dir_ + ": " + ec.message()};
  if (std::filesystem::exists(table_file, ec)) return {409, "Conflict"};
  toml::table table;
  try {
    table = toml::parse(std::string_view(defaults_), std::string_view("control.zone_defaults"));
  } catch (const toml::parse_error& e) {
    return {500, std::string("control.zone_defaults: ") + std::string(e.description())};
  }
  table.insert_or_assign("origin", origin_text);
  table.insert_or_assign("file", std::filesystem::path(zone_file).filename().string());
  toml::array zones;
  zones.push_back(std::move(table));
  toml::table root;
  root.insert("zone", std::move(zones));
  std::ostringstream toml_text;
  toml_text << "# Created through apexd's HTTP API; deleted through it (DELETE .../zones/" << origin_text << ").\n"
            << toml::toml_formatter(root) << "\n";

  std::string error;
  if (!write_file_atomically(zone_file, text, error)) return {500, error};
  std::string tmp = write_temp(table_file, toml_text.str(), error);
  if (tmp.empty()) {
    ::unlink(zone_file.c_str());
    return {500, error};
  }
  std::shared_ptr<const zone::Zone> z;
  try {
    ZoneConfig zc = read_api_zone(tmp);
    wire::NameView origin(reinterpret_cast<const uint8_t*>(zc.origin.data()), zc.origin.size());
    z = zone::load_zone(zc.file, origin, zc.options);
  } catch (const std::exception& e) {
    ::unlink(tmp.c_str());
    ::unlink(zone_file.c_str());
    return {422, e.what()};
  }
  if (::rename(tmp.c_str(), table_file.c_str()) != 0) {
    ::unlink(tmp.c_str());
    ::unlink(zone_file.c_str());
    return {500, "cannot write " + table_file};
  }
  fsync_folder(table_file);
  updates_.add_zone(z);
  spdlog::info("event=zone_created zone={} serial={} records={} file={}", z->origin_text(), z->serial(), z->record_count(),
               zone_file);
  return {};
}

ApiZones::Result ApiZones::remove(const zone::Zone& z) {
  if (!z.options().api_created)
    return {422, "zone " + z.origin_text() + " is configured in the config file, not created through the API: remove it there"};
  std::string base = dir_ + "/" + zone_state_name(z.origin_text());
  std::string origin(reinterpret_cast<const char*>(z.origin().data()), z.origin().size());
  std::string text = z.origin_text();
  if (::unlink((base + "toml").c_str()) != 0 && errno != ENOENT) return {500, "cannot delete " + base + "toml"};
  fsync_folder(base + "toml");
  ::unlink((base + "zone").c_str());
  updates_.remove_zone(origin);
  spdlog::info("event=zone_deleted zone={}", text);
  return {};
}

}  // namespace apexd::server

// apexd command line: serve, check a configuration, print the version.
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstring>
#include <iostream>
#include <string>

#include "server/config.hpp"
#include "server/server.hpp"
#include "zone/record.hpp"

namespace {

constexpr const char* usage =
    "Usage: apexd [--config FILE]         serve the zones of FILE (default /etc/apexd/apexd.toml)\n"
    "       apexd check [--config FILE]   load the config and every zone, report errors, exit\n"
    "       apexd --version | --help\n";

}  // namespace

int main(int argc, char** argv) {
  std::string config_path = "/etc/apexd/apexd.toml";
  bool check = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "check") {
      check = true;
    } else if ((a == "--config" || a == "-c") && i + 1 < argc) {
      config_path = argv[++i];
    } else if (a.rfind("--config=", 0) == 0) {
      config_path = a.substr(9);
    } else if (a == "--version" || a == "-V") {
      std::cout << "apexd " << APEXD_VERSION << "\n";
      return 0;
    } else if (a == "--help" || a == "-h") {
      std::cout << usage;
      return 0;
    } else {
      std::cerr << "apexd: unknown argument '" << a << "'\n" << usage;
      return 2;
    }
  }

  auto logger = spdlog::stderr_color_mt("apexd");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");

  apexd::server::Config cfg;
  apexd::server::ConfigCache config_cache;
  try {
    cfg = apexd::server::load_config(config_path, &config_cache);
    if (!cfg.log_file.empty() && !check) {
      auto file_logger = spdlog::basic_logger_mt("apexd-file", cfg.log_file);
      spdlog::set_default_logger(file_logger);
      spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %l %v");
      spdlog::flush_every(std::chrono::seconds(1));
    }
    spdlog::set_level(spdlog::level::from_str(cfg.log_level));
    if (cfg.log_queries) {
      auto base = spdlog::default_logger();
      auto queries = std::make_shared<spdlog::logger>("queries", base->sinks().begin(), base->sinks().end());
      queries->set_level(spdlog::level::info);
      spdlog::register_logger(queries);
    }
    if (check) {
      spdlog::set_level(spdlog::level::off);  // errors and warnings are printed below, once
      std::vector<std::string> warnings;
      std::shared_ptr<const apexd::zone::ZoneSet> zones;
      try {
        zones = apexd::server::load_zones(cfg, &warnings);
      } catch (...) {
        for (const std::string& w : warnings) std::cerr << "warning: " << w << "\n";
        throw;
      }
      for (const std::string& w : warnings) std::cerr << "warning: " << w << "\n";
      for (const std::string& w : apexd::server::serving_warnings(cfg, *zones)) std::cerr << "warning: " << w << "\n";
      std::cout << config_path << ": OK (" << cfg.zones.size() << " zones)\n";
      return 0;
    }
    return apexd::server::run_server(cfg, std::move(config_cache));
  } catch (const apexd::server::ConfigError& e) {
    std::cerr << "error: " << e.what() << "\n";
  } catch (const apexd::zone::ZoneError& e) {
    std::cerr << "error: " << e.what() << "\n";
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
  }
  return 1;
}

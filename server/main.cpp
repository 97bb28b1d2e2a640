// apexd command line: serve, check a configuration, print the version.
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstring>
#include <iostream>
#include <string>

#include "server/config.hpp"
#include "server/server.hpp"
#include "server/zone_keys.hpp"
#include "zone/record.hpp"

namespace {

constexpr const char* usage =
    "Usage: apexd [--config FILE]         serve the zones of FILE (default /etc/apexd/apexd.toml)\n"
    "       apexd check [--config FILE]   load the config and every zone, report errors, exit\n"
    "       apexd keygen --dir DIR [--algorithm ecdsap256sha256|ed25519] [--ksk|--zsk]\n"
    "                    [--publish TIME] [--activate TIME] ZONE   (TIME: YYYYMMDDHHMMSS or +N[smhdw])\n"
    "                                     write a DNSSEC key pair as BIND's dnssec-keygen does (default: a KSK/CSK)\n"
    "       apexd ds [--config FILE] ZONE   print the DS records of the zone's KSKs, for the parent\n"
    "       apexd --version | --help\n";

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// apexd keygen --dir DIR [--algorithm A] [--ksk|--zsk] ZONE
int keygen_command(int argc, char** argv) {
  std::string dir, zone, algorithm = "ecdsap256sha256", publish, activate;
  bool ksk = true;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--dir" && i + 1 < argc) dir = argv[++i];
    else if ((a == "--algorithm" || a == "-a") && i + 1 < argc) algorithm = argv[++i];
    else if (a == "--publish" && i + 1 < argc) publish = argv[++i];
    else if (a == "--activate" && i + 1 < argc) activate = argv[++i];
    else if (a == "--ksk") ksk = true;
    else if (a == "--zsk") ksk = false;
    else if (!a.empty() && a[0] != '-' && zone.empty()) zone = a;
    else {
      std::cerr << "apexd keygen: unexpected argument '" << a << "'\n" << usage;
      return 2;
    }
  }
  auto alg = apexd::crypto::dnssec_algorithm_from_text(algorithm);
  if (dir.empty() || zone.empty() || !alg) {
    std::cerr << "apexd keygen: needs --dir DIR and a ZONE; --algorithm is ecdsap256sha256 or ed25519\n" << usage;
    return 2;
  }
  int64_t now = unix_now();
  std::optional<int64_t> pub_at, act_at;
  if (!publish.empty() && !(pub_at = apexd::crypto::parse_key_time(publish, now))) {
    std::cerr << "apexd keygen: --publish takes YYYYMMDDHHMMSS or +N[smhdw]\n";
    return 2;
  }
  if (!activate.empty() && !(act_at = apexd::crypto::parse_key_time(activate, now))) {
    std::cerr << "apexd keygen: --activate takes YYYYMMDDHHMMSS or +N[smhdw]\n";
    return 2;
  }
  try {
    std::cout << apexd::server::keygen(dir, zone, *alg, ksk, now, pub_at, act_at) << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}

// apexd ds [--config FILE] ZONE
int ds_command(int argc, char** argv, std::string config_path) {
  std::string zone;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if ((a == "--config" || a == "-c") && i + 1 < argc) config_path = argv[++i];
    else if (a.rfind("--config=", 0) == 0) config_path = a.substr(9);
    else if (!a.empty() && a[0] != '-' && zone.empty()) zone = a;
    else {
      std::cerr << "apexd ds: unexpected argument '" << a << "'\n" << usage;
      return 2;
    }
  }
  if (zone.empty()) {
    std::cerr << "apexd ds: which zone?\n" << usage;
    return 2;
  }
  try {
    apexd::server::Config cfg = apexd::server::load_config(config_path);
    for (const std::string& line : apexd::server::ds_records(cfg, zone)) std::cout << line << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path = "/etc/apexd/apexd.toml";
  if (argc > 1 && std::string(argv[1]) == "keygen") return keygen_command(argc, argv);
  if (argc > 1 && std::string(argv[1]) == "ds") return ds_command(argc, argv, config_path);
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
      (void)apexd::server::load_signer_table(cfg, false, unix_now());  // keys readable and matching (none made)
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

#!/usr/bin/env bash
# Installs the Debian 12 packages apexd needs: build tools and libraries, and with --test
# the peers the tests run against (knotd, unbound, dig, kdig, drill, dnsperf, dnspython);
# with --bench also PowerDNS and gnuplot for the side-by-side benchmarks.
set -euo pipefail

packages=(build-essential cmake ninja-build pkg-config
          libldns-dev libboost1.81-dev libtomlplusplus-dev libspdlog-dev doctest-dev)
case "${1:-}" in
  --test) packages+=(knot nsd unbound bind9-dnsutils knot-dnsutils ldnsutils dnsperf python3 python3-dnspython) ;;
  --bench) packages+=(knot nsd unbound bind9-dnsutils knot-dnsutils dnsperf python3 python3-dnspython
                      pdns-server pdns-backend-bind gnuplot-nox util-linux) ;;
esac

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if (( ${#missing[@]} )); then
  echo "install-deps: installing ${missing[*]}"
  if [[ $(id -u) -ne 0 ]]; then sudo=sudo; else sudo=; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

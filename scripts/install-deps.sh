#!/usr/bin/env bash
# Installs the Debian 12 packages apexd needs: build tools and libraries and dig, and with --test
# (or --bench) the peers the tests and benchmarks run against: knotd, nsd, unbound, PowerDNS,
# named, named-checkzone, kdig, drill, dnsperf, dnspython, gnuplot, and the ACME client/CA pair
# (lego, certbot with its rfc2136 plugin, pebble) the certificate tests run offline.
set -euo pipefail

packages=(build-essential cmake ninja-build pkg-config
          libldns-dev libboost1.81-dev libboost-json1.81-dev libtomlplusplus-dev libspdlog-dev doctest-dev libssl-dev
          bind9-dnsutils)  # dig, for the README's examples (a fresh Debian 12 has none)
case "${1:-}" in
  --test|--bench)
    packages+=(knot nsd unbound bind9 bind9-utils knot-dnsutils ldnsutils dnsperf python3 python3-dnspython
               pdns-server pdns-backend-bind gnuplot-nox util-linux curl dpkg-dev adduser
               clang-14 libclang-rt-14-dev lego pebble certbot python3-certbot-dns-rfc2136) ;;
esac

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if (( ${#missing[@]} )); then
  echo "install-deps: installing ${missing[*]}"
  if [[ $(id -u) -ne 0 ]]; then sudo=sudo; else sudo=; fi
  $sudo apt-get update -qq
  # The peers are only run by the tests, on high ports: keep their packages from starting
  # system services (knotd, nsd, unbound and pdns would all want port 53).
  policy=/usr/sbin/policy-rc.d
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee $policy >/dev/null
    $sudo chmod 755 $policy
    trap '$sudo rm -f '"$policy" EXIT
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

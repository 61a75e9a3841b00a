#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Prints how many Debian packages, and how much installed size, each role of
# scripts/install-deps.sh adds to a minimal Debian 12 system (what the
# debian:12 container image holds: the Essential and Priority: required
# packages with their dependencies). Nothing is installed: apt-get resolves
# each role with --simulate against a dpkg status file that lists only that
# base system, and the sizes are the packages' Installed-Size fields.
#   scripts/deps-footprint.sh [ROLE...]    (default: runtime build test bench)
# Needs the apt package lists (apt-get update) of the machine it runs on;
# the figures are for those lists' versions and this machine's architecture.
set -euo pipefail
cd "$(dirname "$0")/.."
roles=("$@")
[ ${#roles[@]} -gt 0 ] || roles=(runtime build test bench)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
: >"$tmp/empty"

# simulate ROLE-PACKAGES... against the status file $status: prints the
# packages apt would install, one per line
simulate() {
    apt-get -s -o Dir::State::status="$status" -o Debug::NoLocking=1 \
        install --no-install-recommends "$@" 2>/dev/null | awk '/^Inst /{print $2}'
}

# the base system: Essential and required packages resolved from nothing
mapfile -t seed < <(apt-cache dumpavail | awk -v RS= '/\nPriority: required/ || /\nEssential: yes/' |
                    awk '/^Package: /{print $2}' | sort -u)
status=$tmp/empty
simulate "${seed[@]}" | sort -u >"$tmp/base.list"
# a status file marking those packages installed (versions from the lists)
apt-cache show $(cat "$tmp/base.list") 2>/dev/null | awk -v RS= -v ORS='\n\n' '
    !seen[$2]++ { sub(/\n/, "\nStatus: install ok installed\n"); print }' >"$tmp/status"
status=$tmp/status
printf 'base system: %d packages\n' "$(wc -l <"$tmp/base.list")"

for r in "${roles[@]}"; do
    mapfile -t pkgs < <(scripts/install-deps.sh --list "--$r")
    simulate "${pkgs[@]}" | sort -u >"$tmp/$r.list"
    mib=$(apt-cache show $(cat "$tmp/$r.list") 2>/dev/null | awk -v RS= '
        { split($0, l, "\n"); p = ""; s = 0
          for (i in l) { if (l[i] ~ /^Package: /) p = substr(l[i], 10)
                         if (l[i] ~ /^Installed-Size: /) s = substr(l[i], 17) }
          if (!(p in seen)) { seen[p] = 1; t += s } }
        END { printf "%.0f", t / 1024 }')
    printf '%-8s %3d packages asked, %4d installed, %5d MiB\n' "$r" "${#pkgs[@]}" \
        "$(wc -l <"$tmp/$r.list")" "$mib"
done

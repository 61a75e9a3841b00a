#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs the Debian 12 packages intent needs, by role (run as root, or with
# sudo available). Roles add up: --test includes the build set, --bench too.
#
#   scripts/install-deps.sh            build and run: compiler, pkg-config and
#                                      the -dev packages of OpenBLAS (OpenMP
#                                      build), libcurl, libmicrohttpd, jansson,
#                                      utf8proc, libyaml, zlib, libpng, OpenSSL,
#                                      and Open MPI (libopenmpi-dev, and mpirun
#                                      from openmpi-bin: multi-process
#                                      training; `make MPI=0` builds without)
#   scripts/install-deps.sh --runtime  only the shared libraries build/intent
#                                      loads, for a machine that runs a binary
#                                      built elsewhere (no compiler); with
#                                      libopenmpi3 for a binary built with MPI
#                                      (the default) and openmpi-bin for mpirun
#   scripts/install-deps.sh --test     build + what `make check`, `make fuzz`,
#                                      `make tsan-test` and `make valgrind`
#                                      use: python3-torch and numpy (golden
#                                      data, torch.load interoperability),
#                                      curl (HTTP tests), clang + libFuzzer
#                                      runtime, libomp + the pthread OpenBLAS
#                                      (ThreadSanitizer with Archer), valgrind,
#                                      groff (man page check), chromium + node
#                                      (the /docs page in a real browser),
#                                      haproxy + wrk (replicas behind a load
#                                      balancer under load, tests/e2e/lb.sh)
#   scripts/install-deps.sh --bench    build + what bench/ runs: wrk (HTTP
#                                      load), GNU time (peak memory),
#                                      python3-torch, FastAPI and uvicorn for
#                                      the reference implementation
#   scripts/install-deps.sh --list ROLE...   print the packages, install nothing
#
# INTENT_DEPS_BENCH=1 is the same as --bench (older spelling). Figures for
# each role (package count, installed size) are in README.md, measured with
# scripts/deps-footprint.sh.
set -euo pipefail

runtime_pkgs=(libopenblas0-openmp libgomp1 libcurl4 libmicrohttpd12 libjansson4 libutf8proc2
              libyaml-0-2 zlib1g libpng16-16 libssl3 ca-certificates libopenmpi3 openmpi-bin)
build_pkgs=(build-essential pkg-config
            libopenblas-openmp-dev libcurl4-openssl-dev libmicrohttpd-dev libjansson-dev
            libutf8proc-dev libyaml-dev zlib1g-dev libpng-dev libssl-dev ca-certificates
            libopenmpi-dev openmpi-bin)
test_pkgs=(python3 python3-torch python3-numpy curl clang libclang-rt-14-dev libomp-dev
           libopenblas-pthread-dev valgrind groff-base chromium nodejs haproxy wrk python3-yaml)
bench_pkgs=(python3 python3-torch python3-numpy wrk time python3-fastapi python3-uvicorn
            python3-uvloop python3-httptools libopenblas0-openmp)

usage() {
    awk 'NR > 2 && /^set / { exit } NR > 2' "$0" | sed 's/^# \{0,1\}//'
}

list=0
roles=()
for a in "$@"; do
    case $a in
        --runtime) roles+=(runtime) ;;
        --test) roles+=(test) ;;
        --bench) roles+=(bench) ;;
        --build) roles+=(build) ;;
        --list) list=1 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "install-deps.sh: unknown option '$a' (try --help)" >&2; exit 2 ;;
    esac
done
if [ "${INTENT_DEPS_BENCH:-0}" = 1 ]; then roles+=(bench); fi
if [ ${#roles[@]} -eq 0 ]; then roles=(build); fi

pkgs=()
for r in "${roles[@]}"; do
    case $r in
        runtime) pkgs+=("${runtime_pkgs[@]}") ;;
        build) pkgs+=("${build_pkgs[@]}") ;;
        test) pkgs+=("${build_pkgs[@]}" "${test_pkgs[@]}") ;;
        bench) pkgs+=("${build_pkgs[@]}" "${bench_pkgs[@]}") ;;
    esac
done
mapfile -t pkgs < <(printf '%s\n' "${pkgs[@]}" | sort -u)

if [ $list = 1 ]; then
    printf '%s\n' "${pkgs[@]}"
    exit 0
fi

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps.sh: all ${#pkgs[@]} packages for '${roles[*]}' are installed"
    exit 0
fi
SUDO=
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends "${missing[@]}"

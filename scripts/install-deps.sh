#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs what intent needs to build and test on Debian 12 (run as root or
# with sudo available). Runtime: OpenBLAS (OpenMP build), libcurl,
# libmicrohttpd, jansson, utf8proc. Tests: clang (libFuzzer: libclang-rt-14-dev),
# Debian's python3-torch for golden data and interoperability checks,
# libomp-dev + libopenblas-pthread-dev (ThreadSanitizer of the OpenMP kernels
# with Archer, scripts/tsan-test.sh) and valgrind (scripts/valgrind.sh).
# Set INTENT_DEPS_BENCH=1 to add what bench/ uses (wrk, hyperfine, FastAPI).
set -euo pipefail
SUDO=
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
pkgs=(build-essential pkg-config clang
      libopenblas-openmp-dev libcurl4-openssl-dev libmicrohttpd-dev libjansson-dev
      libutf8proc-dev libyaml-dev zlib1g-dev libssl-dev python3 python3-torch python3-numpy curl ca-certificates
      libclang-rt-14-dev libomp-dev libopenblas-pthread-dev valgrind)
if [ "${INTENT_DEPS_BENCH:-0}" = 1 ]; then
    pkgs+=(wrk hyperfine python3-fastapi python3-uvicorn python3-psutil libopenblas0-openmp
              python3-uvloop python3-httptools)
fi
missing=()
for p in "${pkgs[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update
    $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi

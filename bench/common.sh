# SPDX-License-Identifier: Apache-2.0
# common.sh - shell helpers shared by the bench/bench_*.sh scripts (sourced).
# Sets: PY (Debian's python3 with torch when present), OMPBLAS (the OpenMP
# OpenBLAS directory the reference runs with), RUNS (BENCH_RUNS, default 3).

PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3 || echo python3)
OMPBLAS=/usr/lib/$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)/openblas-openmp
RUNS=${BENCH_RUNS:-3}

# ref_torch_ok: true when the reference's python can import torch.
ref_torch_ok() { "$PY" -c 'import torch' 2>/dev/null; }

# ref_env: the environment the reference runs in (its best configuration:
# OpenMP OpenBLAS sharing torch's thread pool), as NAME=VALUE words for env.
ref_env() {
    if [ -d "$OMPBLAS" ]; then echo "LD_LIBRARY_PATH=$OMPBLAS"; else echo "IC_BENCH_BLAS=default"; fi
}

# loadavg: the 1-minute load average.
loadavg() { cut -d' ' -f1 /proc/loadavg; }

# bench_cc BUILD SRC OUT: compiles a bench program against BUILD/libintent.a
# with the Makefile's flags (make print-fuzz-flags). Rebuilds when stale.
bench_cc() {
    local build=$1 src=$2 out=$3 flags cflags libs
    if [ -x "$out" ] && [ "$out" -nt "$src" ] && [ "$out" -nt "$build/libintent.a" ]; then
        return 0
    fi
    flags=$(make -s --no-print-directory print-fuzz-flags BUILD="$build") || return 1
    cflags=$(printf '%s\n' "$flags" | sed -n 's/^CFLAGS=//p')
    libs=$(printf '%s\n' "$flags" | sed -n 's/^LIBS=//p')
    mkdir -p "$(dirname "$out")"
    # shellcheck disable=SC2086
    cc $cflags "$src" "$build/libintent.a" $libs -o "$out"
}

# vmhwm PID: peak resident set of a live process in KiB (0 when gone).
vmhwm() { awk '/^VmHWM:/ {print $2; f=1} END {if (!f) print 0}' "/proc/$1/status" 2>/dev/null || echo 0; }

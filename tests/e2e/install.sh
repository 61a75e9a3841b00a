#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# install.sh - `make install` into a temporary DESTDIR: the files are there
# (binary, libintent.so with its soname links, libintent.a, headers,
# intent.pc, a man page per command that groff renders without warnings,
# bash completion that completes commands and options, the dataset); the
# installed binary runs from another directory and finds its dataset, and a
# copy without the dataset says how to pass --data; a C program builds
# against the installed library with `pkg-config --cflags --libs intent`,
# dynamically and statically, and runs; `make uninstall` leaves no file.
#   bash tests/e2e/install.sh BUILD_DIR
set -u
build=${1:-build}
cd "$(dirname "$0")/../.."
root=$(pwd)
tmp=$(mktemp -d /tmp/intent-install-e2e.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
ok() { echo "ok install_$1"; }
fail() { echo "FAIL install_$1: $2"; }
skip() { echo "skip install_$1: $2"; }

# the build's sanitizer (build/address -> address), so make reuses its objects
san=
case $build in
    */address|*/undefined|*/thread) san=${build##*/} ;;
esac
sanflags=
case $san in
    address) sanflags="-fsanitize=address,undefined" ;;
    undefined) sanflags="-fsanitize=undefined" ;;
    thread) sanflags="-fsanitize=thread" ;;
esac
# keep the dataset directory the build compiled in (no relink here)
datadir=$(cat "$build/datadir" 2>/dev/null || echo /usr/local/share/intent)
prefix=/usr/local
D=$tmp/root
mk() { make -s -C "$root" BUILD="$build" SANITIZER="$san" PREFIX=$prefix DATADIR="$datadir" \
            DESTDIR="$D" "$@"; }

if ! mk install >"$tmp/install.log" 2>&1; then
    fail make_install "$(tail -5 "$tmp/install.log")"
    exit 1
fi

P=$D$prefix
missing=
for f in bin/intent lib/libintent.a lib/libintent.so lib/libintent.so.0 lib/pkgconfig/intent.pc \
         include/intent/ic.h include/intent/tokenizer.h share/man/man1/intent.1 \
         share/bash-completion/completions/intent; do
    [ -e "$P/$f" ] || missing="$missing $f"
done
[ -e "$D$datadir/dataset_v2.json" ] || missing="$missing $datadir/dataset_v2.json"
for c in src/cli/cmd_*.c; do
    c=${c#src/cli/cmd_}; c=${c%.c}
    [ -s "$P/share/man/man1/intent-$c.1" ] || missing="$missing share/man/man1/intent-$c.1"
done
for h in include/intent/*.h; do
    [ -e "$P/$h" ] || missing="$missing $h"
done
soname=$(readelf -d "$P/lib/libintent.so" 2>/dev/null | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
if [ -z "$missing" ] && [ "$soname" = libintent.so.0 ] && [ -L "$P/lib/libintent.so" ] &&
   [ -x "$P/bin/intent" ]; then
    ok files
else
    fail files "missing:$missing; soname '$soname'"
fi

# man pages: groff parses each without a warning, and the train page lists
# the options (generated from --help) and the dataset lookup
if command -v groff >/dev/null; then
    bad=
    for m in "$P"/share/man/man1/*.1; do
        w=$(groff -man -Tutf8 -ww -z "$m" 2>&1)
        [ -z "$w" ] || bad="$bad $(basename "$m"): $w"
    done
    page=$(groff -man -Tutf8 "$P/share/man/man1/intent-train.1" 2>/dev/null | sed 's/.\x08//g')
    top=$(groff -man -Tutf8 "$P/share/man/man1/intent.1" 2>/dev/null | sed 's/.\x08//g')
    if [ -z "$bad" ] && printf '%s' "$page" | grep -q -- '--learning-rate' &&
       printf '%s' "$page" | grep -q -- '--data' &&
       printf '%s' "$page" | grep -qF "$datadir/dataset_v2.json" &&
       printf '%s' "$top" | grep -q 'intent-serve(1)'; then
        ok man
    else
        fail man "warnings:$bad; or the train page lacks --learning-rate/--data/$datadir"
    fi
else
    skip man "groff is not installed (apt-get install groff-base)"
fi

# bash completion, with the installed program
out=$(cd "$tmp" && bash -c '
    source "$1"
    c() { COMP_WORDS=("$2" "${@:3}"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _intent; echo "${COMPREPLY[*]}"; }
    c x "$2" ""; c x "$2" tr; c x "$2" train --learn; c x "$2" serve --ev
' _ "$P/share/bash-completion/completions/intent" "$P/bin/intent" 2>&1)
want="train pretrain eval calibrate predict serve tokenize vocab download
train
--learning-rate
--event-loop"
if [ "$(printf '%s\n' "$out" | head -1 | tr ' ' '\n' | sort | tr '\n' ' ')" = \
     "$(printf '%s\n' "$want" | head -1 | tr ' ' '\n' | sort | tr '\n' ' ')" ] &&
   [ "$(printf '%s\n' "$out" | tail -3)" = "$(printf '%s\n' "$want" | tail -3)" ]; then
    ok completion
else
    fail completion "got: $out"
fi

# the installed binary, from an unrelated directory: help, and the bundled
# dataset found next to it (bin/../share/intent)
mkdir -p "$tmp/elsewhere"
cd "$tmp/elsewhere"
h=$("$P/bin/intent" train --help 2>&1)
cfg=$("$P/bin/intent" train --print-config 2>&1)
if printf '%s' "$h" | grep -q -- '--data' &&
   printf '%s' "$cfg" | grep -qF "data: $D$datadir/dataset_v2.json"; then
    ok run_elsewhere
elif [ "$datadir" != "$prefix/share/intent" ]; then
    skip run_elsewhere "DATADIR $datadir is not under PREFIX, so not next to the binary"
else
    fail run_elsewhere "help: $(printf '%s' "$h" | head -2); config: $(printf '%s' "$cfg" | grep '^data')"
fi

# a copy of the binary with no dataset anywhere: a clear message, exit 2
mkdir -p "$tmp/lone/bin"
cp "$P/bin/intent" "$tmp/lone/bin/intent"
if [ -e "$datadir/dataset_v2.json" ]; then
    skip no_data "$datadir/dataset_v2.json is installed on this machine"
else
    msg=$("$tmp/lone/bin/intent" train --no-tracking 2>&1 </dev/null)
    rc=$?
    if [ $rc = 2 ] && printf '%s' "$msg" | grep -q -- 'pass --data FILE' &&
       printf '%s' "$msg" | grep -qF "$datadir/dataset_v2.json"; then
        ok no_data
    else
        fail no_data "rc $rc: $msg"
    fi
fi
cd "$root"

# a program built against the installed library with pkg-config
cat >"$tmp/prog.c" <<'EOF'
#include <stdio.h>
#include <string.h>
#include <intent/ic.h>
#include <intent/tokenizer.h>

int main(void)
{
    static const char vocab[] = "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhola\nmundo\n##s\n";
    struct ic_tokenizer t;
    struct ic_tok_work w;
    struct ic_err err;
    int32_t ids[16];
    int n = 0;
    memset(&t, 0, sizeof t);
    ic_tok_work_init(&w);
    if (ic_tokenizer_load_vocab_mem(&t, vocab, sizeof vocab - 1, NULL, &err) != IC_OK ||
        ic_tokenizer_encode(&t, &w, "¡Hola MUNDOS!", strlen("¡Hola MUNDOS!"), 16, ids, &n,
                            &err) != IC_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    for (int i = 0; i < n; i++)
        printf("%s%s", i ? " " : "", ic_tokenizer_token(&t, ids[i]));
    printf("\n%s\n", ic_status_str(IC_ERR_FORMAT));
    ic_tok_work_free(&w);
    ic_tokenizer_free(&t);
    return 0;
}
EOF
export PKG_CONFIG_PATH=$P/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$D
want_out="[CLS] [UNK] hola mundo ##s [UNK] [SEP]"
if ! command -v pkg-config >/dev/null; then
    skip pkg_config "pkg-config is not installed"
else
    # shellcheck disable=SC2046
    if cc $sanflags -o "$tmp/prog" "$tmp/prog.c" $(pkg-config --cflags --libs intent) 2>"$tmp/cc.err"; then
        out=$(LD_LIBRARY_PATH=$P/lib "$tmp/prog" 2>&1)
        needed=$(readelf -d "$tmp/prog" | grep -c 'NEEDED.*libintent.so.0')
        if [ "$(printf '%s' "$out" | head -1)" = "$want_out" ] && [ "$needed" = 1 ] &&
           [ -n "$(printf '%s' "$out" | sed -n 2p)" ]; then
            ok pkg_config_shared
        else
            fail pkg_config_shared "output: $out (libintent.so.0 NEEDED: $needed)"
        fi
    else
        fail pkg_config_shared "$(head -5 "$tmp/cc.err")"
    fi
    # static: libintent.a plus Requires.private / Libs.private
    libs=$(pkg-config --static --libs intent | sed 's/-lintent/-Wl,-Bstatic -lintent -Wl,-Bdynamic/')
    # shellcheck disable=SC2086
    if cc $sanflags -o "$tmp/prog_static" "$tmp/prog.c" $(pkg-config --cflags intent) $libs \
          2>"$tmp/cc.err"; then
        out=$("$tmp/prog_static" 2>&1)
        if [ "$(printf '%s' "$out" | head -1)" = "$want_out" ] &&
           ! readelf -d "$tmp/prog_static" | grep -q 'NEEDED.*libintent'; then
            ok pkg_config_static
        else
            fail pkg_config_static "output: $out"
        fi
    else
        fail pkg_config_static "$(head -5 "$tmp/cc.err")"
    fi
fi

# a missing -dev package stops make at once, naming it (a pkg-config that
# does not find libmicrohttpd stands in for the missing package)
mkdir -p "$tmp/fakebin"
printf '#!/bin/sh\ncase " $* " in *" libmicrohttpd "*) exit 1 ;; esac\nexec %s "$@"\n' \
    "$(command -v pkg-config || echo false)" >"$tmp/fakebin/pkg-config"
chmod +x "$tmp/fakebin/pkg-config"
msg=$(PATH=$tmp/fakebin:$PATH make -n -C "$root" BUILD="$tmp/nobuild" all 2>&1)
rc=$?
if [ $rc != 0 ] && printf '%s' "$msg" | grep -q 'missing: libmicrohttpd-dev - run scripts/install-deps.sh' &&
   ! printf '%s' "$msg" | grep -q 'libcurl4-openssl-dev'; then
    ok missing_dependency_message
else
    fail missing_dependency_message "rc $rc: $(printf '%s' "$msg" | tail -2)"
fi

if ! mk uninstall >"$tmp/uninstall.log" 2>&1; then
    fail uninstall "$(tail -5 "$tmp/uninstall.log")"
else
    left=$(find "$D" ! -type d)
    if [ -z "$left" ]; then ok uninstall; else fail uninstall "left behind: $left"; fi
fi

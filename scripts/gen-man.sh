#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Writes the manual page of `intent` or of one sub-command, in roff (man(7)),
# from the program's own --help text, so the page describes the options the
# binary really has. The Makefile runs it at build time:
#   scripts/gen-man.sh BINARY [COMMAND] > intent[-COMMAND].1
# The --help text is read as: the "usage:" lines (SYNOPSIS), paragraphs,
# section lines ending in ':' ("options:", "keys (...):"), option lines
# ("  --name ARG   what it does", continuation lines indented further) and
# other indented lines (examples, shown verbatim). man/intent[-COMMAND].1.in,
# if present, is appended (hand-written FILES, ENVIRONMENT, ... sections),
# with @DATADIR@ replaced by $INTENT_DATADIR (default /usr/local/share/intent).
set -euo pipefail
bin=$1
cmd=${2:-}
here=$(cd "$(dirname "$0")/.." && pwd)
datadir=${INTENT_DATADIR:-/usr/local/share/intent}
version=$("$bin" --version | awk 'NR == 1 {print $NF}')
if [ -n "$cmd" ]; then
    page=intent-$cmd
    help=$("$bin" "$cmd" --help)
    summary=$("$bin" --help | awk -v c="$cmd" '$1 == c { $1 = ""; sub(/^ +/, ""); print; exit }')
    [ -n "$summary" ] || summary="the $cmd command"
else
    page=intent
    help=$("$bin" --help)
    summary="train, evaluate and serve BERT intent classifiers"
fi
upper=$(printf '%s' "$page" | tr a-z A-Z)

{
printf '.TH %s 1 "" "intent %s" "intent manual"\n' "$upper" "$version"
printf '.nh\n.ad l\n.SH NAME\n%s \\- %s\n' "$page" "$summary"
printf '%s\n' "$help" | awk -v cmd="$cmd" '
function esc(s) {
    gsub(/\\/, "\\e", s)
    if (s ~ /^[.'"'"']/) s = "\\&" s
    return s
}
function opt(s) { s = esc(s); gsub(/-/, "\\-", s); return s }
function endverb() { if (verb) { print ".fi"; print ".RE"; verb = 0 } }
# usage lines
NR == 1 && /^usage: / {
    sub(/^usage: /, ""); print ".SH SYNOPSIS"; print ".nf"; print opt($0); insyn = 1; next
}
insyn && /^ *$/ { print ".fi"; print ".SH DESCRIPTION"; insyn = 0; para = 1; next }
insyn { sub(/^ +/, "        "); print opt($0); next }
/^ *$/ { endverb(); inopt = 0; para = 1; next }
# a section line after a blank line: "options:", "keys (docs/config.md ...):"
para && /^[A-Za-z][^:]*:$/ && length($0) < 60 {
    endverb(); inopt = 0; s = $0; sub(/:$/, "", s)
    print ".SS " toupper(substr(s, 1, 1)) substr(s, 2); para = 0; next
}
# an option: "  --name ARG    description" (or "-h, --help"), or a command
# in the list of intent --help
/^  +-/ || (cmd == "" && /^  [a-z]+ +[a-z]/ && !verb) {
    endverb(); line = $0; sub(/^ +/, "", line)
    n = match(line, /   */)
    if (n) { name = substr(line, 1, n - 1); desc = substr(line, n); sub(/^ +/, "", desc) }
    else { name = line; desc = "" }
    print ".TP"
    if (cmd == "" && name !~ /^-/) print ".BR intent\\-" name " (1)"
    else print ".B " opt(name)
    if (desc != "") print esc(desc)
    inopt = 1; para = 0; next
}
# continuation of an option description
inopt && /^      +[^ ]/ { line = $0; sub(/^ +/, "", line); print esc(line); next }
# other indented lines: examples, JSON shapes
/^  / {
    if (!verb) { print ".RS"; print ".nf"; verb = 1 }
    line = $0; sub(/^  /, "", line); print esc(line); next
}
# "Exit status: ...", "signals: ..." start a paragraph of their own
/^[A-Za-z][a-z ]*: / { para = 1 }
{
    endverb()
    if (para) { print ".PP"; para = 0 }
    print esc($0)
}
END { endverb(); if (insyn) print ".fi" }
'
extra=$here/man/$page.1.in
if [ -f "$extra" ]; then
    sed "s|@DATADIR@|$datadir|g" "$extra"
fi
if [ -n "$cmd" ]; then
    printf '.SH SEE ALSO\n.BR intent (1)\n'
fi
}

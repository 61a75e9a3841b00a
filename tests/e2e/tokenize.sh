#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tokenize.sh - `intent tokenize` and `intent vocab` end to end: golden
# texts (Hugging Face's Rust tokenizer output, tests/golden/tokenizer/),
# --max-length padding, --json-input, --cased, --model DIR, any bytes on a
# line (NUL, controls, CR LF, not UTF-8) answered line for line, errors
# naming the line, and a trained vocabulary. Usage: tokenize.sh BUILD_DIR
set -u
B=${1:-build}
BIN="$B/intent"
G=tests/golden/tokenizer
V=$G/vocab_subset.txt
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

ok() { echo "ok $1"; }
fail() { echo "FAIL $1: $2"; }

# --- help -----------------------------------------------------------------------
for c in tokenize vocab; do
    out=$("$BIN" "$c" --help 2>&1); rc=$?
    if [ $rc -eq 0 ] && printf '%s' "$out" | grep -q -- '--output\|--max-length'; then
        ok "tokenize_help_$c"
    else
        fail "tokenize_help_$c" "rc $rc: $out"
    fi
done

# --- golden texts through --json-input: tokens and ids as the Rust tokenizer ----
if ! command -v "$PY" >/dev/null 2>&1; then
    echo "skip tokenize_golden_cli: no python3 to compare JSON"
else
    for mode in uncased cased; do
        flag=; [ $mode = cased ] && flag=--cased
        "$PY" -c 'import json,sys
for l in open(sys.argv[1], encoding="utf-8"):
    print(json.dumps({"text": json.loads(l)["text"]}))' "$G/$mode.jsonl" > "$T/in.jsonl"
        if "$BIN" tokenize --vocab "$V" $flag --json-input < "$T/in.jsonl" > "$T/out.jsonl" 2>"$T/err"; then
            msg=$("$PY" -c 'import json,sys
want=[json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
got=[json.loads(l) for l in open(sys.argv[2], encoding="utf-8")]
if len(want)!=len(got): print("%d outputs for %d texts"%(len(got),len(want))); sys.exit()
for w,g in zip(want,got):
    if w["tokens"]!=g["tokens"] or w["ids"]!=g["ids"] or g["attention_mask"]!=[1]*len(w["ids"]):
        print("text %r: got %r want %r"%(w["text"],g["tokens"],w["tokens"])); sys.exit()' "$G/$mode.jsonl" "$T/out.jsonl")
            [ -z "$msg" ] && ok "tokenize_golden_cli_$mode" || fail "tokenize_golden_cli_$mode" "$msg"
        else
            fail "tokenize_golden_cli_$mode" "exit status $?: $(head -c 300 "$T/err")"
        fi
    done
fi

# --- plain lines: one output line per input line, empty ones included -------------
out=$(printf 'Hello, world!\n\n¿Qué?\n' | "$BIN" tokenize --vocab "$V")
n=$(printf '%s\n' "$out" | wc -l)
line2=$(printf '%s\n' "$out" | sed -n 2p)
if [ "$n" -eq 3 ] && [ "$line2" = '{"tokens": ["[CLS]", "[SEP]"], "ids": [101, 102], "attention_mask": [1, 1]}' ] &&
   printf '%s\n' "$out" | sed -n 1p | grep -q '"tokens": \["\[CLS\]", "hello", ",", "world", "!", "\[SEP\]"\]'; then
    ok tokenize_lines
else
    fail tokenize_lines "$out"
fi

# --- --max-length: truncated and padded to exactly N -------------------------------
out=$(printf 'hello world\nhello world hello world hello world\n' | "$BIN" tokenize --vocab "$V" --max-length 6)
l1=$(printf '%s\n' "$out" | sed -n 1p)
l2=$(printf '%s\n' "$out" | sed -n 2p)
if [ "$l1" = '{"tokens": ["[CLS]", "hello", "world", "[SEP]", "[PAD]", "[PAD]"], "ids": [101, 1800, 1190, 102, 0, 0], "attention_mask": [1, 1, 1, 1, 0, 0]}' ] &&
   [ "$l2" = '{"tokens": ["[CLS]", "hello", "world", "hello", "world", "[SEP]"], "ids": [101, 1800, 1190, 1800, 1190, 102], "attention_mask": [1, 1, 1, 1, 1, 1]}' ]; then
    ok tokenize_max_length
else
    fail tokenize_max_length "$out"
fi
out=$(echo hi | "$BIN" tokenize --vocab "$V" --max-length 1 2>&1); rc=$?
[ $rc -eq 2 ] && ok tokenize_max_length_invalid || fail tokenize_max_length_invalid "rc $rc: $out"

# --- --json-input: texts with newlines and special characters -------------------------
out=$(printf '{"text": "a\\nb [SEP] c"}\n\n{"text": "\\u00a1Hola!", "intent": "x"}\n' |
      "$BIN" tokenize --vocab "$V" --json-input)
if [ "$(printf '%s\n' "$out" | wc -l)" -eq 2 ] &&
   printf '%s\n' "$out" | sed -n 1p | grep -q '"tokens": \["\[CLS\]", "a", "b", "\[SEP\]", "c", "\[SEP\]"\]' &&
   printf '%s\n' "$out" | sed -n 2p | grep -q '"tokens": \["\[CLS\]", "¡", "ho", "##la", "!", "\[SEP\]"\]'; then
    ok tokenize_json_input
else
    fail tokenize_json_input "$out"
fi
out=$(printf '{"text": "ok"}\n{"txt": 1}\n' | "$BIN" tokenize --vocab "$V" --json-input 2>&1); rc=$?
if [ $rc -eq 1 ] && printf '%s' "$out" | grep -q 'line 2: no string field "text"'; then
    ok tokenize_json_input_error
else
    fail tokenize_json_input_error "rc $rc: $out"
fi

# --- any bytes on a plain line: the golden texts (Rust tokenizer output) as plain
# lines, CR LF ended, each with NUL, a control character and bytes that are not
# UTF-8 (read as U+FFFD) after its first character: clean_text drops all three,
# so the tokens must be the golden ones, line for line, and the last line has no
# final newline (texts holding special tokens are left out: bytes inside
# "[CLS]" make it plain text, in the Rust tokenizer too)
if command -v "$PY" >/dev/null 2>&1; then
    "$PY" -c 'import json, sys
out = []
for l in open(sys.argv[1], encoding="utf-8"):
    t = json.loads(l)["text"]
    if "\n" in t or "\r" in t or "[" in t:
        continue
    b = t.encode("utf-8")
    k = len(t[:1].encode("utf-8"))
    out.append(b[:k] + b"\x00\x01\xed\xa0\x80\xff" + b[k:])
sys.stdout.buffer.write(b"\r\n".join(out))' "$G/uncased.jsonl" >"$T/bytes.txt"
    "$BIN" tokenize --vocab "$V" <"$T/bytes.txt" >"$T/bytes.out" 2>"$T/err"; rc=$?
    msg=$("$PY" -c 'import json,sys
want=[json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
want=[w for w in want if not any(c in w["text"] for c in "\n\r[")]
got=[json.loads(l) for l in open(sys.argv[2], encoding="utf-8")]
if len(want)!=len(got): print("%d outputs for %d lines"%(len(got),len(want))); sys.exit()
for w,g in zip(want,got):
    if w["tokens"]!=g["tokens"] or w["ids"]!=g["ids"]:
        print("text %r: got %r want %r"%(w["text"],g["tokens"],w["tokens"])); sys.exit()' "$G/uncased.jsonl" "$T/bytes.out")
    if [ $rc -eq 0 ] && [ -z "$msg" ]; then
        ok tokenize_any_bytes_line_for_line
    else
        fail tokenize_any_bytes_line_for_line "rc $rc: $msg $(head -c 300 "$T/err")"
    fi
else
    echo "skip tokenize_any_bytes_line_for_line: no python3"
fi
{ printf 'a\n'; head -c $((16 << 20)) /dev/zero; printf 'x\nb\n'; } |
    "$BIN" tokenize --vocab "$V" >"$T/out" 2>"$T/err"; rc=$?
if [ $rc -eq 1 ] && grep -q 'stdin: line 2: longer than 16777216 bytes' "$T/err" &&
   [ "$(wc -l < "$T/out")" -eq 1 ]; then
    ok tokenize_line_over_limit
else
    fail tokenize_line_over_limit "rc $rc: $(cat "$T/err")"
fi
printf '{"text": "a"}\n{"text": "b"}\0\n' | "$BIN" tokenize --vocab "$V" --json-input >/dev/null 2>"$T/err"; rc=$?
if [ $rc -eq 1 ] && grep -q 'stdin: line 2: a NUL byte (at byte 13) cannot be in JSON text' "$T/err"; then
    ok tokenize_json_input_nul
else
    fail tokenize_json_input_nul "rc $rc: $(cat "$T/err")"
fi
printf '{"text": "x"}\n{"text": "\xff"}\n' | "$BIN" tokenize --vocab "$V" --json-input > /dev/null 2> "$T/err"; rc=$?
if [ $rc -eq 1 ] && grep -q 'line 2' "$T/err"; then
    ok tokenize_invalid_utf8_json
else
    fail tokenize_invalid_utf8_json "rc $rc: $(cat "$T/err")"
fi

# --- --cased: no lower-casing, no accent stripping --------------------------------------
out=$(printf 'Hello Niño\n' | "$BIN" tokenize --vocab "$V" --cased)
unc=$(printf 'Hello Niño\n' | "$BIN" tokenize --vocab "$V")
if printf '%s' "$out" | grep -q '"tokens": \["\[CLS\]", "\[UNK\]", "\[UNK\]", "\[SEP\]"\]' &&
   printf '%s' "$unc" | grep -q '"tokens": \["\[CLS\]", "hello", "nino", "\[SEP\]"\]'; then
    ok tokenize_cased
else
    fail tokenize_cased "cased $out / uncased $unc"
fi

# --- --model DIR: tokenizer_config.json's do_lower_case ---------------------------------
mkdir -p "$T/model"
cp "$V" "$T/model/vocab.txt"
printf '{"do_lower_case": false, "model_max_length": 512}\n' > "$T/model/tokenizer_config.json"
out=$(printf 'Hello hello\n' | "$BIN" tokenize --model "$T/model")
if printf '%s' "$out" | grep -q '"tokens": \["\[CLS\]", "\[UNK\]", "hello", "\[SEP\]"\]'; then
    ok tokenize_model_dir
else
    fail tokenize_model_dir "$out"
fi
out=$("$BIN" tokenize --vocab "$T/missing.txt" < /dev/null 2>&1); rc=$?
[ $rc -eq 1 ] && printf '%s' "$out" | grep -q missing.txt && ok tokenize_missing_vocab ||
    fail tokenize_missing_vocab "rc $rc: $out"

# --- intent vocab: train, then tokenize with the result ----------------------------------
cat > "$T/data.json" <<'EOF'
[
{"text": "Pon una alarma para mañana a las siete", "intent": "alarm/set_alarm"},
{"text": "Cancela la alarma de mañana", "intent": "alarm/cancel_alarm"},
{"text": "¿Qué tiempo hará mañana en Madrid?", "intent": "weather/find"},
{"text": "Recuérdame llamar a mamá", "intent": "reminder/set_reminder"}
]
EOF
if "$BIN" vocab --data "$T/data.json" --size 80 --output "$T/vocab.txt" 2>"$T/err" &&
   "$BIN" vocab --data "$T/data.json" --size 80 --output "$T/vocab2.txt" 2>>"$T/err"; then
    head5=$(head -5 "$T/vocab.txt" | tr '\n' ' ')
    out=$(printf 'alarma para mañana\n' | "$BIN" tokenize --vocab "$T/vocab.txt")
    if [ "$head5" = "[PAD] [UNK] [CLS] [SEP] [MASK] " ] && [ "$(wc -l < "$T/vocab.txt")" -eq 80 ] &&
       cmp -s "$T/vocab.txt" "$T/vocab2.txt" && ! printf '%s' "$out" | grep -q '\[UNK\]'; then
        ok vocab_train
    else
        fail vocab_train "head: $head5; $(wc -l < "$T/vocab.txt") lines; $out"
    fi
else
    fail vocab_train "$(cat "$T/err")"
fi
printf 'uno dos tres\ncuatro cinco\n' > "$T/plain.txt"
printf '{"text": "uno dos"}\n{"text": "tres"}\n' > "$T/lines.jsonl"
if "$BIN" vocab --data "$T/plain.txt" --size 30 --output "$T/v3.txt" 2>/dev/null &&
   "$BIN" vocab --data "$T/lines.jsonl" --size 30 --output "$T/v4.txt" 2>/dev/null &&
   grep -qx 'u' "$T/v3.txt" && grep -qx 't' "$T/v4.txt" && ! grep -q '"' "$T/v4.txt"; then
    ok vocab_formats
else
    fail vocab_formats "plain text or JSON lines not read"
fi
printf '[{"text": 1}]' > "$T/badd.json"
out=$("$BIN" vocab --data "$T/badd.json" --size 30 --output "$T/v5.txt" 2>&1); rc=$?
if [ $rc -eq 1 ] && printf '%s' "$out" | grep -q 'record 1' && [ ! -e "$T/v5.txt" ]; then
    ok vocab_bad_data
else
    fail vocab_bad_data "rc $rc: $out"
fi
out=$("$BIN" vocab --data "$T/data.json" --size 3 --output "$T/v6.txt" 2>&1); rc=$?
[ $rc -eq 2 ] && ok vocab_bad_size || fail vocab_bad_size "rc $rc: $out"
# byte-level BPE: the committed small tokenizer, Hugging Face's encoding of
# a text with <mask> (lstrip) inside, and a trained directory that reloads
G="${IC_TEST_GOLDEN:-tests/golden}/tok"
want=$(zcat "$G/tiny_bpe.max16.jsonl.gz" | grep -F '"text":"hello <mask> world"' | head -1 |
       sed 's/.*"ids":\(\[[^]]*\]\).*"attention_mask":\(\[[^]]*\]\).*/\1 \2/')
out=$(printf 'hello <mask> world\n' | "$BIN" tokenize --model "$G/tiny_bpe" --max-length 16 |
      sed 's/.*"ids": \(\[[^]]*\]\).*"attention_mask": \(\[[^]]*\]\).*/\1 \2/' | tr -d ' ')
if [ -n "$want" ] && [ "$(printf '%s' "$want" | tr -d ' ')" = "$out" ]; then
    ok tokenize_bpe_model
else
    fail tokenize_bpe_model "got $out, want $want"
fi
if "$BIN" vocab --type bpe --data "$G/corpus.jsonl" --size 1000 --output "$T/bpe" 2>>"$T/err" &&
   cmp -s "$T/bpe/merges.txt" "$G/tiny_bpe/merges.txt" &&
   cmp -s "$T/bpe/tokenizer.json" "$G/tiny_bpe/tokenizer.json" &&
   printf 'hola\n' | "$BIN" tokenize --model "$T/bpe" | grep -q '"ids": \[0, '; then
    ok vocab_train_bpe
else
    fail vocab_train_bpe "$(tail -3 "$T/err")"
fi
out=$("$BIN" vocab --type bpe --data "$T/data.json" --size 100 --output "$T/bpe2" 2>&1); rc=$?
[ $rc -eq 1 ] && printf '%s' "$out" | grep -q 'not in \[261' && ok vocab_bpe_bad_size ||
    fail vocab_bpe_bad_size "rc $rc: $out"
out=$("$BIN" vocab --type sentencepiece --data "$T/data.json" --size 100 --output "$T/x" 2>&1); rc=$?
[ $rc -eq 2 ] && ok vocab_bad_type || fail vocab_bad_type "rc $rc: $out"
# a NUL in a corpus line (it used to cut the text there): an error naming the
# line, no vocabulary written; CR LF lines read like LF ones
printf 'hola mundo\nque tal\r\nbien\0 gracias\n' > "$T/nul.txt"
out=$("$BIN" vocab --data "$T/nul.txt" --size 30 --output "$T/v7.txt" 2>&1); rc=$?
if [ $rc -eq 1 ] && printf '%s' "$out" | grep -q 'nul.txt: line 3: NUL byte (byte offset 24)' &&
   [ ! -e "$T/v7.txt" ]; then
    ok vocab_nul_names_line
else
    fail vocab_nul_names_line "rc $rc: $out"
fi
printf 'hola mundo\r\nque tal\r\n' > "$T/crlf.txt"
printf 'hola mundo\nque tal\n' > "$T/lf.txt"
if "$BIN" vocab --data "$T/crlf.txt" --size 30 --output "$T/v8.txt" 2>/dev/null &&
   "$BIN" vocab --data "$T/lf.txt" --size 30 --output "$T/v9.txt" 2>/dev/null &&
   cmp -s "$T/v8.txt" "$T/v9.txt"; then
    ok vocab_crlf_as_lf
else
    fail vocab_crlf_as_lf "CR LF corpus gives another vocabulary"
fi
# SentencePiece Unigram: the committed small tokenizer against its golden,
# and a trained directory that reloads (deterministic)
want=$(zcat "$G/tiny_unigram.max16.jsonl.gz" | grep -F '"text":"hello <mask> world"' | head -1 |
       sed 's/.*"ids":\(\[[^]]*\]\).*"attention_mask":\(\[[^]]*\]\).*/\1 \2/')
out=$(printf 'hello <mask> world\n' | "$BIN" tokenize --model "$G/tiny_unigram" --max-length 16 |
      sed 's/.*"ids": \(\[[^]]*\]\).*"attention_mask": \(\[[^]]*\]\).*/\1 \2/' | tr -d ' ')
if [ -n "$want" ] && [ "$(printf '%s' "$want" | tr -d ' ')" = "$out" ]; then
    ok tokenize_unigram_model
else
    fail tokenize_unigram_model "got $out, want $want"
fi
if "$BIN" vocab --type unigram --data "$G/corpus.jsonl" --size 600 --output "$T/uni" 2>>"$T/err" &&
   "$BIN" vocab --type unigram --data "$G/corpus.jsonl" --size 600 --output "$T/uni2" 2>>"$T/err" &&
   cmp -s "$T/uni/tokenizer.json" "$T/uni2/tokenizer.json" &&
   printf 'hola\n' | "$BIN" tokenize --model "$T/uni" | grep -q '"ids": \[0, '; then
    ok vocab_train_unigram
else
    fail vocab_train_unigram "$(tail -3 "$T/err")"
fi

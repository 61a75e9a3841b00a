// SPDX-License-Identifier: Apache-2.0
// gen_tok_golden.mjs - reference data for the tokenizer tests, produced by
// Hugging Face's Rust tokenizer (npm `tokenizers` 0.23.2, the same Rust code
// AutoTokenizer runs). Not needed to build or test: the outputs are
// committed under tests/golden/tokenizer/ and src/text/unicode_overrides.h.
//
// Setup (outside the build; node_modules is git-ignored):
//   cd tools && npm install          (or NODE_PATH=/some/dir/node_modules)
// Commands (run from the repository root):
//   node tools/gen_tok_golden.mjs probe > /tmp/rust_classes.txt
//       every code point through each normaliser stage and the pre-tokenizer
//   cc -O2 -Isrc -o /tmp/tok_uni_probe tools/tok_uni_probe.c src/text/unicode.c -lutf8proc
//       -DIC_UNI_NO_OVERRIDES && /tmp/tok_uni_probe > /tmp/c_classes.txt
//   node tools/gen_tok_golden.mjs overrides /tmp/rust_classes.txt /tmp/c_classes.txt \
//       > src/text/unicode_overrides.h
//   node tools/gen_tok_golden.mjs unicode /tmp/rust_classes.txt \
//       > tests/golden/tokenizer/rust_unicode.txt
//   node tools/gen_tok_golden.mjs cases VOCAB DATASETS_DIR tests/golden/tokenizer
//       VOCAB = bert-base-uncased vocab.txt, DATASETS_DIR holds fb_mtod_es/ and clinc150/
//   node tools/gen_tok_golden.mjs families ../shared/tokenizers DATASETS_DIR tests/golden/tok [NAMES]
//       goldens of the real tokenizer files (roberta-base, roberta-bne,
//       xlm-roberta, mbert-cased, beto-uncased with and without accent
//       stripping); NAMES may also be paths of tokenizer directories such as
//       tests/golden/tok/tiny_bpe (their tokenizer.json)
//   node tools/gen_tok_golden.mjs corpus DATASETS_DIR > tests/golden/tok/corpus.jsonl
//       the same texts as training data for the small committed tokenizers:
//   build/intent vocab --type bpe --size 1000 --data tests/golden/tok/corpus.jsonl \
//       --output tests/golden/tok/tiny_bpe
//   node tools/gen_tok_golden.mjs families tests/golden/tok DATASETS_DIR tests/golden/tok tiny_bpe
//   node tools/gen_tok_golden.mjs tiny-unigram tests/golden/spm tests/golden/tok/tiny_unigram
//   node tools/gen_tok_golden.mjs families tests/golden/tok DATASETS_DIR tests/golden/tok tiny_unigram
//   node tools/gen_tok_golden.mjs diff VOCAB build/intent [N]
//       differential check: N (20000) random strings built from tricky code
//       points (marks of every class, long runs of marks, CGJ, Hangul, CJK,
//       controls, specials)
//       through `intent tokenize --json-input` and the Rust tokenizer,
//       uncased and cased; prints the first differences
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const require = createRequire(import.meta.url);
const tk = require('tokenizers');

const SPECIALS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];

// A tokenizer.json equivalent to bert-base-uncased's (or the cased variant).
function tokenizerJson(vocab, lowercase) {
  const v = {};
  vocab.forEach((t, i) => { v[t] = i; });
  const added = SPECIALS.filter((s) => s in v).map((s) => ({
    id: v[s], content: s, single_word: false, lstrip: false, rstrip: false,
    normalized: false, special: true,
  }));
  return JSON.stringify({
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: {
      type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true,
      strip_accents: null, lowercase,
    },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } },
        { SpecialToken: { id: '[SEP]', type_id: 1 } }],
      special_tokens: {
        '[CLS]': { id: '[CLS]', ids: [v['[CLS]']], tokens: ['[CLS]'] },
        '[SEP]': { id: '[SEP]', ids: [v['[SEP]']], tokens: ['[SEP]'] },
      },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: {
      type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##',
      max_input_chars_per_word: 100, vocab: v,
    },
  });
}

function readVocab(file) {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

// ---------------------------------------------------------------------------
function probe() {
  const clean = tk.bertNormalizer({ cleanText: true, handleChineseChars: false, stripAccents: false, lowercase: false });
  const cjk = tk.bertNormalizer({ cleanText: false, handleChineseChars: true, stripAccents: false, lowercase: false });
  const strip = tk.bertNormalizer({ cleanText: false, handleChineseChars: false, stripAccents: true, lowercase: false });
  const lower = tk.bertNormalizer({ cleanText: false, handleChineseChars: false, stripAccents: false, lowercase: true });
  const pre = tk.bertPreTokenizer();
  const nfd = tk.nfdNormalizer();
  const hex = (s) => Array.from(s).map((c) => c.codePointAt(0).toString(16)).join(' ');
  // Reference marks, one per canonical combining class (old, stable ones):
  // the order NFD gives cp and a reference tells cp's class in the Rust
  // normaliser's own tables.
  const refs = [[1, 0x334], [7, 0x93c], [8, 0x3099], [9, 0x94d], [10, 0x5b0], [11, 0x5b1],
    [12, 0x5b2], [13, 0x5b3], [14, 0x5b4], [15, 0x5b5], [16, 0x5b6], [17, 0x5b7], [18, 0x5b8],
    [19, 0x5b9], [20, 0x5bb], [21, 0x5bc], [22, 0x5bd], [23, 0x5bf], [24, 0x5c1], [25, 0x5c2],
    [26, 0xfb1e], [27, 0x64b], [28, 0x64c], [29, 0x64d], [30, 0x64e], [31, 0x64f], [32, 0x650],
    [33, 0x651], [34, 0x652], [35, 0x670], [36, 0x711], [84, 0xc55], [91, 0xc56], [103, 0xe38],
    [107, 0xe48], [118, 0xeb8], [122, 0xec8], [129, 0xf71], [130, 0xf72], [132, 0xf74],
    [202, 0x327], [214, 0x1dce], [216, 0x31b], [218, 0x302a], [220, 0x316], [222, 0x59a],
    [224, 0x302e], [226, 0x1d16d], [228, 0x302b], [230, 0x300], [232, 0x315], [233, 0x35c],
    [234, 0x35d], [240, 0x345]];
  const swapped = (c, r) => { // does NFD put c before r in "a" r c?
    if (c.codePointAt(0) === r) return false;
    const x = Array.from(nfd.normalizeString(`a${String.fromCodePoint(r)}${c}`));
    return x.length === 3 && x[1] === c;
  };
  const out = [];
  for (let cp = 0; cp <= 0x10ffff; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    const c = String.fromCodePoint(cp);
    let r = clean.normalizeString(c);
    if (r !== c) out.push(`C ${cp.toString(16)} ${hex(r)}`.trimEnd());
    r = cjk.normalizeString(c);
    if (r !== c) out.push(`J ${cp.toString(16)} ${hex(r)}`);
    r = strip.normalizeString(c);
    if (r !== c) out.push(`S ${cp.toString(16)} ${hex(r)}`.trimEnd());
    r = lower.normalizeString(c);
    if (r !== c) out.push(`L ${cp.toString(16)} ${hex(r)}`);
    // canonical combining class (K), for characters NFD leaves alone:
    // classes between two reference classes read as the lower one
    // (tools/tok_uni_probe.c prints them the same way)
    if (nfd.normalizeString(c) === c &&
        (swapped(c, 0x345) || Array.from(nfd.normalizeString(`a${c}\u0334`))[1] === '\u0334')) {
      let ccc = 240;
      for (let k = 1; k < refs.length; k++) {
        if (swapped(c, refs[k][1])) { ccc = refs[k - 1][0]; break; }
      }
      out.push(`K ${cp.toString(16)} ${ccc}`);
    }
    const p = pre.preTokenizeString(`a${c}b`);
    if (p.length === 2) out.push(`W ${cp.toString(16)}`);
    else if (p.length === 3) out.push(`P ${cp.toString(16)}`);
  }
  process.stdout.write(`${out.join('\n')}\n`);
}

function readClasses(file) {
  const m = { C: new Map(), J: new Map(), S: new Map(), L: new Map(), W: new Map(), P: new Map(), K: new Map() };
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line) continue;
    const [k, cp, ...rest] = line.split(' ');
    m[k].set(parseInt(cp, 16), rest.join(' '));
  }
  return m;
}

function ranges(cps) {
  const s = [...cps].sort((a, b) => a - b);
  const r = [];
  for (const c of s) {
    if (r.length && r[r.length - 1][1] === c - 1) r[r.length - 1][1] = c;
    else r.push([c, c]);
  }
  return r;
}

function cRanges(name, cps, why) {
  const r = ranges(cps);
  const body = r.length ? r.map(([a, b]) => `{0x${a.toString(16)}, 0x${b.toString(16)}}`) : ['{0x110000, 0x110000}'];
  const lines = [];
  for (let i = 0; i < body.length; i += 6) lines.push(`    ${body.slice(i, i + 6).join(', ')},`);
  return `/* ${why} */\nstatic const struct range ${name}[] = {\n${lines.join('\n')}\n};\n`;
}

// Code points where utf8proc (as unicode.c uses it without overrides) and
// the Rust tokenizer disagree, as forced answers.
function overrides(rustFile, cFile) {
  const R = readClasses(rustFile);
  const C = readClasses(cFile);
  const diff = (k) => {
    const only = (a, b) => [...a[k].keys()].filter((cp) => !b[k].has(cp) || b[k].get(cp) !== a[k].get(cp));
    return { rust: only(R, C), c: only(C, R) };
  };
  const cl = diff('C');
  const otherAdd = cl.rust.filter((cp) => R.C.get(cp) === '');
  const otherDel = cl.c.filter((cp) => C.C.get(cp) === '' && !R.C.has(cp));
  const p = diff('P');
  const s = diff('S');
  const mnAdd = [];
  const mnDel = [];
  const nfdKeep = [];
  for (const cp of new Set([...s.rust, ...s.c])) {
    const rv = R.S.has(cp) ? R.S.get(cp) : cp.toString(16);
    const cv = C.S.has(cp) ? C.S.get(cp) : cp.toString(16);
    if (rv === '' && cv === cp.toString(16)) mnAdd.push(cp);
    else if (rv === cp.toString(16) && cv === '') mnDel.push(cp);
    else if (rv === cp.toString(16)) nfdKeep.push(cp);
    else throw new Error(`S ${cp.toString(16)}: rust "${rv}" vs c "${cv}": extend the override kinds`);
  }
  const l = diff('L');
  const lower = new Map();
  for (const cp of new Set([...l.rust, ...l.c])) {
    const rv = R.L.has(cp) ? R.L.get(cp).split(' ') : [cp.toString(16)];
    if (rv.length !== 1) throw new Error(`L ${cp.toString(16)}: multi-char mapping: extend unicode.c`);
    lower.set(cp, parseInt(rv[0], 16));
  }
  const k2 = diff('K');
  const cccMap = new Map();
  for (const cp of new Set([...k2.rust, ...k2.c])) cccMap.set(cp, R.K.has(cp) ? Number(R.K.get(cp)) : 0);
  for (const k of ['J', 'W']) {
    const d = diff(k);
    if (d.rust.length || d.c.length) throw new Error(`${k} differs: extend unicode.c`);
  }
  const lw = [...lower.keys()].sort((a, b) => a - b).map((cp) => `{0x${cp.toString(16)}, 0x${lower.get(cp).toString(16)}}`);
  const lwl = [];
  for (let i = 0; i < lw.length; i += 5) lwl.push(`    ${lw.slice(i, i + 5).join(', ')},`);
  const ccs = [...cccMap.keys()].sort((a, b) => a - b).map((cp) => `{0x${cp.toString(16)}, ${cccMap.get(cp)}}`);
  const cc = [];
  for (let i = 0; i < ccs.length; i += 6) cc.push(`    ${ccs.slice(i, i + 6).join(', ')},`);
  process.stdout.write(`/*
 * unicode_overrides.h - generated by tools/gen_tok_golden.mjs overrides; do
 * not edit. Code points where utf8proc and Hugging Face's Rust tokenizer
 * (npm tokenizers 0.23.2) disagree; each table forces the Rust answer.
 * Included by unicode.c only.
 */
${cRanges('other_add', otherAdd, 'removed by clean_text in Rust, not Cc/Cf/Co/Cs in utf8proc')}
${cRanges('other_del', otherDel, 'kept by clean_text in Rust (its tables predate these Cc/Cf/Co assignments)')}
${cRanges('punct_add', p.rust, 'punctuation in Rust, not P* in utf8proc')}
${cRanges('punct_del', p.c, 'P* in utf8proc, not punctuation in Rust (assigned after its tables)')}
${cRanges('mn_add', mnAdd, 'Mn in Rust (dropped by accent stripping), not Mn in utf8proc')}
${cRanges('mn_del', mnDel, 'Mn in utf8proc, kept by Rust accent stripping')}
${cRanges('nfd_keep', nfdKeep, 'no canonical decomposition in Rust (assigned after its tables)')}
/* canonical combining classes of Rust's NFD tables where they differ
 * (characters its tables predate have class 0 there) */
static const uint32_t ccc_map[][2] = {
${cc.length ? cc.join('\n') : '    {0x110000, 0},'}
};
/* lower-case mappings Rust knows and utf8proc does not (newer Unicode) */
static const uint32_t lower_map[][2] = {
${lwl.length ? lwl.join('\n') : '    {0x110000, 0x110000},'}
};
`);
}

// Compact form of the probe for tests/golden/tokenizer/rust_unicode.txt:
//   X lo hi          every code point in [lo, hi] has class X with the
//                    default result: C = removed, Z = mapped to ' ' by
//                    clean_text, J = spaced (CJK), W = whitespace,
//                    P = punctuation, M = dropped by accent stripping
//   S cp m...        accent stripping (NFD, drop Mn) maps cp to m...
//   L cp m...        lower-casing maps cp to m...
//   H lo hi          Hangul syllables: S is the algorithmic NFD
//   K cp c           canonical combining class c (0 when not listed; only
//                    for characters without a decomposition; a class
//                    between two reference classes reads as the lower one)
// A code point not listed is kept as is by every stage.
function unicodeGolden(rustFile) {
  const R = readClasses(rustFile);
  const out = ['# generated by tools/gen_tok_golden.mjs unicode (npm tokenizers 0.23.2); see the script'];
  const emit = (k, cps) => { for (const [a, b] of ranges(cps)) out.push(`${k} ${a.toString(16)} ${b.toString(16)}`); };
  emit('C', [...R.C.keys()].filter((cp) => R.C.get(cp) === ''));
  emit('Z', [...R.C.keys()].filter((cp) => R.C.get(cp) === '20'));
  const other = [...R.C.keys()].filter((cp) => R.C.get(cp) !== '' && R.C.get(cp) !== '20');
  if (other.length) throw new Error('unexpected clean_text mapping');
  emit('J', [...R.J.keys()]);
  emit('W', [...R.W.keys()]);
  emit('P', [...R.P.keys()]);
  emit('M', [...R.S.keys()].filter((cp) => R.S.get(cp) === ''));
  out.push('H ac00 d7a3');
  for (const [cp, v] of [...R.S.entries()].sort((a, b) => a[0] - b[0])) {
    if (v === '' || (cp >= 0xac00 && cp <= 0xd7a3)) continue;
    out.push(`S ${cp.toString(16)} ${v}`);
  }
  for (const [cp, v] of [...R.L.entries()].sort((a, b) => a[0] - b[0])) out.push(`L ${cp.toString(16)} ${v}`);
  for (const [cp, v] of [...R.K.entries()].sort((a, b) => a[0] - b[0])) out.push(`K ${cp.toString(16)} ${v}`);
  process.stdout.write(`${out.join('\n')}\n`);
}

// ---------------------------------------------------------------------------
// Hand-written cases (issue 3 item 5). Escapes keep invisible characters
// visible in this file.
const HAND = [
  '', ' ', '   \t\n  ', '\u00a0\u3000\u2003',
  'Hello, world!', "I don't know... what's this?!", 'The QUICK brown fox jumps over the lazy dog.',
  'unaffable', 'playing played plays', "it's 5 o'clock",
  '¿Dónde está la estación de tren?', '¡Qué día tan bonito!', 'El niño comió piña en España.',
  'Mañana a las 7am recuérdame llamar a mamá', 'ÁÉÍÓÚ áéíóú ÑñÜü Çç', 'pingüino, cigüeña, vergüenza',
  '¿¿¿Qué???', '!!!...???', '---===+++', '((([[[{{{}}}]]])))', '"quoted" \'single\' `back`', '@#$%^&*~|\\/<>',
  '…—–‘’“”«»·•', 'a.b,c;d:e', 'e-mail: foo.bar@example.com, https://example.org/a?b=c&d=e',
  '3.14159 1,000,000 -42 +7 1e10 0x1F', '$100 €50 £30 ¥1000 ₹500 ₩1000 ₿0.5', '100% 50°C 3×4=12 ½ ¾ ±5',
  '12:30pm 2024-01-15 #1 No.5',
  '😀 😂👍🏽 ❤️ 👨‍👩‍👧 🇪🇸 ☕', 'I ❤ NY', 'emoji😀inside',
  '中文分词测试', '日本語のテキスト、カタカナとひらがな', '한국어 텍스트 안녕하세요', '我爱北京天安门。', 'mixed中文and English',
  'مرحبا بالعالم', 'السلام عليكم ورحمة الله', 'שלום עולם', 'Привет, мир! ЁЖИК', 'Γειά σου Κόσμε ΟΔΟΣ ὀδός', 'नमस्ते दुनिया', 'สวัสดีชาวโลก',
  'a\u0000b', 'a\u0007b\u001bc', 'tab\there', 'line\nbreak\r\nwindows', 'zero\u200bwidth', 'zw\u200cnj\u200dj', 'bom\ufeffhere',
  'soft\u00adhyphen', 'rtl\u200fmark\u202eoverride', 'word\u2060joiner', 'vt\u000bff\u000cnel\u0085end', 'sep\u2028line\u2029para',
  'private\ue000use', 'unassigned\u0378cp', 'noncharacter\uffff', 'replacement\ufffdchar', 'tag\u{e0041}chars',
  'e\u0301 a\u0300 n\u0303 o\u0308', 'cafe\u0301 vs café', 'Z\u0351\u0324a\u0342l\u0353g\u0359o', 'a\u20dd circle', 'ﬁ ﬂ ﬀ ligatures',
  'İstanbul ıi IĞÜŞÖÇ', 'Straße STRASSE ß ẞ', 'ǅ ǆ ǈ Ǳ', 'Ω Å K', '①②③ ⅓ ⅷ', 'ｆｕｌｌｗｉｄｔｈ ＡＢＣ',
  'x'.repeat(100), 'y'.repeat(101), 'supercalifragilisticexpialidocious'.repeat(3), 'á'.repeat(100), 'á'.repeat(101),
  `${'ab'.repeat(50)} short`, `short ${'é'.repeat(60)}${'e'.repeat(41)}`,
  '[CLS] hello [SEP]', '[UNK]', 'foo[SEP]bar', '[cls] [Cls] [CLS', '[MASK][MASK]', '[PAD] padded', '[unused0] [unused1]',
  'x[UNK]y[CLS]z', '[[CLS]]', 'text with [SEP] inside and [MASK] too', ' [CLS] ', '[UNK][UNK][UNK]',
  'Hola, ¿cómo estás? Muy bien, ¡gracias!', 'recuérdame comprar leche mañana a las 8:30', '¿Qué tiempo hará el sábado en Málaga?',
  'Ponme una alarma a las 6 y media', 'ñandú ÑANDÚ', 'Llámame en 15 minutos', 'what is the weather like in Paris today?',
  'Set an alarm for 6 AM tomorrow', "can you tell me my bank account's balance", 'Thanks!!! :) :-( ;-)',
  'a\u0301\u0302\u0303\u0304', '\u0301starts with mark', 'Ǆ\u0301', 'ΣΊΣΥΦΟΣ', 'ﷺ ﷽', 'ℌ ℍ ℎ', '𝐀𝐁𝐂 𝕏', '𠀀𠀁 𪜀 𫠠 𬺰',
  '각 가각', 'ㄱㄴㄷ', '⁰¹²³', 'ʼapostrophe', '\u00b7middle\u0387dot', 'under_score snake_case_name', 'C++ C# F#',
  'tabs\t\tand  double  spaces', '   leading and trailing   ',
];

function datasetTexts(dir, perFile) {
  const texts = [];
  for (const sub of ['fb_mtod_es', 'clinc150']) {
    for (const split of ['train.json', 'test.json']) {
      const f = path.join(dir, sub, split);
      if (!fs.existsSync(f)) throw new Error(`${f}: missing`);
      const rows = JSON.parse(fs.readFileSync(f, 'utf8'));
      // deterministic pick: evenly spaced rows
      for (let j = 0; j < perFile; j++) texts.push(rows[Math.floor((j * rows.length) / perFile)].text);
    }
  }
  return texts;
}

async function encodeAll(json, texts, maxLength) {
  const tok = tk.Tokenizer.fromString(json);
  if (maxLength) {
    tok.setTruncation(maxLength);
    tok.setPadding({ maxLength, padId: 0, padToken: '[PAD]' });
  }
  const out = [];
  for (const text of texts) {
    const e = await tok.encode(text);
    out.push({ text, tokens: e.getTokens(), ids: e.getIds(), attention_mask: e.getAttentionMask() });
  }
  return out;
}

function writeJsonl(file, rows, withMask) {
  const lines = rows.map((r) => JSON.stringify(withMask ? r : { text: r.text, tokens: r.tokens, ids: r.ids }));
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
}

async function cases(vocabFile, dataDir, outDir) {
  const full = readVocab(vocabFile);
  const data = datasetTexts(dataDir, 100);
  const texts = [...HAND, ...data];
  const casedTexts = [...HAND, ...data.slice(0, 100)];
  // Full-vocabulary goldens (checked only where the real vocabulary exists).
  const fullUncased = await encodeAll(tokenizerJson(full, true), texts);
  const fullCased = await encodeAll(tokenizerJson(full, false), casedTexts);
  // Reduced vocabulary: the first 1000 lines (specials, [unusedN], single
  // characters), every token the cases produce, and every "##x" single
  // character continuation; in the original order.
  const keep = new Set(full.slice(0, 1000));
  for (const r of [...fullUncased, ...fullCased]) for (const t of r.tokens) keep.add(t);
  for (const t of full) if (t.startsWith('##') && Array.from(t).length === 3) keep.add(t);
  const subset = full.filter((t) => keep.has(t));
  fs.writeFileSync(path.join(outDir, 'vocab_subset.txt'), `${subset.join('\n')}\n`);
  const subJsonU = tokenizerJson(subset, true);
  const subJsonC = tokenizerJson(subset, false);
  const subUncased = await encodeAll(subJsonU, texts);
  const subCased = await encodeAll(subJsonC, casedTexts);
  // the unit tests check the full-vocabulary tokens with the subset: the
  // pieces must agree (they do when the subset holds every produced token)
  for (const [a, b] of [[subUncased, fullUncased], [subCased, fullCased]]) {
    a.forEach((r, i) => {
      if (JSON.stringify(r.tokens) !== JSON.stringify(b[i].tokens)) throw new Error(`subset differs: ${r.text}`);
    });
  }
  writeJsonl(path.join(outDir, 'uncased.jsonl'), subUncased);
  writeJsonl(path.join(outDir, 'cased.jsonl'), subCased);
  writeJsonl(path.join(outDir, 'maxlen8.jsonl'), await encodeAll(subJsonU, texts.slice(0, 60), 8), true);
  writeJsonl(path.join(outDir, 'full_uncased.jsonl'), fullUncased);
  writeJsonl(path.join(outDir, 'full_cased.jsonl'), fullCased);
  process.stderr.write(`${texts.length} texts, subset vocab ${subset.length} tokens\n`);
}

async function diff(vocabFile, bin, n) {
  const vocab = readVocab(vocabFile);
  const pool = [];
  const add = (a, b) => { for (let c = a; c <= b; c++) pool.push(String.fromCodePoint(c)); };
  for (const [a, b] of [[0x20, 0x7e], [0, 0x1f], [0x80, 0x17f], [0x300, 0x36f], [0x591, 0x5c7],
    [0x610, 0x61a], [0x900, 0x97f], [0x1100, 0x1112], [0x1161, 0x1175], [0xac00, 0xac40],
    [0x2000, 0x206f], [0x3000, 0x303f], [0x4e00, 0x4e40], [0xf900, 0xf910], [0xfe00, 0xfe0f],
    [0xfeff, 0xfeff], [0x1f600, 0x1f64f], [0x1f3fb, 0x1f3ff], [0x130, 0x131], [0x3a3, 0x3c9],
    [0x1e00, 0x1eff], [0x2b81a, 0x2b925], [0xe0000, 0xe0080], [0x10ffff, 0x10ffff], [0xfff0, 0xffff],
    [0x1d15e, 0x1d16f], [0x0dd9, 0x0ddf], [0x1134b, 0x1134d], [0x20d0, 0x20f0], [0x1ab0, 0x1ace]]) add(a, b);
  const words = [...SPECIALS, '[cls', ' the ', 'running', 'Ñandú', 'unaffable', 'estación', '##', ' ', '  '];
  let seed = 12345;
  const rnd = (k) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % k; };
  const texts = [];
  const marks = [];
  for (const [a, b] of [[0x300, 0x36f], [0x591, 0x5c7], [0x610, 0x61a], [0x1ab0, 0x1ace],
    [0x20d0, 0x20f0], [0x1d165, 0x1d169], [0x1d16d, 0x1d172], [0x0dca, 0x0dcf]]) {
    for (let c = a; c <= b; c++) marks.push(String.fromCodePoint(c));
  }
  marks.push('\u034f', '\u0f39', '\u093c');
  for (let i = 0; i < n; i++) {
    let s = '';
    if (i % 4 === 0) { // long runs of marks: canonical ordering
      const len = 1 + rnd(4);
      for (let k = 0; k < len; k++) {
        s += pool[rnd(pool.length)];
        const m = rnd(60);
        for (let j = 0; j < m; j++) s += marks[rnd(marks.length)];
      }
    } else {
      const len = 1 + rnd(25);
      for (let k = 0; k < len; k++) s += rnd(6) === 0 ? words[rnd(words.length)] : pool[rnd(pool.length)];
    }
    texts.push(s);
  }
  // every pool character and mark (and its "##" form) becomes a token, so a
  // wrong character or order shows in the pieces instead of hiding in [UNK]
  const have = new Set(vocab);
  for (const c of [...pool, ...marks]) {
    for (const t of [c, `##${c}`]) {
      if (!have.has(t) && !/[\s\p{C}]/u.test(c)) { have.add(t); vocab.push(t); }
    }
  }
  const augmented = path.join(fs.mkdtempSync('/tmp/tokdiff-'), 'vocab.txt');
  fs.writeFileSync(augmented, `${vocab.join('\n')}\n`);
  let total = 0;
  for (const lower of [true, false]) {
    const tok = tk.Tokenizer.fromString(tokenizerJson(vocab, lower));
    const input = `${texts.map((t) => JSON.stringify({ text: t })).join('\n')}\n`;
    const argv = ['tokenize', '--vocab', augmented, '--json-input', ...(lower ? [] : ['--cased'])];
    const out = execFileSync(bin, argv, { input, maxBuffer: 1 << 28 }).toString().trim().split('\n');
    let bad = 0;
    for (let i = 0; i < texts.length; i++) {
      const e = await tok.encode(texts[i]);
      const g = JSON.parse(out[i]);
      if (JSON.stringify(g.ids) !== JSON.stringify(e.getIds()) && bad++ < 5) {
        process.stdout.write(`DIFF ${JSON.stringify(texts[i])}\n got  ${g.tokens.join(' ')}\n want ${e.getTokens().join(' ')}\n`);
      }
    }
    process.stdout.write(`${lower ? 'uncased' : 'cased'}: ${texts.length} texts, ${bad} differ\n`);
    total += bad;
  }
  if (total) process.exit(1);
}

// ---------------------------------------------------------------------------
// Tokenizer families: goldens for the real tokenizer files of popular
// encoders (../shared/tokenizers: roberta-base, roberta-bne, xlm-roberta,
// mbert-cased, beto-uncased) and for the small tokenizers committed under
// tests/golden/tok/ (tiny_bpe, tiny_unigram), each as gzipped JSON lines
// {text, ids, tokens, attention_mask}; `<name>.jsonl.gz` without and
// `<name>.max16.jsonl.gz` with truncation + padding to 16.

// Texts on top of HAND and the dataset rows: other scripts, whitespace
// runs, compatibility characters and the special tokens of every family
// in the middle of text.
const FAMILY_EXTRA = [
  '<s>', '</s>', '<pad>', '<unk>', '<mask>', 'hello <mask> world', 'hello<mask>world', 'hello  <mask>  world',
  '<mask> at start', 'at end <mask>', '<mask><mask>', ' <mask>', '<s>hola</s>', 'x <s> y </s> z', '<unk><pad>',
  'El <mask> es azul.', 'La capital de España es <mask>.', '<MASK> <Mask> < mask >', '<mask>!', '\t<mask>\n',
  "I'm sure they'll say we've done it, he'd go, it's fine", "'s 't 're 've 'm 'll 'd", "DON'T WON'T I'M", "‘quoted’ ’s",
  'a  b   c    d', 'a\tb\t\tc', 'trailing spaces   ', '\n\nnewlines\n\n', ' \u00a0 nbsp \u00a0 ', 'a \u3000 b', 'x\u2009y\u200az',
  '   ', '\t', '\n', ' a', 'a ', ' \n a', 'a\r\nb', '1 2  3   4', '12345678901234567890', '3.5kg 4,5 l ٣٤٥ १२३',
  'ﬃ ﬄ ㍿ ㎏ ㍱ ™ ℡ ½ ⅛ ² ³ ª º', 'Ａｂｃ１２３！？', 'ｶﾀｶﾅ ﾊﾝｶｸ', '㈱ ㊤ ① ⑴ ⒜', 'ℵ ℶ ℷ', 'ſ ﬅ ﬆ',
  'naïve café résumé coöperate', 'Ελληνικά κείμενα', 'Українська мова', 'עברית', 'Tiếng Việt có dấu',
  'हिन्दी भाषा में वाक्य', 'বাংলা ভাষা', 'தமிழ்', 'ქართული', 'Հայերեն', 'አማርኛ', 'ภาษาไทยไม่มีช่องว่าง',
  '我们今天去公园散步吧', '東京都渋谷区', '서울특별시 강남구', 'العربية لغة جميلة', 'فارسی زبان', 'اردو زبان',
  '🤖🚀✨ emojis 🎉', '👩🏽‍💻 coder', '🏳️‍🌈 flag', '1️⃣ keycap', '©®™', '∑∫∂√∞≈≠≤≥', '←→↑↓⇒', '♠♣♥♦', '░▒▓█',
  'x\u0000y', '\u0001\u0002\u0003', 'del\u007fete', 'c1\u0080\u009fctl', 'bidi\u202a\u202b\u202c', 'invisible\u2062times',
  'https://www.example.com/path?query=1&x=y#frag', 'user@mail.example.org', '#hashtag @mention', 'snake_case camelCase PascalCase',
  'ALLCAPS SHOUTING TEXT', 'MiXeD CaSe WoRdS', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
  'Pneumonoultramicroscopicsilicovolcanoconiosis', 'electroencefalografista otorrinolaringólogo', 'Donaudampfschifffahrtsgesellschaftskapitän',
  'z'.repeat(300), 'ab'.repeat(200), '¡'.repeat(50), '😀'.repeat(30), ' '.repeat(40) + 'x', 'x' + ' '.repeat(40),
  '[CLS] [SEP] <s> </s> ▁ ▁▁ _ Ġ Ċ', '▁hello ▁world', 'ĠĠ Ġx', 'Â Ã Ä',
  '¿Me pones una alarma para mañana a las siete?', 'Cancela el recordatorio de la reunión del jueves.', 'Qué tiempo hace en Cádiz',
  'Recuérdame que tengo cita con el médico el 3 de marzo a las 10:45', '¿Va a llover este fin de semana en Barcelona?',
  'pon música de los años 80', 'Apaga la alarma de las 7:30, por favor.', 'Añade «leche» y «pan» a la lista.',
];

function familyTexts(dataDir) {
  const seen = new Set();
  const out = [];
  for (const t of [...HAND, ...FAMILY_EXTRA, ...datasetTexts(dataDir, 80)]) {
    if (!seen.has(t)) { seen.add(t); out.push(t); }
  }
  return out;
}

async function encodeFamily(tok, texts, maxLength, padId, padToken) {
  if (maxLength) {
    tok.setTruncation(maxLength);
    tok.setPadding({ maxLength, padId, padToken });
  } else {
    tok.disableTruncation();
    tok.disablePadding();
  }
  const out = [];
  for (const text of texts) {
    const e = await tok.encode(text);
    out.push(JSON.stringify({ text, ids: e.getIds(), tokens: e.getTokens(), attention_mask: e.getAttentionMask() }));
  }
  return `${out.join('\n')}\n`;
}

// tokenizer.json text for each family name (beto: converted from vocab.txt).
function familyJson(tokDir, name) {
  if (name === 'beto-uncased' || name === 'beto-uncased-accents') {
    const json = JSON.parse(tokenizerJson(readVocab(path.join(tokDir, 'beto-uncased', 'vocab.txt')), true));
    if (name === 'beto-uncased-accents') json.normalizer.strip_accents = false;
    return JSON.stringify(json);
  }
  return fs.readFileSync(path.join(tokDir, name, 'tokenizer.json'), 'utf8');
}

async function families(tokDir, dataDir, outDir, names) {
  const zlib = await import('node:zlib');
  const texts = familyTexts(dataDir);
  const list = names.length ? names : ['roberta-base', 'roberta-bne', 'xlm-roberta', 'mbert-cased',
    'beto-uncased', 'beto-uncased-accents'];
  fs.mkdirSync(outDir, { recursive: true });
  for (const name of list) {
    const json = familyJson(tokDir, name);
    const tok = tk.Tokenizer.fromString(json);
    const pad = ['<pad>', '[PAD]'].find((p) => tok.tokenToId(p) !== null && tok.tokenToId(p) !== undefined);
    const plain = await encodeFamily(tok, texts, 0);
    const max16 = await encodeFamily(tok, texts, 16, tok.tokenToId(pad), pad);
    const base = path.basename(name);
    fs.writeFileSync(path.join(outDir, `${base}.jsonl.gz`), zlib.gzipSync(plain, { level: 9 }));
    fs.writeFileSync(path.join(outDir, `${base}.max16.jsonl.gz`), zlib.gzipSync(max16, { level: 9 }));
    process.stderr.write(`${base}: ${texts.length} texts\n`);
  }
}

// A small Unigram tokenizer of our own for CI: the vocabulary of
// tests/golden/spm (trained by tools/gen_spm_golden.mjs) with <pad> and
// <mask> appended, Replace " {2,}" -> " " and U+2019 -> "'" (the
// Precompiled charsmap is covered by tests/golden/spm: the Rust code
// panics on that small map for some of these texts), Metaspace
// prepend_scheme "first", <s> $A </s>, <mask> with lstrip.
function tinyUnigram(spmDir, outDir) {
  const vocab = JSON.parse(fs.readFileSync(path.join(spmDir, 'small_vocab.json'), 'utf8'));
  vocab.push(['<pad>', 0], ['<mask>', 0]);
  const id = (t) => vocab.findIndex((v) => v[0] === t);
  const added = ['<unk>', '<s>', '</s>', '<pad>', '<mask>'].map((t) => ({
    id: id(t), content: t, single_word: false, lstrip: t === '<mask>', rstrip: false, normalized: false, special: true,
  })).sort((a, b) => a.id - b.id);
  const meta = { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'first', split: true };
  const json = {
    version: '1.0', truncation: null, padding: null, added_tokens: added,
    normalizer: { type: 'Sequence', normalizers: [{ type: 'Replace', pattern: { Regex: ' {2,}' }, content: ' ' },
      { type: 'Replace', pattern: { String: '\u2019' }, content: "'" }] },
    pre_tokenizer: meta,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '</s>', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '</s>', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } },
        { Sequence: { id: 'B', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
      special_tokens: {
        '<s>': { id: '<s>', ids: [id('<s>')], tokens: ['<s>'] },
        '</s>': { id: '</s>', ids: [id('</s>')], tokens: ['</s>'] },
      },
    },
    decoder: meta,
    model: { type: 'Unigram', unk_id: 0, vocab, byte_fallback: false },
  };
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, 'tokenizer.json'), `${JSON.stringify(json)}\n`);
  tk.Tokenizer.fromFile(path.join(outDir, 'tokenizer.json'));
}

const [cmd, ...args] = process.argv.slice(2);
if (cmd === 'probe') probe();
else if (cmd === 'overrides') overrides(args[0], args[1]);
else if (cmd === 'unicode') unicodeGolden(args[0]);
else if (cmd === 'cases') await cases(args[0], args[1], args[2]);
else if (cmd === 'tiny-unigram') tinyUnigram(args[0], args[1]);
else if (cmd === 'corpus') {
  process.stdout.write(familyTexts(args[0]).filter((t) => !t.includes('\u0000')).map((t) => `${JSON.stringify({ text: t })}\n`).join(''));
} else if (cmd === 'families') await families(args[0], args[1], args[2], args.slice(3));
else if (cmd === 'diff') await diff(args[0], args[1], Number(args[2] || 20000));
else {
  process.stderr.write('usage: node tools/gen_tok_golden.mjs probe | overrides RUST C | unicode RUST | cases VOCAB DATADIR OUTDIR | diff VOCAB INTENT [N]\n');
  process.exit(2);
}

// SPDX-License-Identifier: Apache-2.0
// gen_spm_golden.mjs - reference data for the SentencePiece Unigram tests
// (tests/unit/test_spm.c), produced by Hugging Face's Rust tokenizer (npm
// `tokenizers` 0.23.2). Not needed to build or test: the outputs are
// committed under tests/golden/spm/.
//
// Setup (outside the build; node_modules is git-ignored):
//   cd tools && npm install
// Commands (run from the repository root):
//   node tools/gen_spm_golden.mjs xlmr TOKENIZER_JSON DATASETS_DIR tests/golden/spm
//       TOKENIZER_JSON = ../shared/tokenizers/xlm-roberta/tokenizer.json;
//       writes xlmr_cases.jsonl: per text the string after the Precompiled
//       normaliser ("pre"), after the whole normaliser ("norm"), the
//       Metaspace words, the Unigram ids per word and the full encoding
//       with <s> </s> ("full"). Nothing of the tokenizer file itself.
//   node tools/gen_spm_golden.mjs small DATASETS_DIR tests/golden/spm
//       a small vocabulary of our own (substring counts over dataset texts,
//       scores = log frequencies, plus the 256 <0xXX> pieces) in
//       small_vocab.json, a small charsmap of our own (a double-array trie
//       built here) in small_charsmap.txt, and what the Rust tokenizer makes
//       of them: small_cases.jsonl (Unigram ids with and without
//       byte_fallback, Precompiled output, Metaspace under each
//       prepend_scheme, Replace).
//   node tools/gen_spm_golden.mjs charsmap '{"A":"a"}'
//       prints the base64 charsmap (our double-array layout) of a mapping,
//       e.g. the one in tests/fuzz/fuzz_spm.c
//   node tools/gen_spm_golden.mjs diff TOKENIZER_JSON OUT [N]
//       N (20000) random strings of tricky code points in the same format
//       as xlmr_cases.jsonl, for a differential run (not committed):
//       IC_SPM_CASES=OUT build/intent_test spm_xlmr_golden
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

const require = createRequire(import.meta.url);
const tk = require('tokenizers');

// ---------------------------------------------------------------------------
// Texts. Escapes keep invisible characters visible in this file.
const HAND = [
  '', ' ', '  ', '   \t\n  ', 'a', ' a', 'a ', '  a  b   c    ', '\u00a0\u3000\u2003x', 'tab\tand\nnewline\r\nend',
  'Hello world', 'Hello  world', 'The quick brown fox jumps over the lazy dog.', "Don't stop me now, I'm having such a good time!",
  '¿Dónde está la biblioteca municipal?', '¡Qué alegría verte de nuevo!', 'El pingüino comió ñoquis con vergüenza.',
  'Despiértame mañana a las 6:45 de la mañana, por favor.', 'ÁÉÍÓÚÜÑ áéíóúüñ', 'Cancela todas mis alarmas de la semana',
  'ﬁnal ﬂow ﬀ ﬃ ﬄ', '① ② ⑩ ⑳ ㉑', '⑴ ⒜ ⓐ Ⓐ', 'ＡＢＣ ａｂｃ １２３ ！？', 'ｶﾀｶﾅ ﾊﾝｶｸ', '㎏ ㎞ ㏄ ㍻', '™ ℠ © ®', '½ ¼ ¾ ⅓ ⅞',
  'ⅠⅡⅢ ⅻ', 'ℌ ℍ ℕ ℝ', '𝐀𝐁𝐂 𝕏𝕐 𝒜', '⁰¹²³⁴ ₀₁₂', 'ǅ ǈ ǋ Ǳ', 'Ω Å K µ', 'ſ ẛ', 'ĳ Ŀ ŉ', '…‥ ‼ ⁇', '“quotes” ‘single’ «guillemets»',
  'e\u0301 a\u0300 o\u0308 n\u0303', 'cafe\u0301 café', 'Ａ\u0301', 'ﬁ\u0301', '①\u0308', 'a\u0301\u0302\u0303\u0304\u0305',
  '\u0301lead mark', 'Z\u0351\u0324a\u0342l\u0353g\u0359o\u0308\u0301\u0302', 'a\u20dd b\u20e3', '1\ufe0f\u20e3 #\ufe0f\u20e3',
  'a\u0000b', 'ctl\u0001\u0002\u0003\u0007\u001b', 'del\u007fhere', 'c1\u0080\u0085\u009f', 'zw\u200bsp', 'zwnj\u200czwj\u200d',
  'bom\ufeffx', 'soft\u00adhyphen', 'lrm\u200erlm\u200f', 'bidi\u202a\u202b\u202c\u202d\u202e', 'wj\u2060x', 'ls\u2028ps\u2029',
  'vt\u000bff\u000cfs\u001cgs\u001d', 'pua\ue000\uf8ff', 'nonchar\ufdd0\ufffe\uffff', 'repl\ufffdx', 'tag\u{e0041}\u{e007f}',
  'var\ufe0fsel\ufe0e', 'ideo\u3000space', 'en\u2002em\u2003thin\u2009hair\u200a', 'nnbsp\u202fx', 'ogham\u1680x',
  'x'.repeat(300), 'supercalifragilisticexpialidocious', 'Donaudampfschifffahrtsgesellschaftskapitän', 'ab'.repeat(120),
  'á'.repeat(150), 'antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis',
  '中文分词测试，我爱北京天安门。', '日本語のテキスト、カタカナとひらがな。', '한국어 텍스트입니다 안녕하세요', '각 가각', 'ㄱㄴㄷ ㅏㅑ',
  '𠀀𠀁 𪜀 𫠠 𬺰 𰀀', '〇一二三', '「引用」『二重』【括弧】', '（全角括弧）', '。、・ー',
  'مرحبا بالعالم', 'السَّلَامُ عَلَيْكُمْ', 'ﷺ ﷽ ﻻ ﺍ', 'שָׁלוֹם עולם', 'Привет, мир! Ёжик', 'Γειά σου Κόσμε ὀδός ΐ', 'Ελληνικά ά',
  'नमस्ते दुनिया', 'क्षत्रिय श्री', 'हिन्दी भाषा', 'স্বাগতম বাংলা', 'தமிழ் மொழி', 'สวัสดีชาวโลก', 'ພາສາລາວ', 'ཀུན་', 'ሰላም', 'Բարեւ', 'გამარჯობა',
  '😀😂🤣 👍🏽👍🏿', '👨‍👩‍👧‍👦 family', '🏳️‍🌈 🏴‍☠️', '🇪🇸🇫🇷🇺🇸', '❤️ ♥ ☺ ✌️', 'emoji😀inside😂words', '☕ coffee', '🫠🫶',
  '<s>', '</s>', '<unk>', '<pad>', '<mask>', 'x<s>y</s>z', '<unk><unk>', '▁', '▁▁hello', 'a▁b', '▁ ▁', '<0x41>',
  'hello.world', 'foo@bar.com https://example.org/path?q=1&r=2', '3.14 1,000,000 -42 +7 1e10', '$100 €50 £30 ¥1000 ₹500',
  '12:30pm 2024-01-15 #1 No.5', 'C++ C# F# .NET', 'snake_case camelCase PascalCase kebab-case', '((nested [brackets] {braces}))',
  'Ponme una alarma a las 6 y media', 'what is the weather like in Paris today?', 'Thanks!!! :) :-( ;-) xD',
  'İstanbul ıi IĞÜŞÖÇ', 'Straße STRASSE ß ẞ', 'Œuvre œuf Æsir æ', 'Ǆemal ǆ', 'ΣΊΣΥΦΟΣ σίσυφος',
];

function datasetTexts(dir, perFile) {
  const texts = [];
  for (const sub of ['fb_mtod_es', 'clinc150']) {
    for (const split of ['train.json', 'test.json']) {
      const f = path.join(dir, sub, split);
      if (!fs.existsSync(f)) throw new Error(`${f}: missing`);
      const rows = JSON.parse(fs.readFileSync(f, 'utf8'));
      for (let j = 0; j < perFile; j++) texts.push(rows[Math.floor((j * rows.length) / perFile)].text);
    }
  }
  return texts;
}

// Deterministic generator (mulberry32) for the random strings.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const POOLS = [
  ['hola', 'que', 'tal', 'alarma', 'mañana', 'the', 'weather', 'is', 'x', 'A', 'niño', 'día', '7am', 'ok'],
  [' ', ' ', ' ', '  ', '   ', '\t', '\n', '\u00a0', '\u3000', '\u2009', '\r\n'],
  ['ﬁ', '①', 'Ａ', 'ｂ', '１', '㎏', '™', '½', 'ⅷ', 'ℌ', '𝐀', 'ǅ', 'Ω', 'K', 'µ', 'ｶ', 'ﾞ', 'ﾟ', 'ﷺ', '⑴', '…'],
  ['\u0301', '\u0300', '\u0308', '\u0303', '\u0327', '\u20dd', '\u0651', '\u064e', '\u093c', '\u094d', '\u0e31', '\u302a', '\u3099', '\ufe0f'],
  ['中', '文', '日', 'の', 'カ', '한', '국', 'ᄀ', 'ᅡ', 'ᆨ', '𠀀', '。', '、'],
  ['م', 'ر', 'ح', 'ب', 'ا', 'ש', 'ל', 'п', 'р', 'и', 'α', 'ά', 'न', 'म', 'स', '्', 'ते', 'ส', 'ว', 'ั'],
  ['😀', '👍', '🏽', '\u200d', '❤', '🇪', '🇸', '☕', '👨', '👩'],
  ['\u0000', '\u0001', '\u007f', '\u0085', '\u200b', '\u200c', '\ufeff', '\u00ad', '\u2028', '\ue000', '\ufffd', '\u{e0041}'],
  ['<s>', '</s>', '<unk>', '▁', '<mask>', '.', ',', '!', '?', '¿', '¡', '-', "'", '"', '(', ')'],
];

function randomTexts(n, seed) {
  const r = rng(seed);
  const out = [];
  for (let i = 0; i < n; i++) {
    let s = '';
    const k = 1 + Math.floor(r() * 20);
    for (let j = 0; j < k; j++) {
      const pool = POOLS[Math.floor(r() * POOLS.length)];
      s += pool[Math.floor(r() * pool.length)];
    }
    out.push(s);
  }
  return out;
}

// ---------------------------------------------------------------------------
// Single-component tokenizers built from the parts of a tokenizer.json.
function tokJson(parts) {
  return JSON.stringify({
    version: '1.0', truncation: null, padding: null, added_tokens: parts.added || [],
    normalizer: parts.normalizer || null, pre_tokenizer: parts.pre_tokenizer || null,
    post_processor: parts.post_processor || null, decoder: null, model: parts.model,
  });
}

function unigramModel(vocab, unkId, byteFallback) {
  return { type: 'Unigram', unk_id: unkId, vocab, byte_fallback: byteFallback };
}

async function modelIds(tok, word) {
  const e = await tok.encode(word, null, { addSpecialTokens: false });
  return e.getIds();
}

async function xlmrRows(file, texts) {
  const spec = JSON.parse(fs.readFileSync(file, 'utf8'));
  const full = tk.Tokenizer.fromFile(file);
  const norms = spec.normalizer.normalizers;
  const pre = tk.Tokenizer.fromString(tokJson({ normalizer: norms[0], model: spec.model })).getNormalizer();
  const normalizer = full.getNormalizer();
  const pretok = full.getPreTokenizer();
  const model = tk.Tokenizer.fromString(tokJson({ model: spec.model }));
  const rows = [];
  for (const text of texts) {
    const norm = normalizer.normalizeString(text);
    const words = pretok.preTokenizeString(norm).map((w) => w[0]);
    const ids = [];
    for (const w of words) ids.push(await modelIds(model, w));
    const e = await full.encode(text);
    rows.push({ text, pre: pre.normalizeString(text), norm, words, ids, full: e.getIds() });
  }
  return rows;
}

function writeJsonl(file, rows) {
  fs.writeFileSync(file, `${rows.map((r) => JSON.stringify(r)).join('\n')}\n`);
}

async function xlmr(file, dataDir, outDir) {
  const texts = [...HAND, ...datasetTexts(dataDir, 50), ...randomTexts(160, 12)];
  const rows = await xlmrRows(file, texts);
  writeJsonl(path.join(outDir, 'xlmr_cases.jsonl'), rows);
  process.stderr.write(`xlmr_cases.jsonl: ${rows.length} texts\n`);
}

async function diff(file, out, n) {
  const rows = await xlmrRows(file, randomTexts(n, 777));
  writeJsonl(out, rows);
}

// ---------------------------------------------------------------------------
// The small vocabulary: substrings (up to 6 characters) of the Metaspace
// words of dataset texts, counted; the most frequent become pieces with
// score log(count / total). Every character seen is a piece; a few are left
// out on purpose so that <unk> and byte fallback get exercised.
function smallVocab(texts) {
  const counts = new Map();
  const chars = new Map();
  for (const t of texts) {
    for (const w of t.split(' ').filter((x) => x)) {
      const cs = [...`▁${w}`];
      for (let i = 0; i < cs.length; i++) {
        chars.set(cs[i], (chars.get(cs[i]) || 0) + 1);
        for (let j = i + 2; j <= Math.min(cs.length, i + 6); j++) {
          const s = cs.slice(i, j).join('');
          counts.set(s, (counts.get(s) || 0) + 1);
        }
      }
    }
  }
  const omit = new Set(['z', 'ñ', 'Q', '7']);
  const top = [...counts.entries()].filter((e) => e[1] >= 3)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, 700);
  const all = [...top, ...[...chars.entries()].filter((e) => !omit.has(e[0]))];
  const total = all.reduce((s, e) => s + e[1], 0);
  const vocab = [['<unk>', 0], ['<s>', 0], ['</s>', 0]];
  const seen = new Set(vocab.map((v) => v[0]));
  for (const [s, c] of all) {
    if (seen.has(s)) continue;
    seen.add(s);
    vocab.push([s, Math.log(c / total)]);
  }
  vocab.push(['▁hola', vocab[vocab.length - 1][1]]); // a repeated score
  vocab.push(['▁de', -3.5]); // a repeated piece: the last id wins
  return vocab;
}

// A Darts-style double array of our own for a few keys -> replacements.
// Unit layout: label in bits 0-7, has_leaf bit 8, offset in bits 10-31
// (bit 9 = offset shifted by 8 more); a leaf unit holds value | 1 << 31.
function buildCharsmap(map) {
  const keys = Object.keys(map).map((k) => Buffer.from(k, 'utf8'));
  let blob = Buffer.alloc(0);
  const values = [];
  for (const k of Object.keys(map)) {
    values.push(blob.length);
    blob = Buffer.concat([blob, Buffer.from(map[k], 'utf8'), Buffer.from([0])]);
  }
  // trie of the keys: node = {children: Map(byte -> node), value}
  const root = { children: new Map(), value: -1 };
  keys.forEach((k, i) => {
    let n = root;
    for (const b of k) {
      if (!n.children.has(b)) n.children.set(b, { children: new Map(), value: -1 });
      n = n.children.get(b);
    }
    n.value = values[i];
  });
  const units = [0];
  const used = new Set([0]);
  const place = (node, idx) => {
    const labels = [...node.children.keys()];
    if (node.value >= 0) labels.push(0);
    if (!labels.length) return;
    // the lowest free slot p for the first label decides the offset
    let off = 0;
    for (let p = 1; ; p++) {
      off = idx ^ labels[0] ^ p;
      if (off > 0 && !labels.some((c) => used.has(idx ^ off ^ c))) break;
    }
    if (off >= 1 << 21) throw new Error('offset too large');
    units[idx] = (units[idx] || 0) | (off << 10);
    for (const c of labels) used.add(idx ^ off ^ c);
    if (node.value >= 0) units[idx ^ off] = (node.value | 0x80000000) >>> 0;
    for (const [c, child] of node.children) {
      const ci = idx ^ off ^ c;
      units[ci] = c | (child.value >= 0 ? 1 << 8 : 0);
    }
    for (const [c, child] of node.children) place(child, idx ^ off ^ c);
  };
  place(root, 0);
  const n = units.length;
  const head = Buffer.alloc(4 + 4 * n);
  head.writeUInt32LE(4 * n, 0);
  for (let i = 0; i < n; i++) head.writeUInt32LE((units[i] || 0) >>> 0, 4 + 4 * i);
  return Buffer.concat([head, blob]);
}

const SMALL_MAP = {
  'Ａ': 'A', 'Ｂ': 'B', 'ａ': 'a', '１': '1', 'ﬁ': 'fi', 'ﬂ': 'fl', '①': '1', '½': '1⁄2', '™': 'TM',
  'e\u0301': 'é', 'a\u0300': 'à', '\u00a0': ' ', '\u3000': ' ', '\t': ' ', '\n': ' ', '\u200b': '',
  '\u0001': '', '\u00ad': '', 'ｶ': 'カ', 'ｶﾞ': 'ガ', 'ß': 'ss', 'Ω': 'Ω', 'K': 'K', 'Å': 'Å', 'x\u0301\u0301': 'X',
};

const SMALL_TEXTS = [
  'Ａ\u0301', 'ＡＢ ａ１', 'ﬁ\u0301 ﬁn', 'cafe\u0301 caf\u00e9', 'a\u0300\u0301', 'e\u0301\u0301\u0301', 'x\u0301\u0301 x\u0301',
  'ｶﾞ ｶ ｶﾟ', 'ß Straße', 'Ω K Å', 'tab\there\nnl', 'nb\u00a0sp\u3000id', 'zero\u200bwidth', 'soft\u00adhy', 'c\u0001d',
  '① ½ ™', '👍🏽 👨‍👩‍👧', 'a\u0000b', 'plain ascii text', '', '\r\n', 'e\u0301' + 'x'.repeat(3),
];

const META_TEXTS = [
  '', ' ', '  ', 'a', ' a', 'a ', 'Hey friend!', 'Hey   friend!', '▁x', '▁▁', 'a▁b c', '  lead trail  ', 'x\ty z',
];

const REPLACES = [
  { pattern: { Regex: ' {2,}' }, content: ' ', texts: ['a  b   c', '    ', 'one two', ' x ', 'a\u00a0\u00a0b'] },
  { pattern: { String: 'ab' }, content: 'X', texts: ['abab', 'aab', 'ba', 'ababa', ''] },
  { pattern: { String: '▁▁' }, content: '_', texts: ['▁▁▁', '▁a▁▁b'] },
  { pattern: { Regex: '[0-9]+' }, content: '#', texts: ['a1b22c333', '2024-01-15', 'none'] },
  { pattern: { Regex: 'x(yz)+' }, content: '', texts: ['axyzyzb xy xyz'] },
];

async function small(dataDir, outDir) {
  const texts = datasetTexts(dataDir, 60);
  const vocab = smallVocab(texts.slice(0, 200));
  const bfVocab = [...vocab];
  for (let b = 0; b < 256; b++) bfVocab.push([`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`, -20]);
  const meta = { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true };
  const words = [];
  const seenWords = new Set();
  const pretok = tk.Tokenizer.fromString(tokJson({ pre_tokenizer: meta, model: unigramModel(vocab, 0, false) }))
    .getPreTokenizer();
  for (const t of [...texts, ...HAND]) {
    for (const w of pretok.preTokenizeString(t)) {
      if (!seenWords.has(w[0])) words.push(w[0]);
      seenWords.add(w[0]);
    }
  }
  const plain = tk.Tokenizer.fromString(tokJson({ model: unigramModel(vocab, 0, false) }));
  const bf = tk.Tokenizer.fromString(tokJson({ model: unigramModel(bfVocab, 0, true) }));
  const unigram = [];
  for (const w of words) unigram.push({ word: w, ids: await modelIds(plain, w), bf: await modelIds(bf, w) });
  fs.writeFileSync(path.join(outDir, 'small_vocab.json'), `${JSON.stringify(vocab)}\n`);

  const charsmap = buildCharsmap(SMALL_MAP).toString('base64');
  fs.writeFileSync(path.join(outDir, 'small_charsmap.txt'), `${charsmap}\n`);
  const prec = tk.Tokenizer.fromString(tokJson({
    normalizer: { type: 'Precompiled', precompiled_charsmap: charsmap }, model: unigramModel(vocab, 0, false),
  })).getNormalizer();
  const precompiled = SMALL_TEXTS.map((t) => ({ text: t, norm: prec.normalizeString(t) }));

  const metaspace = [];
  for (const scheme of ['always', 'never', 'first']) {
    for (const split of [true, false]) {
      const p = tk.Tokenizer.fromString(tokJson({
        pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: scheme, split },
        model: unigramModel(vocab, 0, false),
      })).getPreTokenizer();
      for (const t of META_TEXTS) metaspace.push({ text: t, scheme, split, words: p.preTokenizeString(t).map((w) => w[0]) });
    }
  }
  const replace = [];
  for (const r of REPLACES) {
    const n = tk.Tokenizer.fromString(tokJson({
      normalizer: { type: 'Replace', pattern: r.pattern, content: r.content }, model: unigramModel(vocab, 0, false),
    })).getNormalizer();
    for (const t of r.texts) replace.push({ pattern: r.pattern, content: r.content, text: t, out: n.normalizeString(t) });
  }
  const rows = [
    ...unigram.map((u) => ({ kind: 'unigram', ...u })),
    ...precompiled.map((u) => ({ kind: 'precompiled', ...u })),
    ...metaspace.map((u) => ({ kind: 'metaspace', ...u })),
    ...replace.map((u) => ({ kind: 'replace', ...u })),
  ];
  writeJsonl(path.join(outDir, 'small_cases.jsonl'), rows);
  process.stderr.write(`small: ${vocab.length} pieces, ${unigram.length} words, ${precompiled.length} precompiled, `
    + `${metaspace.length} metaspace, ${replace.length} replace\n`);
}

const [cmd, ...args] = process.argv.slice(2);
if (cmd === 'xlmr') await xlmr(args[0], args[1], args[2]);
else if (cmd === 'small') await small(args[0], args[1]);
else if (cmd === 'charsmap') process.stdout.write(`${buildCharsmap(JSON.parse(args[0])).toString('base64')}\n`);
else if (cmd === 'diff') await diff(args[0], args[1], Number(args[2] || 20000));
else {
  process.stderr.write('usage: node tools/gen_spm_golden.mjs xlmr TOKENIZER_JSON DATADIR OUTDIR | small DATADIR OUTDIR | diff TOKENIZER_JSON OUT [N]\n');
  process.exit(2);
}

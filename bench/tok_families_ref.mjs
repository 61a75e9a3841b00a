// SPDX-License-Identifier: Apache-2.0
// tok_families_ref.mjs - the reference side of bench/bench_tok_families.sh:
// the npm `tokenizers` package (Hugging Face's Rust tokenizer) encoding the
// same texts as bench/bench_tok_families.c (every *.json file of a dataset
// directory, sorted), after a warm-up round, with TOKENIZERS_PARALLELISM=false
// (one core); prints the median MB/s.
//   node bench/tok_families_ref.mjs TOKENIZER_DIR DATASET_DIR [ROUNDS] [GROUP]
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

const require = createRequire(path.join(process.cwd(), 'tools', 'package.json'));
const tk = require('tokenizers');

const [dir, data, roundsArg, groupArg] = process.argv.slice(2);
const rounds = Number(roundsArg || 5);
const group = Number(groupArg || 1);
const tok = tk.Tokenizer.fromFile(path.join(dir, 'tokenizer.json'));
const texts = [];
for (const f of fs.readdirSync(data).filter((n) => n.endsWith('.json')).sort()) {
  for (const r of JSON.parse(fs.readFileSync(path.join(data, f), 'utf8'))) {
    if (typeof r.text === 'string') texts.push(r.text);
  }
}
// GROUP > 1: every GROUP texts joined by " " into one (long texts)
if (group > 1) {
  const joined = [];
  for (let i = 0; i < texts.length; i += group) joined.push(texts.slice(i, i + group).join(' '));
  texts.length = 0;
  texts.push(...joined);
}
const bytes = texts.reduce((a, t) => a + Buffer.byteLength(t, 'utf8'), 0);
// two ways to call the package: one encodeBatch per round, and one awaited
// encode per text; the faster median is the reference
async function round(batch) {
  const t0 = process.hrtime.bigint();
  if (batch) await tok.encodeBatch(texts);
  else for (const t of texts) await tok.encode(t);
  return bytes / (Number(process.hrtime.bigint() - t0) / 1e9) / 1e6;
}
const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const tokens = (await tok.encodeBatch(texts)).reduce((a, e) => a + e.getIds().length, 0);
const res = {};
for (const batch of [true, false]) {
  const mbs = [];
  await round(batch);
  for (let r = 0; r < rounds; r++) mbs.push(await round(batch));
  res[batch ? 'encodeBatch' : 'encode'] = median(mbs);
}
const best = Math.max(res.encodeBatch, res.encode);
console.log(`npm tokenizers: ${texts.length} texts, ${(bytes / 1e3).toFixed(1)} KB, ${tokens} tokens; ` +
  `median of ${rounds} rounds: ${best.toFixed(2)} MB/s (encodeBatch ${res.encodeBatch.toFixed(2)}, ` +
  `encode ${res.encode.toFixed(2)})`);

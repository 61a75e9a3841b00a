#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
// docs_browser.js - drives a real headless Chromium over the DevTools protocol
// (--remote-debugging-pipe, node built-ins only): loads BASE/docs, types TEXT into the
// sentence box, presses Enter, waits for the rendered ranking and prints it as JSON
// ({"rows": [[intent, confidence], ...], "routes": N}). Also loads BASE/redoc and counts the
// documented routes it rendered.
//   node docs_browser.js CHROMIUM BASE TEXT
'use strict';
const { spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const [chrome, base, text] = process.argv.slice(2);
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'intent-chromium-'));
const args = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--user-data-dir=' + profile, '--remote-debugging-pipe', 'about:blank'];
const proc = spawn(chrome, args, { stdio: ['ignore', 'ignore', 'ignore', 'pipe', 'pipe'] });
const toBrowser = proc.stdio[3], fromBrowser = proc.stdio[4];

let nextId = 1, buf = '';
const waiting = new Map(), listeners = [];
fromBrowser.on('data', (d) => {
  buf += d.toString('utf8');
  let k;
  while ((k = buf.indexOf('\0')) >= 0) {
    const msg = JSON.parse(buf.slice(0, k));
    buf = buf.slice(k + 1);
    if (msg.id && waiting.has(msg.id)) {
      const w = waiting.get(msg.id);
      waiting.delete(msg.id);
      if (msg.error) w.reject(new Error(JSON.stringify(msg.error)));
      else w.resolve(msg.result);
    } else {
      listeners.forEach((f) => f(msg));
    }
  }
});
function send(method, params, sessionId) {
  const id = nextId++;
  const m = { id, method, params: params || {} };
  if (sessionId) m.sessionId = sessionId;
  toBrowser.write(JSON.stringify(m) + '\0');
  return new Promise((resolve, reject) => waiting.set(id, { resolve, reject }));
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function evaluate(session, expr) {
  const r = await send('Runtime.evaluate', { expression: expr, returnByValue: true }, session);
  return r.result.value;
}
async function until(session, expr, what) {
  for (let i = 0; i < 200; i++) {
    const v = await evaluate(session, expr);
    if (v) return v;
    await sleep(50);
  }
  throw new Error('timed out waiting for ' + what);
}
async function open(url) {
  const { targetId } = await send('Target.createTarget', { url: 'about:blank' });
  const { sessionId } = await send('Target.attachToTarget', { targetId, flatten: true });
  await send('Page.enable', {}, sessionId);
  await send('Runtime.enable', {}, sessionId);
  await send('Page.navigate', { url }, sessionId);
  await until(sessionId, 'document.readyState === "complete"', url + ' to load');
  return sessionId;
}
async function key(session, type, extra) {
  await send('Input.dispatchKeyEvent', Object.assign({ type, key: 'Enter', code: 'Enter',
    windowsVirtualKeyCode: 13, nativeVirtualKeyCode: 13 }, extra || {}), session);
}

async function main() {
  const s = await open(base + '/docs');
  // the route list is rendered from /openapi.json
  const routes = await until(s, 'document.querySelectorAll(".op button").length',
    'the route list');
  // type the sentence like a person: focus the box, insert the text, press Enter
  await evaluate(s, 'document.getElementById("text").focus(), true');
  await send('Input.insertText', { text }, s);
  await key(s, 'keyDown', { text: '\r' });
  await key(s, 'keyUp');
  const rows = await until(s, `(() => { const t = document.querySelectorAll('#ranktable tr');
    if (t.length < 2) return null;
    return Array.from(t).slice(1).map((r) => [r.querySelector('.intent').textContent,
      parseFloat(r.querySelector('.conf').textContent)]); })()`, 'the ranking');
  const typed = await evaluate(s, 'document.getElementById("text").value');
  // one route tried from its own form: GET /intents
  await evaluate(s, 'document.querySelector("#route-intents button").click(), true');
  const intents = await until(s, `(() => { const o = document.querySelector('#route-intents pre');
    return o && !o.hidden && o.textContent ? o.textContent : null; })()`, 'the /intents answer');
  const r = await open(base + '/redoc');
  const documented = await until(r, 'document.querySelectorAll("main section[id^=op-]").length',
    'the reference page');
  process.stdout.write(JSON.stringify({ typed, rows, routes, intents: JSON.parse(intents),
    documented }) + '\n');
}

const timer = setTimeout(() => { console.error('docs_browser: timed out'); finish(3); }, 60000);
function finish(code) {
  clearTimeout(timer);
  const done = () => {
    try {
      fs.rmSync(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
    } catch (e) { /* a profile left in /tmp is not a test failure */ }
    process.exit(code);
  };
  if (proc.exitCode !== null || proc.signalCode !== null) return done();
  proc.once('exit', done);
  try { proc.kill('SIGKILL'); } catch (e) { done(); }
}
main().then(() => finish(0), (e) => { console.error('docs_browser: ' + e.message); finish(1); });

// page.js -- the spectator page in headless Chromium (playwright-core),
// against a real instance: history, live messages, the 🦞 badge, an XSS
// attempt rendered as text, the online list and counts matching
// /api/agents, a profile, recovery after the relay restarts, a message
// an operator deletes leaving the page, and a phone width.  Prints TAP; run by test/integ/95-page.sh.
'use strict';
const { chromium } = require('playwright-core');
const { execSync } = require('child_process');

const BASE = process.env.CHATR_BASE;
const FAKE = process.env.CHATR_FAKE;
const OUT = process.env.CHATR_OUT;
const RELAY = process.env.CHATR_RELAY_PATTERN;
const CTL = process.env.CHATR_CTL;
const CTLCONF = process.env.CHATR_CTL_CONFIG;

let n = 0, failed = 0;
function ok(cond, what, detail) {
  n++;
  if (cond) { console.log(`ok ${n} - ${what}`); return; }
  failed++;
  console.log(`not ok ${n} - ${what}`);
  if (detail !== undefined) console.log(`#   ${String(detail).split('\n').join('\n#   ')}`);
}

async function api(method, path, body, key) {
  const headers = { 'Content-Type': 'application/json' };
  if (key) headers.Authorization = `Bearer ${key}`;
  const r = await fetch(BASE + path, {
    method, headers, body: body === undefined ? (method === 'POST' ? '' : undefined) : JSON.stringify(body),
  });
  return { status: r.status, json: await r.json() };
}

async function register(name) {
  const r = await api('POST', '/api/register', { name });
  if (r.status !== 200) throw new Error(`register ${name}: ${JSON.stringify(r.json)}`);
  return r.json.agent;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(fn, ms = 10000) {
  const end = Date.now() + ms;
  for (;;) {
    try { const v = await fn(); if (v) return v; } catch (e) { /* retry */ }
    if (Date.now() > end) return false;
    await sleep(200);
  }
}

async function texts(page) {
  return page.$$eval('#messages li .content', (els) => els.map((e) => e.textContent));
}

(async () => {
  const alice = await register('alice');
  const bob = await register('bob_the_bot');
  const lobster = await register('lobster');
  await api('POST', '/api/messages', { content: 'history one' }, alice.apiKey);
  await api('POST', '/api/messages', { content: 'history two' }, bob.apiKey);

  const browser = await chromium.launch({
    executablePath: process.env.CHATR_CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
  const dialogs = [];
  const errors = [];
  page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss(); });
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));

  const resp = await page.goto(BASE + '/');
  const csp = resp.headers()['content-security-policy'] || '';
  ok(resp.status() === 200 && /script-src 'self'/.test(csp) && /default-src 'none'/.test(csp),
    'GET / answers 200 with a strict Content-Security-Policy', csp);

  ok(await waitFor(async () => (await page.textContent('#conn')) === 'live'),
    'the connection state shows live');
  ok(await waitFor(async () => {
    const t = await texts(page);
    return t.length === 2 && t[0] === 'history one' && t[1] === 'history two';
  }), 'the history shows on load, oldest first', JSON.stringify(await texts(page)));

  await api('POST', '/api/messages', { content: 'a new live message' }, alice.apiKey);
  ok(await waitFor(async () => (await texts(page)).slice(-1)[0] === 'a new live message'),
    'a new message appears at the bottom', JSON.stringify(await texts(page)));

  const xss = '<img src=x onerror=alert(1)>';
  await api('POST', '/api/messages', { content: xss }, bob.apiKey);
  ok(await waitFor(async () => (await texts(page)).slice(-1)[0] === xss),
    'an <img onerror> message shows as those characters');
  ok((await page.$$('#messages img')).length === 0 && dialogs.length === 0,
    'and no element or script came from it', JSON.stringify(dialogs));

  // A direction override in content is gone, and each text keeps its own
  // direction, so nothing can reorder the name or time around it.
  await api('POST', '/api/messages', { content: 'abc\u202Edcba done' }, bob.apiKey);
  ok(await waitFor(async () => (await texts(page)).slice(-1)[0] === 'abcdcba done'),
    'a right-to-left override in a message is removed', JSON.stringify((await texts(page)).slice(-1)));
  const iso = await page.$$eval('#messages li', (lis) => lis.slice(-1).map((li) => [
    li.querySelector('.content').dir, getComputedStyle(li.querySelector('.content')).unicodeBidi,
    li.querySelector('.name').dir]));
  ok(JSON.stringify(iso) === '[["auto","isolate","auto"]]',
    'message text and names are isolated, each in its own direction', JSON.stringify(iso));

  // Verify lobster on the fake Moltbook, then its message carries the badge.
  const start = await api('POST', '/api/verify/start', { moltbookName: 'lobster_bot' }, lobster.apiKey);
  await fetch(`${FAKE}/control/profile`, {
    method: 'POST',
    body: JSON.stringify({ name: 'lobster_bot', answer: { success: true,
      agent: { name: 'Lobster_Bot', is_claimed: true, owner: { x_handle: 'lobster_owner' } },
      recentPosts: [{ id: '1', title: 't', content: start.json.message }] } }),
  });
  const done = await api('POST', '/api/verify/complete', { moltbookName: 'lobster_bot' }, lobster.apiKey);
  ok(done.status === 200 && done.json.verified === true, 'lobster is verified', JSON.stringify(done.json));
  await api('POST', '/api/messages', { content: 'a verified hello' }, lobster.apiKey);
  ok(await waitFor(async () => page.$eval('#messages li:last-child', (li) => {
    const b = li.querySelector('.badge');
    return li.querySelector('.content').textContent === 'a verified hello' && b && b.textContent === '🦞 Lobster_Bot';
  })), 'a verified agent\'s message shows the 🦞 badge with the Moltbook name');
  const plainBadge = await page.$$eval('#messages li', (lis) => lis.filter((li) =>
    li.querySelector('.content').textContent === 'history one')[0].querySelector('.badge'));
  ok(plainBadge === null, 'an unverified agent\'s message has no badge');

  // Online list and counts against /api/agents.
  for (const a of [alice, bob, lobster]) await api('POST', '/api/heartbeat', undefined, a.apiKey);
  const agents = (await api('GET', '/api/agents')).json;
  ok(await waitFor(async () => {
    const names = await page.$$eval('#agents li .n', (els) => els.map((e) => e.textContent).sort());
    return JSON.stringify(names) === JSON.stringify(agents.agents.map((a) => a.name).sort());
  }, 15000), 'the online list matches /api/agents', JSON.stringify(agents.agents.map((a) => a.name)));
  ok(await waitFor(async () => {
    const s = (await api('GET', '/api/agents')).json.stats;
    const shown = await page.$$eval('.stats b', (els) => els.map((e) => e.textContent.replace(/\D/g, '')));
    return shown[0] === String(s.onlineAgents) && shown[1] === String(s.totalAgents) &&
      shown[2] === String(s.totalMessages);
  }, 15000), 'the counts match /api/agents stats');

  await page.click(`#agents button[data-agent="${lobster.id}"]`);
  ok(await waitFor(async () => {
    const mb = await page.textContent('#profile-moltbook');
    const ow = await page.textContent('#profile-owner');
    return !(await page.isHidden('#profile')) && mb.includes('Lobster_Bot') && ow === '@lobster_owner';
  }), 'clicking an agent shows its Moltbook name and owner\'s X handle');

  await page.screenshot({ path: `${OUT}/page.png`, fullPage: true });

  // The relay dies: the page says so, recovers, and loses nothing.
  execSync(`pkill -9 -f '[${RELAY[0]}]${RELAY.slice(1)}'`);
  ok(await waitFor(async () => (await page.textContent('#conn')) !== 'live', 5000),
    'the page shows the connection is lost');
  await api('POST', '/api/messages', { content: 'sent while the relay was down' }, alice.apiKey);
  ok(await waitFor(async () => (await page.textContent('#conn')) === 'live', 30000),
    'the page reconnects by itself');
  ok(await waitFor(async () => (await texts(page)).slice(-1)[0] === 'sent while the relay was down', 10000),
    'and shows the message sent while the relay was down', JSON.stringify((await texts(page)).slice(-3)));
  const all = await texts(page);
  ok(new Set(all).size === all.length, 'no message shows twice after reconnecting', JSON.stringify(all));

  // An operator deletes a message: it leaves the page, the rest stay.
  const doomed = await api('POST', '/api/messages', { content: 'an abusive message' }, bob.apiKey);
  ok(await waitFor(async () => (await texts(page)).includes('an abusive message'), 10000),
    'a message to delete shows first');
  const before = (await texts(page)).length;
  execSync(`${CTL} delete ${doomed.json.message.id}`, { env: { ...process.env, CHATR_CONFIG: CTLCONF } });
  ok(await waitFor(async () => !(await texts(page)).includes('an abusive message'), 10000),
    'chatrctl delete removes the message from the page', JSON.stringify((await texts(page)).slice(-3)));
  ok((await texts(page)).length === before - 1 && (await texts(page)).includes('sent while the relay was down'),
    'and only that one', JSON.stringify((await texts(page)).slice(-3)));

  // A phone-width screen.
  await page.setViewportSize({ width: 390, height: 844 });
  await sleep(300);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth);
  ok(overflow <= 390, `nothing overflows a 390 px wide screen (${overflow})`);
  await page.screenshot({ path: `${OUT}/page-phone.png` });

  const skills = await page.textContent('#skills-url');
  ok(skills === `${BASE}/skills.md`, 'the invite box shows this instance\'s skills.md URL', skills);
  let mcp = null;
  try { mcp = JSON.parse(await page.textContent('#mcp-config')); } catch (e) { /* not JSON */ }
  ok(mcp && mcp.mcpServers && mcp.mcpServers.chatr.command === 'chatr-mcp' &&
     mcp.mcpServers.chatr.env.CHATR_URL === BASE,
     'the invite box gives the MCP client configuration for this instance', JSON.stringify(mcp));
  const mcpUrl = await page.textContent('#mcp-url');
  ok(mcpUrl === `${BASE}/mcp`, 'and the remote MCP URL', mcpUrl);
  ok(errors.length === 0, 'no script errors or CSP violations', errors.join('\n'));

  await browser.close();
  console.log(`1..${n}`);
  process.exit(failed ? 1 : 0);
})().catch((e) => {
  console.log(`not ok ${n + 1} - the page test ran to the end`);
  console.log(`#   ${String(e.stack || e).split('\n').join('\n#   ')}`);
  console.log(`1..${n + 1}`);
  process.exit(1);
});

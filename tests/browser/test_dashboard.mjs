/*
 * The dashboard in a real browser (issue 13 item 4): Debian's chromium driven headless by
 * puppeteer-core (pinned in package.json / package-lock.json, installed in the build folder). It starts its own
 * redis-server and journeyd on loopback, loads a simulated month with the simulator
 * (bench/jdsim), logs in with a read token and opens every view and drill-down, and checks:
 *   - every element with data-jd-src shows exactly the API's value at that source, formatted
 *     here independently of the app (Intl, the locale of the page);
 *   - no console error, no failed page script, no request to another origin;
 *   - the replay button does not work for a read token (403), and does for admin;
 *   - the first view's transfer is under 300 KB;
 *   - the views can be reached and used with the keyboard, and fit a phone's width.
 * Screenshots of each view go to $JD_SHOTS (the build folder).
 *
 * Exit 77 (ctest's skip) when chromium or puppeteer-core is missing: tests/run.sh installs
 * both. Views whose endpoint this journeyd does not have yet (404) show "not available";
 * their checks are skipped and the skip is printed.
 */
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const CHROMIUM = process.env.JD_CHROMIUM || '/usr/bin/chromium';
const BINARY = process.env.JD_BINARY;
const JDSIM = process.env.JD_JDSIM;
const SHOTS = process.env.JD_SHOTS || join(here, 'shots');
const SOURCE = process.env.JD_SOURCE_DIR || join(here, '..', '..');
const READ_TOKEN = 'read-token-browser-0123456789';
const ADMIN_TOKEN = 'admin-token-browser-0123456789';

/* puppeteer-core from <build>/browser/node_modules (npm ci there, from the pinned lock). */
const MODULES = process.env.JD_NODE_MODULES || here;
let puppeteer;
try {
  puppeteer = createRequire(join(MODULES, 'package.json'))('puppeteer-core');
} catch (e) {
  console.log('SKIP: puppeteer-core is not installed (npm ci --prefix ' + MODULES + ')');
  process.exit(77);
}
if (!existsSync(CHROMIUM)) {
  console.log('SKIP: ' + CHROMIUM + ' is missing (apt-get install chromium)');
  process.exit(77);
}
if (!BINARY || !JDSIM) {
  console.log('FAIL: JD_BINARY and JD_JDSIM must name the daemon and the simulator');
  process.exit(1);
}

let failures = 0;
const skipped = [];
function fail(msg) {
  failures++;
  console.log('FAIL: ' + msg);
}
function note(msg) {
  console.log('  ' + msg);
}

const children = [];
const dir = mkdtempSync(join(tmpdir(), 'jd-browser-'));
function cleanup() {
  for (const c of children) {
    try {
      process.kill(c.pid, 'SIGTERM');
    } catch (e) { /* already gone */ }
  }
}
process.on('exit', cleanup);
const watchdog = setTimeout(() => {
  fail('watchdog: the test took more than 420 s');
  cleanup();
  process.exit(1);
}, 420000);

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
    s.on('error', reject);
  });
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what, fn, tries) {
  for (let i = 0; i < tries; i++) {
    try {
      if (await fn()) return;
    } catch (e) { /* not yet */ }
    await sleep(100);
  }
  throw new Error('timed out waiting for ' + what);
}

/* ---- redis-server and journeyd ---- */

const redisPort = await freePort();
const port = await freePort();
const base = 'http://127.0.0.1:' + port;
mkdirSync(join(dir, 'redis'));
children.push(spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '',
  '--appendonly', 'no', '--dir', join(dir, 'redis')], { stdio: 'ignore' }));
await waitFor('redis', () => {
  execFileSync('redis-cli', ['-p', String(redisPort), 'ping'], { stdio: 'ignore' });
  return true;
}, 100);

/* The quick start's configuration (every source type, Rome's months) with a read and an
 * admin token. */
let conf = readFileSync(join(SOURCE, 'tools', 'demo.conf'), 'utf8')
  .replace('@REDIS@', '127.0.0.1:' + redisPort)
  .replace(/127\.0\.0\.1:8080/g, '127.0.0.1:' + port)
  .replace(/^api_tokens = .*$/m, 'api_tokens = read:' + READ_TOKEN + ', admin:' + ADMIN_TOKEN);
writeFileSync(join(dir, 'journeyd.conf'), conf);
const jd = spawn(BINARY, ['-c', join(dir, 'journeyd.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
children.push(jd);
let jdLog = '';
jd.stderr.on('data', (d) => { jdLog += d; });
await waitFor('journeyd /readyz', async () => (await fetch(base + '/readyz')).status === 200, 200);

const admin = { Authorization: 'Bearer ' + ADMIN_TOKEN };
async function getJson(path) {
  const r = await fetch(base + path, { headers: admin });
  return { status: r.status, body: r.status === 200 ? await r.json() : null };
}

/* The simulated month: the last 31 days, 200 contacts, every source. */
const sim = execFileSync(JDSIM, ['--demo', '--contacts', '200', '--url', base, '--secrets', 'token=' + ADMIN_TOKEN,
  '--quiet'], { encoding: 'utf8', timeout: 180000 });
const email = decodeURIComponent((/journey\?email=([^']+)'/.exec(sim) || [])[1] || '');
note('simulated month loaded; a journey to open: ' + (email ? 'found' : 'none'));
await waitFor('the queue drained', async () => {
  const s = (await getJson('/v1/status')).body;
  return s && s.queue.length === 0 && s.queue.pending === 0;
}, 600);

/* A merge conflict to show: one email, two different HubSpot contact ids. */
const CONFLICT_EMAIL = 'conflict.browser@example.com';
{
  const ev = (i) => ({ id: 'browser-conflict-' + i, kind: 'lead', at: new Date(Date.now() - (3 - i) * 3600000).toISOString(),
    identities: [{ type: 'email', value: CONFLICT_EMAIL }, { type: 'hubspot_contact', value: String(900 + i) }] });
  const r = await fetch(base + '/v1/events', { method: 'POST', headers: Object.assign({ 'Content-Type': 'application/json' }, admin), body: JSON.stringify({ events: [ev(1), ev(2)] }) });
  if (r.status !== 200 && r.status !== 202) fail('POST /v1/events for the conflict: ' + r.status);
  await waitFor('the conflict applied', async () => {
    const j = await getJson('/v1/journey?email=' + encodeURIComponent(CONFLICT_EMAIL));
    return j.body && j.body.contact.conflicts.length > 0;
  }, 100);
}

/* Spend for the two biggest campaigns, so the revenue view shows spend and ROAS. */
{
  const a = await getJson('/v1/reports/attribution?by=campaign&model=linear');
  const rows = ((a.body && a.body.rows) || []).filter((r) => r.revenue && r.revenue.EUR && r.key !== '(direct)').slice(0, 2);
  const day = new Date(Date.now() - 86400000).toISOString().slice(0, 10);
  const body = { rows: rows.map((r, i) => ({ date: day, source: 'google', campaign: r.key, amount: 10000 * (i + 1), currency: 'EUR' })) };
  const r = await fetch(base + '/v1/spend', { method: 'POST', headers: Object.assign({ 'Content-Type': 'application/json' }, admin), body: JSON.stringify(body) });
  if (r.status !== 200) note('spend not posted: ' + r.status);
}

/* ---- the browser ---- */

mkdirSync(SHOTS, { recursive: true });
const browser = await puppeteer.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--lang=en-GB'],
});
const page = await browser.newPage();
await page.emulateTimezone('Europe/Rome');
await page.setViewport({ width: 1280, height: 900 });
const consoleErrors = [];
const foreign = [];
let transferred = 0;
page.on('console', (m) => {
  if (m.type() !== 'error') return;
  /* Chromium logs every 4xx answer as a failed load: those are judged by their URL below. */
  if (/^Failed to load resource: the server responded with a status of 4\d\d/.test(m.text())) return;
  note('console: ' + m.text());
  consoleErrors.push(m.text());
});
/* The refusals that may happen: the wrong token this test types (401), a read session's
 * replay and the POST without the dashboard header (403), the endpoints of DESIGN §7 this
 * journeyd does not have yet (404), and a journeyd that takes only instants refusing the
 * dates form of a range once (400; the app then sends instants). Any other is a failure. */
page.on('response', (res) => {
  const st = res.status();
  if (st < 400) return;
  const u = new URL(res.url());
  const path = u.pathname;
  const ok = (st === 401 && path === '/ui/login') ||
    (st === 403 && path === '/v1/dead/replay') ||
    (st === 404 && /^\/v1\/(dead|sources|reports\/(attribution\/conversions|funnel\/contacts|sla\/contacts))$/.test(path)) ||
    (st === 400 && /^\d{4}-\d{2}-\d{2}$/.test(u.searchParams.get('from') || ''));
  if (!ok) fail('HTTP ' + st + ' for ' + path + u.search);
  else if (st === 400) note('this journeyd refused the dates form of a range; the app sent instants');
});
page.on('pageerror', (e) => {
  consoleErrors.push('page error: ' + e.message);
  note('page error: ' + e.message);
});
page.on('request', (req) => {
  const u = req.url();
  if (!u.startsWith(base + '/') && !u.startsWith('data:') && !u.startsWith('about:')) foreign.push(u);
});
const cdp = await page.createCDPSession();
await cdp.send('Network.enable');
cdp.on('Network.loadingFinished', (e) => { transferred += e.encodedDataLength; });

/* Screen against API: each data-jd-src element's text is the API's value at that pointer,
 * formatted by rules written here, not taken from the app. Returns [checked, problems]. */
async function checkSources() {
  return page.evaluate(async () => {
    const lang = document.documentElement.lang === 'it' ? 'it-IT' : 'en-GB';
    const digits = (cur) => new Intl.NumberFormat('en', { style: 'currency', currency: cur }).resolvedOptions().maximumFractionDigits;
    const format = (kind, v) => {
      const [k, arg] = kind.split(':');
      if (k === 'money') return new Intl.NumberFormat(lang, { style: 'currency', currency: arg }).format(v / 10 ** digits(arg));
      if (k === 'int') return new Intl.NumberFormat(lang).format(v);
      if (k === 'pct') return new Intl.NumberFormat(lang, { style: 'percent', maximumFractionDigits: 1 }).format(v);
      if (k === 'roas') return new Intl.NumberFormat(lang, { minimumFractionDigits: 2, maximumFractionDigits: 2 }).format(v) + '×';
      if (k === 'points') return new Intl.NumberFormat(lang, { maximumFractionDigits: 2 }).format(Math.abs(v));
      if (k === 'dur') {
        const nf = new Intl.NumberFormat(lang, { maximumFractionDigits: 1 });
        return v < 3600 ? nf.format(v / 60) + ' min' : v < 172800 ? nf.format(v / 3600) + ' h' : nf.format(v / 86400) + (lang === 'it-IT' ? ' g' : ' d');
      }
      if (k === 'text') return String(v);
      return '?' + kind;
    };
    const ptr = (o, p) => p.split('/').slice(1).reduce((x, s) => (x == null ? undefined : x[s.replace(/~1/g, '/').replace(/~0/g, '~')]), o);
    const answers = new Map();
    const problems = [];
    const els = [...document.querySelectorAll('[data-jd-src]')];
    for (const el of els) {
      const src = el.getAttribute('data-jd-src');
      const hash = src.indexOf('#');
      const url = src.slice(0, hash);
      if (!url.startsWith('/v1/')) problems.push('not a /v1 source: ' + src);
      if (!answers.has(url)) {
        const r = await fetch(url, { credentials: 'same-origin' });
        answers.set(url, r.status === 200 ? await r.json() : { __status: r.status });
      }
      const body = answers.get(url);
      let v = ptr(body, src.slice(hash + 1));
      if (el.hasAttribute('data-jd-sum')) v = (v || []).reduce((s, it) => s + (ptr(it, el.getAttribute('data-jd-sum')) || 0), 0);
      if (el.hasAttribute('data-jd-count')) v = (v || []).length;
      const want = v === undefined ? '(absent in ' + JSON.stringify(body).slice(0, 80) + ')' : format(el.getAttribute('data-jd-fmt'), v);
      if (el.textContent !== want) problems.push(src + ': screen "' + el.textContent + '", API "' + want + '"');
    }
    return [els.length, problems];
  });
}

async function open(hash, name, opts) {
  await page.goto(base + '/ui/' + hash, { waitUntil: 'networkidle0' });
  await page.waitForSelector('[data-jd-ready]', { timeout: 30000 });
  await sleep(150); /* asynchronous fills (names of waiting leads, distribution) */
  const [n, problems] = await checkSources();
  for (const p of problems) fail(name + ': ' + p);
  for (const e of await page.$$eval('main .error', (els) => els.map((x) => x.textContent))) fail(name + ': the page shows an error: ' + e);
  const na = await page.$$eval('.na', (els) => els.filter((e) => /not available|non disponibile/i.test(e.textContent)).map((e) => e.textContent));
  for (const t of na) skipped.push(name + ': ' + t);
  note(name + ': ' + n + ' numbers checked against the API' + (na.length ? ' (' + na.length + ' parts not available)' : ''));
  if (!opts || !opts.noShot) await page.screenshot({ path: join(SHOTS, 'dashboard-' + name + '.png'), fullPage: true });
  return n;
}

/* Login: the form, a wrong token refused, then the read token. */
const before = transferred;
await page.goto(base + '/ui/', { waitUntil: 'networkidle0' });
await page.waitForSelector('#token');
await page.type('#token', 'not-a-token-of-this-daemon');
await page.keyboard.press('Enter');
await page.waitForSelector('.error');
await page.type('#token', READ_TOKEN);
await page.keyboard.press('Enter');
await page.waitForSelector('[data-jd-ready]', { timeout: 30000 });
await page.waitForNetworkIdle();
const firstKB = (transferred - before) / 1024;
note('first view (login and Revenue): ' + firstKB.toFixed(1) + ' KB transferred');
if (firstKB >= 300) fail('the first view transferred ' + firstKB.toFixed(1) + ' KB (limit 300)');
const cookies = await page.cookies();
const sc = cookies.find((c) => c.name === 'jd_session');
if (!sc || !sc.httpOnly || sc.sameSite !== 'Strict') fail('session cookie: ' + JSON.stringify(sc));

/* Every view, its options and drill-downs. */
const month = new Intl.DateTimeFormat('en-CA', { timeZone: 'Europe/Rome', year: 'numeric', month: '2-digit' }).format(new Date()).slice(0, 7);
const prevMonth = (() => {
  const [y, m] = month.split('-').map(Number);
  return m === 1 ? y - 1 + '-12' : y + '-' + String(m - 1).padStart(2, '0');
})();
/* This week's ISO label in Rome (2026-W49). */
function isoWeekNow() {
  const [y, m, d] = new Intl.DateTimeFormat('en-CA', { timeZone: 'Europe/Rome' }).format(new Date()).split('-').map(Number);
  const x = new Date(Date.UTC(y, m - 1, d));
  x.setUTCDate(x.getUTCDate() + 4 - (x.getUTCDay() || 7));
  const w = Math.ceil(((x - Date.UTC(x.getUTCFullYear(), 0, 1)) / 86400000 + 1) / 7);
  return x.getUTCFullYear() + '-W' + String(w).padStart(2, '0');
}
let total = 0;
total += await open('#/revenue', 'revenue');
/* The five models side by side come from one request (model=all: one read of the
 * contacts, issue 13 item 5), and every number of the table points into it, each model's
 * column into its own part. The app's requests carry X-Journeyd-UI; checkSources' own
 * fetches do not. */
{
  const asked = [];
  const onRequest = (req) => {
    const u = new URL(req.url());
    if (u.pathname === '/v1/reports/attribution' && req.headers()['x-journeyd-ui']) asked.push(u.search);
  };
  page.on('request', onRequest);
  total += await open('#/revenue?model=all&by=campaign&range=all', 'revenue-models');
  page.off('request', onRequest);
  if (asked.length !== 1 || new URLSearchParams(asked[0]).get('model') !== 'all') {
    fail('revenue-models: ' + asked.length + ' attribution requests (' + asked.join(' ') + '), expected one with model=all');
  }
  const srcs = await page.$$eval('main [data-jd-src]', (els) => els.map((e) => e.getAttribute('data-jd-src')));
  const urls = new Set(srcs.map((x) => x.split('#')[0]));
  if (urls.size !== 1 || !/[?&]model=all(&|$)/.test([...urls][0])) fail('revenue-models: numbers from ' + [...urls].join(' '));
  for (const m of ['first_touch', 'last_touch', 'linear', 'position', 'time_decay']) {
    if (!srcs.some((x) => x.includes('#/models/' + m + '/rows/'))) fail('revenue-models: no number points into /models/' + m);
  }
}
total += await open('#/revenue?model=linear&by=campaign&range=all', 'revenue-campaign', { noShot: true });
total += await open('#/revenue?model=time_decay&by=source&range=' + prevMonth, 'revenue-previous', { noShot: true });
/* Drill-downs: the conversions behind every channel row, then one conversion's journey. */
{
  const a = await getJson('/v1/reports/attribution?by=channel&model=linear');
  const rows = (a.body && a.body.rows) || [];
  if (!rows.length) fail('no attribution rows to drill into');
  for (const [i, row] of rows.entries()) {
    total += await open('#/revenue?model=linear&by=channel&range=all&key=' + encodeURIComponent(row.key), i ? 'revenue-drill-' + i : 'revenue-drill', { noShot: i > 0 });
  }
  const j = await page.$('main section[tabindex] a[href^="#/journey"]');
  if (j) {
    await j.click();
    await page.waitForFunction(() => document.querySelector('[data-jd-view="journey"][data-jd-ready]'), { timeout: 30000 });
    const [n, problems] = await checkSources();
    for (const p of problems) fail('journey from a drill-down: ' + p);
    if (n < 1) fail('the journey opened from a drill-down shows no number');
  } else {
    skipped.push('revenue-drill: no conversion linked to a journey (drill-down not available)');
  }
}
total += await open('#/funnel', 'funnel');
total += await open('#/funnel?by=week&view=activity&range=' + prevMonth, 'funnel-week', { noShot: true });
for (const st of ['lead', 'qualified', 'opportunity', 'won', 'paid']) {
  total += await open('#/funnel?by=month&view=cohort&range=' + prevMonth + '&stage=' + st + '&period=' + prevMonth, 'funnel-drill-' + st, { noShot: true });
}
total += await open('#/funnel?by=week&view=activity&range=' + month + '&stage=lead&period=' + isoWeekNow(), 'funnel-drill-week', { noShot: true });
total += await open('#/sla', 'sla');
/* The sales side per owner of the response (issue 14 item 7): one row per owner the API
 * names, each row's figures among the numbers just checked against the API. */
{
  const a = await getJson('/v1/reports/sla');
  const owners = (a.body && a.body.sales && a.body.sales.by_owner) || [];
  if (!owners.length) fail('the SLA answer names no owner of a response');
  const shown = await page.$$eval('[data-jd-src*="#/sales/by_owner/"][data-jd-src$="/answered"]', (els) => els.length);
  if (shown !== owners.length) fail('the SLA view shows ' + shown + ' owner rows, the API has ' + owners.length);
}
for (const st of ['answered', 'within', 'breached', 'waiting', 'self_served']) {
  total += await open('#/sla?range=' + month + '&status=' + st, 'sla-drill-' + st, { noShot: true });
}
if (email) total += await open('#/journey?email=' + encodeURIComponent(email), 'journey');
else fail('the simulator named no journey to open');
total += await open('#/journey?email=' + encodeURIComponent(CONFLICT_EMAIL), 'journey-conflict', { noShot: true });
{
  const text = await page.$eval('main', (m) => m.textContent);
  if (!/Two different hubspot_contact values, 901 and 902/.test(text)) fail('the merge conflict is not shown in words');
}
total += await open('#/ops', 'ops');
if (total < 40) fail('only ' + total + ' numbers carried data-jd-src');

/* The revenue view's most important number is the biggest text on the page. */
await page.goto(base + '/ui/#/revenue?range=all', { waitUntil: 'networkidle0' });
await page.waitForSelector('[data-jd-ready]');
const biggest = await page.evaluate(() => {
  let best = null;
  for (const el of document.querySelectorAll('main *')) {
    if (!el.childNodes.length || ![...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim())) continue;
    const s = parseFloat(getComputedStyle(el).fontSize);
    if (!best || s > best.s) best = { s, big: el.classList.contains('big'), text: el.textContent };
  }
  return best;
});
if (!biggest || !biggest.big) fail('the biggest text on Revenue is not the revenue total: ' + JSON.stringify(biggest));

/* Italian: the same numbers, formatted for it-IT. */
await page.click('#lang');
await page.waitForSelector('[data-jd-ready]');
await page.waitForNetworkIdle();
if ((await page.$eval('html', (e) => e.lang)) !== 'it') fail('the language switch did not switch to Italian');
{
  const [n, problems] = await checkSources();
  for (const p of problems) fail('revenue (it): ' + p);
  note('revenue in Italian: ' + n + ' numbers checked');
  await page.screenshot({ path: join(SHOTS, 'dashboard-revenue-it.png'), fullPage: true });
}
await page.click('#lang');
await page.waitForNetworkIdle();

/* Keyboard: Tab reaches the view links; Enter on one opens it. */
await page.goto(base + '/ui/#/revenue', { waitUntil: 'networkidle0' });
await page.waitForSelector('[data-jd-ready]');
await page.evaluate(() => document.activeElement && document.activeElement.blur());
let reached = false;
for (let i = 0; i < 40 && !reached; i++) {
  await page.keyboard.press('Tab');
  const at = await page.evaluate(() => document.activeElement ? document.activeElement.outerHTML.slice(0, 60) : '');
  reached = /href="#\/sla"/.test(at);
}
if (!reached) {
  fail('Tab never reached the SLA link');
} else {
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.querySelector('[data-jd-view="sla"][data-jd-ready]'), { timeout: 30000 });
}

/* A phone: nothing wider than the screen. */
await page.setViewport({ width: 390, height: 844, isMobile: true, hasTouch: true });
for (const v of ['revenue', 'sla']) {
  await page.goto(base + '/ui/#/' + v, { waitUntil: 'networkidle0' });
  await page.waitForSelector('[data-jd-ready]');
  const over = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (over > 0) fail(v + ' on a phone is ' + over + ' px wider than the screen');
  await page.screenshot({ path: join(SHOTS, 'dashboard-' + v + '-phone.png'), fullPage: true });
}
await page.setViewport({ width: 1280, height: 900 });

/* The replay button with a read session: 403, shown; the same call with the admin's. */
await page.goto(base + '/ui/#/ops', { waitUntil: 'networkidle0' });
await page.waitForSelector('[data-jd-ready]');
await page.click('#replay');
await page.waitForSelector('[role="status"].error');
const replayRead = await page.evaluate(async () => (await fetch('/v1/dead/replay', { method: 'POST', headers: { 'X-Journeyd-UI': '1' } })).status);
if (replayRead !== 403) fail('a read session replayed dead letters: ' + replayRead);
const noCsrf = await page.evaluate(async () => (await fetch('/v1/dead/replay', { method: 'POST' })).status);
if (noCsrf !== 403) fail('a POST without the dashboard header answered ' + noCsrf);
await page.click('#logout');
await page.waitForSelector('#token');
await page.type('#token', ADMIN_TOKEN);
await page.keyboard.press('Enter');
await page.waitForSelector('[data-jd-ready]');
await page.goto(base + '/ui/#/ops', { waitUntil: 'networkidle0' });
await page.waitForSelector('[data-jd-ready]');
await page.click('#replay');
await page.waitForSelector('[role="status"].note');

/* A browser whose language is Italian gets the Italian page without asking. */
{
  const ctx = await browser.createBrowserContext();
  const it = await ctx.newPage();
  await it.evaluateOnNewDocument(() => {
    Object.defineProperty(navigator, 'language', { get: () => 'it-IT' });
  });
  await it.goto(base + '/ui/', { waitUntil: 'networkidle0' });
  await it.waitForSelector('#token');
  const [langAttr, title] = await it.evaluate(() => [document.documentElement.lang, document.querySelector('main h1').textContent]);
  if (langAttr !== 'it' || !/Accedi/.test(title)) fail('an Italian browser got lang=' + langAttr + ', "' + title + '"');
  await ctx.close();
}

await browser.close();
if (consoleErrors.length) for (const e of consoleErrors) fail('console: ' + e);
if (foreign.length) for (const u of foreign) fail('a request left the origin: ' + u);
for (const s of skipped) console.log('SKIPPED (endpoint not in this journeyd yet): ' + s);
clearTimeout(watchdog);
cleanup();
if (failures) {
  console.log(jdLog.split('\n').slice(-20).join('\n'));
  console.log(failures + ' check(s) failed; screenshots in ' + SHOTS);
  process.exit(1);
}
rmSync(dir, { recursive: true, force: true });
console.log('OK: every view checked; screenshots in ' + SHOTS);
process.exit(0);

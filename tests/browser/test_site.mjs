/*
 * The site script in a real browser (issue 15 items 1 and 5): Debian's chromium, headless,
 * through puppeteer-core (pinned, installed in the build folder like the dashboard's
 * test). A small site on its own loopback port loads /j.js from journeyd; the visitor
 * lands with utm values and a gclid, a form is added to the page later, and the visitor
 * submits the page's form with an email. The journey of that email must show the visit
 * (with the gclid and the campaign), the click ids and the lead, joined in one contact.
 * With data-consent="required" nothing is stored or sent until journeyd.consent(true).
 *
 * Exit 77 (ctest's skip) when chromium or puppeteer-core is missing.
 */
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { createServer as createHttpServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const CHROMIUM = process.env.JD_CHROMIUM || '/usr/bin/chromium';
const BINARY = process.env.JD_BINARY;
const TOKEN = 'read-token-site-0123456789';
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
if (!BINARY) {
  console.log('FAIL: JD_BINARY must name the daemon');
  process.exit(1);
}

let failures = 0;
function fail(msg) {
  failures++;
  console.log('FAIL: ' + msg);
}
function note(msg) {
  console.log('  ' + msg);
}

const children = [];
const dir = mkdtempSync(join(tmpdir(), 'jd-site-'));
let site;
function cleanup() {
  for (const c of children) {
    try {
      process.kill(c.pid, 'SIGTERM');
    } catch (e) { /* already gone */ }
  }
}
process.on('exit', cleanup);
const watchdog = setTimeout(() => {
  fail('watchdog: the test took more than 200 s');
  cleanup();
  process.exit(1);
}, 200000);

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

/* ---- redis-server, journeyd and the site ---- */

const redisPort = await freePort();
const port = await freePort();
const sitePort = await freePort();
const base = 'http://127.0.0.1:' + port;
const siteBase = 'http://127.0.0.1:' + sitePort;
mkdirSync(join(dir, 'redis'));
children.push(spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '',
  '--appendonly', 'no', '--dir', join(dir, 'redis')], { stdio: 'ignore' }));
await waitFor('redis', () => {
  execFileSync('redis-cli', ['-p', String(redisPort), 'ping'], { stdio: 'ignore' });
  return true;
}, 100);

writeFileSync(join(dir, 'journeyd.conf'), [
  '[journeyd]',
  'listen = 127.0.0.1:' + port,
  'redis = 127.0.0.1:' + redisPort,
  'api_tokens = read:' + TOKEN,
  'click_allow = 127.0.0.1',
  'click_cookie_secure = no',
  'collect_allow = 127.0.0.1:' + sitePort,
  '',
  '[source web]',
  'type = form',
  'auth = origin',
  'allow_origins = 127.0.0.1',
  'thank_you_url = ' + siteBase + '/thanks',
  ''].join('\n'));
const jd = spawn(BINARY, ['-c', join(dir, 'journeyd.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
children.push(jd);
let jdLog = '';
jd.stderr.on('data', (d) => { jdLog += d; });
await waitFor('journeyd /readyz', async () => (await fetch(base + '/readyz')).status === 200, 200);

/* The site: a landing page with a form posting to journeyd, a form added a moment later
 * (as a chat widget or a modal would), and the thank-you page. */
const page = (consent) => `<!doctype html><html><head><meta charset="utf-8"><title>Site</title>
<script src="${base}/j.js"${consent ? ' data-consent="required"' : ''}></script></head><body>
<form id="lead" method="post" action="${base}/hooks/web" data-journeyd>
  <input name="email" id="email"><input type="hidden" name="form" value="contact">
  <button id="send" type="submit">Send</button>
</form>
<script src="/late.js"></script>
</body></html>`;
const late = `setTimeout(function () {
  var f = document.createElement('form');
  f.id = 'late';
  f.innerHTML = '<input type="hidden" name="jd_aid"><input type="hidden" name="gclid"><input type="hidden" name="utm_source">';
  document.body.appendChild(f);
}, 50);`;
site = createHttpServer((req, res) => {
  const u = new URL(req.url, siteBase);
  if (u.pathname === '/late.js') {
    res.writeHead(200, { 'Content-Type': 'text/javascript' });
    res.end(late);
  } else if (u.pathname === '/thanks') {
    res.writeHead(200, { 'Content-Type': 'text/html' });
    res.end('<!doctype html><title>Thanks</title><p>Thanks');
  } else if (u.pathname === '/favicon.ico') {
    res.writeHead(204);
    res.end();
  } else {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(page(u.pathname === '/consent'));
  }
});
await new Promise((r) => site.listen(sitePort, '127.0.0.1', r));

async function journey(email) {
  const r = await fetch(base + '/v1/journey?email=' + encodeURIComponent(email),
    { headers: { Authorization: 'Bearer ' + TOKEN } });
  return r.status === 200 ? r.json() : null;
}

/* ---- the browser ---- */

const browser = await puppeteer.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
try {
  const ctx = await browser.createBrowserContext();
  const tab = await ctx.newPage();
  const errors = [];
  const collects = [];
  tab.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  tab.on('pageerror', (e) => errors.push(String(e)));
  tab.on('response', (res) => {
    if (new URL(res.url()).pathname === '/v1/collect') collects.push(res.status());
  });
  await tab.goto(siteBase + '/landing?utm_source=google&utm_medium=cpc&utm_campaign=spring&gclid=GCLID_BROWSER_1',
    { waitUntil: 'load' });
  await waitFor('the page view answered', async () => collects.length > 0, 100);
  if (collects[0] !== 200) fail('POST /v1/collect answered ' + collects[0]);
  const aid = await tab.evaluate(() => window.journeyd && window.journeyd.aid());
  if (!/^a_[0-9a-f]{32}$/.test(aid || '')) fail('journeyd.aid() is ' + aid);
  const cookies = await tab.cookies();
  if (!cookies.some((c) => c.name === 'jd_aid' && c.value === aid)) fail('no jd_aid cookie with the id');

  /* The form added after load is filled (MutationObserver). */
  await waitFor('the late form filled', () => tab.evaluate(() => {
    const f = document.getElementById('late');
    return f && f.elements.jd_aid.value !== '';
  }), 50);
  const late = await tab.evaluate(() => {
    const f = document.getElementById('late');
    return { aid: f.elements.jd_aid.value, gclid: f.elements.gclid.value, source: f.elements.utm_source.value };
  });
  if (late.aid !== aid || late.gclid !== 'GCLID_BROWSER_1' || late.source !== 'google')
    fail('the late form holds ' + JSON.stringify(late));
  const stripe = await tab.evaluate(() => window.journeyd.stripe());
  if (stripe.client_reference_id !== aid || stripe.metadata.utm_campaign !== 'spring')
    fail('journeyd.stripe() is ' + JSON.stringify(stripe));

  /* The lead: the data-journeyd form got hidden fields; submit it with an email. */
  const EMAIL = 'giulia.browser@example.it';
  await tab.type('#email', EMAIL);
  await Promise.all([tab.waitForNavigation({ waitUntil: 'load' }), tab.click('#send')]);
  if (!tab.url().startsWith(siteBase + '/thanks')) fail('after the form, the page is ' + tab.url());

  let j = null;
  await waitFor('the lead in the journey', async () => {
    j = await journey(EMAIL);
    return j && j.events.some((e) => e.kind === 'visit') && j.events.some((e) => e.kind !== 'visit');
  }, 100);
  const ids = j.contact.identities;
  const has = (t, v) => ids.some((i) => i.type === t && i.value === v);
  if (!has('anon', aid)) fail('the journey lacks the script\'s id: ' + JSON.stringify(ids));
  if (!has('gclid', 'GCLID_BROWSER_1')) fail('the journey lacks the gclid: ' + JSON.stringify(ids));
  const visit = j.events.find((e) => e.kind === 'visit');
  if (!visit.touch || visit.touch.campaign !== 'spring')
    fail('the landing visit is not a touch of the campaign: ' + JSON.stringify(visit));
  if (!j.events.some((e) => e.kind === 'lead' || e.kind === 'form'))
    fail('no lead in ' + JSON.stringify(j.events.map((e) => e.kind)));
  note('one journey: ' + j.events.map((e) => e.kind).join(', '));
  if (errors.length) fail('console errors: ' + errors.join(' | '));
  await ctx.close();

  /* Consent required: nothing stored or sent before journeyd.consent(true). */
  const ctx2 = await browser.createBrowserContext();
  const tab2 = await ctx2.newPage();
  const sent = [];
  tab2.on('request', (r) => { if (new URL(r.url()).pathname === '/v1/collect') sent.push(r.url()); });
  await tab2.goto(siteBase + '/consent?utm_source=google&gclid=GCLID_BROWSER_2', { waitUntil: 'load' });
  await sleep(300);
  const before = await tab2.evaluate(() => ({ aid: window.journeyd.aid(), cookie: document.cookie,
    late: (document.getElementById('late') || { elements: { jd_aid: { value: '' } } }).elements.jd_aid.value }));
  if (before.aid !== null || before.cookie !== '' || before.late !== '' || sent.length)
    fail('before consent: ' + JSON.stringify(before) + ', ' + sent.length + ' page views sent');
  await tab2.evaluate(() => window.journeyd.consent(true));
  await waitFor('the page view after consent', async () => sent.length === 1, 50);
  const after = await tab2.evaluate(() => ({ aid: window.journeyd.aid(), cookie: document.cookie }));
  if (!/^a_[0-9a-f]{32}$/.test(after.aid || '') || !after.cookie.includes('jd_aid=' + after.aid) ||
      !after.cookie.includes('jd_consent=1'))
    fail('after consent: ' + JSON.stringify(after));
  await ctx2.close();
} catch (e) {
  fail(String(e && e.stack || e));
} finally {
  await browser.close();
  site.close();
}

clearTimeout(watchdog);
if (failures) {
  console.log('---- journeyd log ----\n' + jdLog.split('\n').slice(-30).join('\n'));
  console.log(failures + ' check(s) failed');
  process.exit(1);
}
console.log('OK');
process.exit(0);

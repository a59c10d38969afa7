/*
 * journeyd dashboard (DESIGN §7b): one page, plain JavaScript, no framework, no request to
 * any other origin. It reads only the public /v1 API with the session cookie POST
 * /ui/login gave it, and every number it shows carries data-jd-src="<API path and
 * query>#<JSON pointer>" (and data-jd-fmt, how it is formatted; a total also carries
 * data-jd-sum, the pointer summed over the array's items), so a script can check the
 * screen against the API. The view and its choices live in the address (#/revenue?…), so a
 * link pasted into a chat opens the same page.
 */
'use strict';

/* ---- words (Italian and English) ---- */

const WORDS = {
  en: {
    revenue: 'Revenue', funnel: 'Funnel', sla: 'SLA scorecard', journey: 'Journey', ops: 'Operations',
    skip: 'Skip to content', lang: 'Italiano', logout: 'Log out', login: 'Log in',
    login_title: 'Log in to journeyd', token: 'API token', login_help: 'Any API token from the journeyd configuration; a read token is enough to look.',
    login_bad: 'That is not one of the API tokens.', model: 'Model', by: 'By', currency: 'Currency',
    first_touch: 'First touch', last_touch: 'Last touch', linear: 'Linear', position: 'Position based',
    time_decay: 'Time decay', compare_models: 'All five models side by side',
    channel: 'Channel', source: 'Source', campaign: 'Campaign', ad: 'Ad',
    month: 'Month', week: 'Week', day: 'Day', all_time: 'All time', custom: 'Custom range',
    prev: 'Previous', next: 'Next', apply: 'Apply', from: 'From', to: 'To',
    attributed_revenue: 'attributed revenue', conversions: 'Conversions', touches: 'Credited touches',
    spend: 'Spend', roas: 'ROAS', key: 'Key', share: 'Share', no_rows: 'Nothing in this period.',
    loading: 'Loading…', not_available: 'Not available: this journeyd does not have {what} yet.',
    failed: 'The API answered {status}: {msg}', drill_title: 'Conversions behind {key}',
    contacts_title: 'Contacts behind {what}', contact: 'Contact', amount: 'Amount', credit: 'Credit',
    at: 'When', open_journey: 'journey', close: 'Close', more: 'More',
    view: 'View', cohort: 'Cohort', activity: 'Activity', stage: 'Stage', period: 'Period',
    fell: '{t} fell {p} points compared with {c}', rose: '{t} rose {p} points compared with {c}',
    nothing_fell: 'No transition to compare with {c}.', rate: 'rate', median: 'median',
    contacts: 'contacts', marketing: 'Marketing', sales: 'Sales', met: 'Met', missed: 'Missed',
    no_target: 'No target', leads: 'Leads delivered', leads_target: 'target {v}',
    qualified_rate: 'Qualified rate', within_sla: 'Answered within the SLA', answered: 'Answered',
    response: 'Response time', p90: '90th percentile', waiting: 'Waiting past the SLA',
    self_served: 'Self-served', waited: 'Waited', lead_at: 'Lead at', distribution: 'Response times',
    by_owner: 'Response by owner', owner: 'Owner', no_owner: '(no owner)',
    search: 'Search', search_help: 'Email, phone, anonymous id or contact id',
    email: 'Email', phone: 'Phone', anon: 'Anonymous id', contact_id: 'Contact id',
    identities: 'Identities', first_seen: 'First seen', last_seen: 'Last seen',
    conflicts: 'Merge conflicts', merged_from: 'Merged from', timeline: 'Timeline',
    not_found: 'No contact with that identity.', credit_for: 'Credit under {m}', touch: 'Touch',
    queue: 'Queue length', pending: 'Being processed', dead: 'Dead letters', lag: 'Lag',
    replay: 'Replay dead letters', replayed: '{n} dead letters went back to the queue.',
    replay_admin: 'Replaying needs an admin token; yours is {s}.', forbidden: 'Your token may not do that (403).',
    sources: 'Sources', last_delivery: 'Last delivery', accepted: 'Accepted', refused: 'Refused',
    h24: '24 h', d7: '7 days', reason: 'Reason', type: 'Type', never: 'never', attempts: 'Attempts',
    failing: 'refused', silent: 'silent', no_dead: 'No dead letters.', entered_at: 'Entered', csv: 'CSV',
    the_wait: 'dead-letter list', the_sources: 'the sources list', the_drill: 'drill-down',
    breached: 'Answered after the SLA', conflict_line: 'Two different {type} values, {a} and {b}, met in {e}: this contact and the other were kept apart.',
    signed_in: 'scope: {s}', stage_changes: 'stage', refund: 'refund', payment: 'payment',
  },
  it: {
    revenue: 'Ricavi', funnel: 'Funnel', sla: 'SLA', journey: 'Percorso', ops: 'Operazioni',
    skip: 'Vai al contenuto', lang: 'English', logout: 'Esci', login: 'Entra',
    login_title: 'Accedi a journeyd', token: 'Token API', login_help: 'Un token API della configurazione di journeyd; per guardare basta un token read.',
    login_bad: 'Questo non è uno dei token API.', model: 'Modello', by: 'Per', currency: 'Valuta',
    first_touch: 'Primo contatto', last_touch: 'Ultimo contatto', linear: 'Lineare', position: 'Per posizione',
    time_decay: 'Decadimento', compare_models: 'I cinque modelli a confronto',
    channel: 'Canale', source: 'Sorgente', campaign: 'Campagna', ad: 'Annuncio',
    month: 'Mese', week: 'Settimana', day: 'Giorno', all_time: 'Sempre', custom: 'Intervallo',
    prev: 'Precedente', next: 'Successivo', apply: 'Applica', from: 'Da', to: 'A',
    attributed_revenue: 'ricavi attribuiti', conversions: 'Conversioni', touches: 'Contatti accreditati',
    spend: 'Spesa', roas: 'ROAS', key: 'Chiave', share: 'Quota', no_rows: 'Niente in questo periodo.',
    loading: 'Caricamento…', not_available: 'Non disponibile: questo journeyd non ha ancora {what}.',
    failed: 'L\u2019API ha risposto {status}: {msg}', drill_title: 'Conversioni dietro {key}',
    contacts_title: 'Contatti dietro {what}', contact: 'Contatto', amount: 'Importo', credit: 'Credito',
    at: 'Quando', open_journey: 'percorso', close: 'Chiudi', more: 'Altri',
    view: 'Vista', cohort: 'Coorte', activity: 'Attività', stage: 'Fase', period: 'Periodo',
    fell: '{t} è sceso di {p} punti rispetto a {c}', rose: '{t} è salito di {p} punti rispetto a {c}',
    nothing_fell: 'Nessun passaggio da confrontare con {c}.', rate: 'tasso', median: 'mediana',
    contacts: 'contatti', marketing: 'Marketing', sales: 'Vendite', met: 'Rispettato', missed: 'Mancato',
    no_target: 'Nessun obiettivo', leads: 'Lead consegnati', leads_target: 'obiettivo {v}',
    qualified_rate: 'Tasso di qualificazione', within_sla: 'Risposte entro lo SLA', answered: 'Con risposta',
    response: 'Tempo di risposta', p90: '90° percentile', waiting: 'In attesa oltre lo SLA',
    self_served: 'In autonomia', waited: 'Attesa', lead_at: 'Lead il', distribution: 'Tempi di risposta',
    by_owner: 'Risposta per responsabile', owner: 'Responsabile', no_owner: '(nessun responsabile)',
    search: 'Cerca', search_help: 'Email, telefono, id anonimo o id contatto',
    email: 'Email', phone: 'Telefono', anon: 'Id anonimo', contact_id: 'Id contatto',
    identities: 'Identità', first_seen: 'Prima vista', last_seen: 'Ultima vista',
    conflicts: 'Conflitti di unione', merged_from: 'Unito da', timeline: 'Cronologia',
    not_found: 'Nessun contatto con questa identità.', credit_for: 'Credito con {m}', touch: 'Contatto',
    queue: 'Lunghezza coda', pending: 'In lavorazione', dead: 'Messaggi scartati', lag: 'Ritardo',
    replay: 'Riprova gli scartati', replayed: '{n} messaggi scartati sono tornati in coda.',
    replay_admin: 'Per riprovare serve un token admin; il tuo è {s}.', forbidden: 'Il tuo token non lo consente (403).',
    sources: 'Sorgenti', last_delivery: 'Ultima consegna', accepted: 'Accettate', refused: 'Rifiutate',
    h24: '24 h', d7: '7 giorni', reason: 'Motivo', type: 'Tipo', never: 'mai', attempts: 'Tentativi',
    failing: 'rifiutata', silent: 'silenziosa', no_dead: 'Nessun messaggio scartato.', entered_at: 'Entrato', csv: 'CSV',
    the_wait: 'l\u2019elenco degli scartati', the_sources: 'l\u2019elenco delle sorgenti', the_drill: 'il dettaglio',
    breached: 'Risposte oltre lo SLA', conflict_line: 'Due valori {type} diversi, {a} e {b}, si sono incontrati in {e}: questo contatto e l\u2019altro sono rimasti separati.',
    signed_in: 'permesso: {s}', stage_changes: 'fase', refund: 'rimborso', payment: 'pagamento',
  },
};

let lang = (() => {
  try {
    const saved = localStorage.getItem('jd.lang');
    if (saved === 'it' || saved === 'en') return saved;
  } catch (e) { /* storage refused: the browser's language decides */ }
  return /^it\b/i.test(navigator.language || '') ? 'it' : 'en';
})();
const locale = () => (lang === 'it' ? 'it-IT' : 'en-GB');

function t(key, vars) {
  let s = (WORDS[lang] && WORDS[lang][key]) || WORDS.en[key] || key;
  if (vars) for (const k of Object.keys(vars)) s = s.split('{' + k + '}').join(String(vars[k]));
  return s;
}

/* ---- formatting: the same rules the browser test applies independently ---- */

function minorDigits(cur) {
  try {
    return new Intl.NumberFormat('en', { style: 'currency', currency: cur }).resolvedOptions().maximumFractionDigits;
  } catch (e) {
    return 2;
  }
}
const FMT = {
  money: (v, cur) => new Intl.NumberFormat(locale(), { style: 'currency', currency: cur })
    .format(v / Math.pow(10, minorDigits(cur))),
  int: (v) => new Intl.NumberFormat(locale()).format(v),
  pct: (v) => new Intl.NumberFormat(locale(), { style: 'percent', maximumFractionDigits: 1 }).format(v),
  roas: (v) => new Intl.NumberFormat(locale(), { minimumFractionDigits: 2, maximumFractionDigits: 2 }).format(v) + '×',
  points: (v) => new Intl.NumberFormat(locale(), { maximumFractionDigits: 2 }).format(Math.abs(v)),
  dur: (s) => {
    const nf = new Intl.NumberFormat(locale(), { maximumFractionDigits: 1 });
    if (s < 3600) return nf.format(s / 60) + ' min';
    if (s < 172800) return nf.format(s / 3600) + ' h';
    return nf.format(s / 86400) + (lang === 'it' ? ' g' : ' d');
  },
  date: (v) => new Intl.DateTimeFormat(locale(), { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(v)),
  text: (v) => String(v),
};
function fmt(kind, v) {
  const [k, arg] = kind.split(':');
  return FMT[k](v, arg);
}

/* ---- DOM ---- */

function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const kid of kids.flat(Infinity)) {
    if (kid === null || kid === undefined || kid === false) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}

/* A number as the API gave it: src is the answer's URL, ptr the JSON pointer in it. */
function num(value, kind, src, ptr, cls) {
  if (value === null || value === undefined) return h('span', { class: 'na' }, '—');
  return h('span', { class: cls, 'data-jd-src': src + '#' + ptr, 'data-jd-fmt': kind }, fmt(kind, value));
}
/* A total: the sum of sub over the items of the array at ptr. */
function sumNum(items, sub, kind, src, ptr, cls) {
  let total = 0;
  for (const it of items) total += getPtr(it, sub) || 0;
  return h('span', { class: cls, 'data-jd-src': src + '#' + ptr, 'data-jd-sum': sub, 'data-jd-fmt': kind }, fmt(kind, total));
}

function getPtr(obj, ptr) {
  if (!ptr) return obj;
  let cur = obj;
  for (const raw of ptr.split('/').slice(1)) {
    if (cur === null || cur === undefined) return undefined;
    cur = cur[raw.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return cur;
}
const esc = (s) => String(s).replace(/~/g, '~0').replace(/\//g, '~1');

/* ---- the address: #/<view>?k=v&… ---- */

function readHash() {
  const m = /^#\/([a-z]+)(?:\?(.*))?$/.exec(location.hash || '');
  const view = m && VIEWS[m[1]] ? m[1] : 'revenue';
  return { view, q: new URLSearchParams(m && m[2] ? m[2] : '') };
}
function link(view, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) if (v !== null && v !== undefined && v !== '') q.set(k, v);
  const s = q.toString();
  return '#/' + view + (s ? '?' + s : '');
}
function go(view, params) {
  location.hash = link(view, params);
}
function qs(q) {
  const o = {};
  for (const [k, v] of q.entries()) o[k] = v;
  return o;
}

/* ---- the API ---- */

let session = null; /* {scope, expires} */
/* The dates form of from/to (DESIGN §7) is tried first; an endpoint that takes only RFC
 * 3339 instants gets local midnights of the browser's time zone instead. Remembered per
 * endpoint path for the browser session, so each refuses at most once. */
const instantsOnly = (() => {
  try {
    return new Set(JSON.parse(sessionStorage.getItem('jd.instants') || '[]'));
  } catch (e) {
    return new Set();
  }
})();

async function api(path, opts) {
  const o = Object.assign({ credentials: 'same-origin', headers: {} }, opts || {});
  o.headers['X-Journeyd-UI'] = '1';
  let res;
  try {
    res = await fetch(path, o);
  } catch (e) {
    return { status: 0, body: { error: 'network', message: String(e.message || e) } };
  }
  let body = null;
  const text = await res.text();
  try {
    body = text ? JSON.parse(text) : null;
  } catch (e) {
    body = { error: 'not_json', message: text.slice(0, 200) };
  }
  if (res.status === 401 && !path.startsWith('/ui/')) {
    session = null;
    showLogin();
  }
  return { status: res.status, body, url: path };
}

/* A report for a range: tries the dates form, falls back to instants once refused. */
async function report(base, range) {
  const join = (q) => base + (q ? (base.includes('?') ? '&' : '?') + q : '');
  const path = base.split('?')[0];
  if (!instantsOnly.has(path)) {
    const r = await api(join(rangeQuery(range, false)));
    if (r.status !== 400 || !/RFC 3339|from and to/.test((r.body && r.body.message) || '') || !range.from) return r;
    instantsOnly.add(path);
    try {
      sessionStorage.setItem('jd.instants', JSON.stringify([...instantsOnly]));
    } catch (e) { /* asked again on the next load */ }
  }
  return api(join(rangeQuery(range, true)));
}

/* ---- periods ---- */

const pad = (n) => String(n).padStart(2, '0');
const ymd = (d) => d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate());
function parseYmd(s) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s || '');
  return m ? new Date(+m[1], +m[2] - 1, +m[3]) : null;
}
function thisMonth() {
  const d = new Date();
  return d.getFullYear() + '-' + pad(d.getMonth() + 1);
}
/* "2026-10" | "all" | "2026-10-01..2026-10-15" (end inclusive) → {kind, from, to (exclusive)} */
function parseRange(s, allowAll) {
  if (s === 'all' && allowAll) return { kind: 'all', id: 'all' };
  let m = /^(\d{4})-(\d{2})$/.exec(s || '');
  if (m) {
    const from = new Date(+m[1], +m[2] - 1, 1);
    return { kind: 'month', id: s, from, to: new Date(+m[1], +m[2], 1) };
  }
  m = /^(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$/.exec(s || '');
  if (m && parseYmd(m[1]) && parseYmd(m[2]) && parseYmd(m[1]) <= parseYmd(m[2])) {
    const to = parseYmd(m[2]);
    to.setDate(to.getDate() + 1);
    return { kind: 'custom', id: s, from: parseYmd(m[1]), to };
  }
  return parseRange(thisMonth(), false);
}
function rangeQuery(r, instants) {
  if (!r.from) return '';
  const f = (d) => (instants ? d.toISOString().replace('.000Z', 'Z') : ymd(d));
  return 'from=' + encodeURIComponent(f(r.from)) + '&to=' + encodeURIComponent(f(r.to));
}
function shiftMonth(id, k) {
  const m = /^(\d{4})-(\d{2})$/.exec(id);
  const d = new Date(+m[1], +m[2] - 1 + k, 1);
  return d.getFullYear() + '-' + pad(d.getMonth() + 1);
}
function rangeLabel(r) {
  if (r.kind === 'all') return t('all_time');
  if (r.kind === 'month') return new Intl.DateTimeFormat(locale(), { month: 'long', year: 'numeric' }).format(r.from);
  const last = new Date(r.to);
  last.setDate(last.getDate() - 1);
  const df = new Intl.DateTimeFormat(locale(), { dateStyle: 'medium' });
  return df.format(r.from) + ' – ' + df.format(last);
}
/* ISO week label of a date (2026-W40). */
function isoWeek(d) {
  const x = new Date(Date.UTC(d.getFullYear(), d.getMonth(), d.getDate()));
  const day = x.getUTCDay() || 7;
  x.setUTCDate(x.getUTCDate() + 4 - day);
  const y0 = new Date(Date.UTC(x.getUTCFullYear(), 0, 1));
  const w = Math.ceil(((x - y0) / 86400000 + 1) / 7);
  return x.getUTCFullYear() + '-W' + pad(w);
}
/* The label of the period just before the range's first one, for compare=. */
function previousLabel(r, by) {
  const d = new Date(r.from);
  if (by === 'month') {
    d.setMonth(d.getMonth() - 1);
    return d.getFullYear() + '-' + pad(d.getMonth() + 1);
  }
  if (by === 'week') {
    d.setDate(d.getDate() - 7);
    return isoWeek(d);
  }
  d.setDate(d.getDate() - 1);
  return ymd(d);
}

/* The period picker: month with previous/next, all time (when allowed), a custom range. */
function periodPicker(view, params, r, allowAll) {
  const set = (range) => go(view, Object.assign({}, params, { range }));
  const month = r.kind === 'month' ? r.id : thisMonth();
  const fromIn = h('input', { type: 'date', 'aria-label': t('from'), value: r.from ? ymd(r.from) : '' });
  const last = r.to ? new Date(r.to.getTime() - 86400000) : null;
  const toIn = h('input', { type: 'date', 'aria-label': t('to'), value: last ? ymd(last) : '' });
  return h('div', { class: 'period', role: 'group', 'aria-label': t('period') },
    h('button', { type: 'button', 'aria-label': t('prev'), onclick: () => set(shiftMonth(month, -1)) }, '‹'),
    h('span', { class: 'plabel', 'aria-live': 'polite' }, rangeLabel(r)),
    h('button', { type: 'button', 'aria-label': t('next'), onclick: () => set(shiftMonth(month, 1)) }, '›'),
    r.kind !== 'month' ? h('button', { type: 'button', onclick: () => set(thisMonth()) }, t('month')) : null,
    allowAll ? h('button', { type: 'button', 'aria-pressed': String(r.kind === 'all'), onclick: () => set('all') }, t('all_time')) : null,
    h('span', { class: 'small muted' }, t('custom') + ':'), fromIn, toIn,
    h('button', { type: 'button', onclick: () => { if (fromIn.value && toIn.value) set(fromIn.value + '..' + toIn.value); } }, t('apply')));
}

function select(label, value, options, onchange) {
  const s = h('select', { onchange: (e) => onchange(e.target.value) },
    options.map(([v, text]) => h('option', { value: v, selected: v === value }, text)));
  return h('label', {}, label, s);
}

function problem(r, what) {
  if (r.status === 404 || r.status === 405) return h('p', { class: 'na' }, t('not_available', { what }));
  if (r.status === 403) return h('p', { class: 'error' }, t('forbidden'));
  return h('p', { class: 'error' }, t('failed', { status: r.status, msg: (r.body && r.body.message) || '' }));
}

function currenciesOf(rows, ...keys) {
  const set = new Set();
  for (const row of rows) for (const k of keys) for (const c of Object.keys(row[k] || {})) set.add(c);
  return [...set].sort();
}

/* A contact as a drill-down gives it: name, email, link to its journey. */
function contactCell(c) {
  if (!c) return '—';
  if (typeof c === 'string') return h('a', { href: link('journey', { contact: c }) }, c);
  return h('a', { href: link('journey', { contact: c.id }) }, c.name || c.email || c.id);
}

/* Work a view started and the page is not complete without (drill-downs, names): render()
 * waits for it before it marks the view ready. */
let pending = [];

/* A paged drill-down list (limit/cursor, DESIGN §7): the contacts or conversions behind a
 * number, with a "more" button while the API gives a cursor. Its columns are the fields
 * the answer has: conversions (amount, credit), funnel contacts (lead, entered), SLA
 * leads (lead, response or wait). */
const DRILL_COLS = [
  ['at', 'at', 'date'], ['lead_at', 'lead_at', 'date'], ['entered_at', 'entered_at', 'date'],
  ['amount', 'amount', 'money'], ['credit', 'credit', 'money'],
  ['response_seconds', 'response', 'dur'], ['waited_seconds', 'waited', 'dur'],
];
function drillPanel(title, base, range, onClose) {
  const box = h('section', { class: 'card', 'aria-label': title, tabindex: '-1' },
    h('div', { class: 'controls' }, h('h2', {}, title), h('button', { type: 'button', onclick: onClose }, t('close'))));
  const list = h('div', { class: 'scroll' }, h('p', { class: 'muted' }, t('loading')));
  box.append(list);
  const load = async (cursor, table, cols) => {
    const r = await report(base + '&limit=50' + (cursor ? '&cursor=' + encodeURIComponent(cursor) : ''), range);
    const url = r.url;
    if (r.status !== 200) {
      list.replaceChildren(problem(r, t('the_drill')));
      return;
    }
    const key = ['conversions', 'contacts', 'leads', 'items', 'rows'].find((k) => Array.isArray(r.body[k]));
    const items = key ? r.body[key] : [];
    if (!table) {
      cols = DRILL_COLS.filter(([f]) => items.some((it) => it[f] !== undefined && it[f] !== null));
      table = h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, t('contact')), h('th', { class: 'hide-phone' }, t('email')),
        cols.map(([, label, kind]) => h('th', { class: kind === 'date' ? '' : 'n' }, t(label))))), h('tbody'));
      list.replaceChildren(typeof r.body.total === 'number'
        ? h('p', { class: 'muted' }, num(r.body.total, 'int', url, '/total'), ' ' + (key === 'conversions' ? t('conversions') : t('contacts')).toLowerCase()) : '', table);
    }
    const tb = table.tBodies[0];
    items.forEach((it, i) => {
      const p = '/' + key + '/' + i;
      const c = it.contact && typeof it.contact === 'object' ? it.contact : it.contact || (it.id ? it : null);
      tb.append(h('tr', {}, h('td', {}, contactCell(c)), h('td', { class: 'hide-phone small' }, (c && c.email) || ''),
        cols.map(([f, , kind]) => {
          const v = it[f];
          if (v === undefined || v === null) return h('td', {}, '');
          if (kind === 'date') return h('td', { class: 'small' }, fmt('date', v));
          if (kind === 'money') return h('td', { class: 'n' }, typeof v === 'object' && v.currency ? num(v.minor, 'money:' + v.currency, url, p + '/' + f + '/minor') : '');
          return h('td', { class: 'n' }, num(v, kind, url, p + '/' + f));
        })));
    });
    if (!items.length && !cursor) list.append(h('p', { class: 'muted' }, t('no_rows')));
    if (r.body.next_cursor) list.append(h('button', { type: 'button', onclick: (e) => { e.target.remove(); load(r.body.next_cursor, table, cols); } }, t('more')));
  };
  pending.push(load(null, null, null));
  setTimeout(() => box.focus(), 0);
  return box;
}

/* A link to a report's CSV (DESIGN §7: every report table answers CSV). */
function csvLink(url, label) {
  return h('a', { href: url + (url.includes('?') ? '&' : '?') + 'format=csv', download: '', class: 'small' }, label || 'CSV');
}

/* ---- views ---- */

const MODELS = ['first_touch', 'last_touch', 'linear', 'position', 'time_decay'];

/* Revenue: attributed revenue by key for a model, per currency, spend and ROAS; the most
 * important number (the period's attributed revenue) is the biggest thing on the page. */
async function viewRevenue(main, q) {
  const p = qs(q);
  const model = MODELS.includes(p.model) || p.model === 'all' ? p.model : 'linear';
  const by = ['channel', 'source', 'campaign', 'ad'].includes(p.by) ? p.by : 'channel';
  const r = parseRange(p.range || thisMonth(), true);
  const params = { model, by, range: r.id, cur: p.cur };
  main.append(h('h1', {}, t('revenue')), h('div', { class: 'controls' },
    select(t('model'), model, MODELS.map((m) => [m, t(m)]).concat([['all', t('compare_models')]]), (v) => go('revenue', Object.assign({}, params, { model: v, key: null }))),
    select(t('by'), by, ['channel', 'source', 'campaign', 'ad'].map((k) => [k, t(k)]), (v) => go('revenue', Object.assign({}, params, { by: v, key: null }))),
    periodPicker('revenue', params, r, true)));
  const slot = h('div', {}, h('p', { class: 'muted' }, t('loading')));
  main.append(slot);
  const models = model === 'all' ? MODELS : [model];
  /* One request also for the five models side by side: model=all reads the contacts once
   * and answers each model under /models/<model>, exactly as its own request would. */
  const a = await report('/v1/reports/attribution?model=' + model + '&by=' + by, r);
  if (a.status !== 200) {
    slot.replaceChildren(problem(a, 'attribution'));
    return;
  }
  const parts = models.map((m) => (model === 'all'
    ? { rows: ((a.body.models || {})[m] || {}).rows || [], ptr: '/models/' + m + '/rows' }
    : { rows: a.body.rows || [], ptr: '/rows' }));
  const main0 = parts[Math.max(0, models.indexOf('linear'))];
  const rows = main0.rows;
  const curs = currenciesOf(rows, 'revenue', 'spend');
  const cur = curs.includes(p.cur) ? p.cur : curs[0] || 'EUR';
  const src = a.url;
  const out = [];
  out.push(h('section', { class: 'card' },
    h('div', { class: 'hero' },
      sumNum(rows, '/revenue/' + cur, 'money:' + cur, src, main0.ptr, 'big'),
      h('span', { class: 'cap' }, t('attributed_revenue') + ' · ' + rangeLabel(r) + ' · ' + t(models.length > 1 ? 'linear' : model))),
    h('div', { class: 'kpis' },
      /* No conversions total: a conversion credited to several keys is in several rows. */
      curs.length > 1 ? select(t('currency'), cur, curs.map((c) => [c, c]), (v) => go('revenue', Object.assign({}, params, { cur: v }))) : null)));
  const sorted = rows.map((row, i) => ({ row, i })).sort((a, b) => ((b.row.revenue || {})[cur] || 0) - ((a.row.revenue || {})[cur] || 0));
  const top = Math.max(1, ...sorted.map((x) => (x.row.revenue || {})[cur] || 0));
  const drill = (key) => go('revenue', Object.assign({}, params, { key }));
  let table;
  if (models.length > 1) {
    const byModel = parts.map((x) => new Map(x.rows.map((row, i) => [row.key, { row, i }])));
    const lin = byModel[models.indexOf('linear')];
    const rev = (k) => ((lin.get(k) || { row: {} }).row.revenue || {})[cur] || 0;
    const keys = [...new Set(parts.flatMap((x) => x.rows.map((row) => row.key)))].sort((x, y) => rev(y) - rev(x));
    table = h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, t(by)), models.map((m) => h('th', { class: 'n' }, t(m))))),
      h('tbody', {}, keys.map((k) => h('tr', {}, h('th', { scope: 'row' }, k), models.map((m, j) => {
        const x = byModel[j].get(k);
        return h('td', { class: 'n' }, x && x.row.revenue && x.row.revenue[cur] !== undefined
          ? num(x.row.revenue[cur], 'money:' + cur, src, parts[j].ptr + '/' + x.i + '/revenue/' + esc(cur)) : '—');
      })))));
  } else {
    table = h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, t(by)), h('th', { class: 'n' }, t('revenue')),
      h('th', { class: 'n' }, t('conversions')), h('th', { class: 'n hide-phone' }, t('touches')),
      h('th', { class: 'n' }, t('spend')), h('th', { class: 'n' }, t('roas')))),
    h('tbody', {}, sorted.filter((x) => (x.row.revenue || {})[cur] !== undefined || (x.row.spend || {})[cur] !== undefined).map(({ row, i }) => {
      const rp = main0.ptr + '/' + i;
      const v = (row.revenue || {})[cur];
      return h('tr', { class: p.key === row.key ? 'sel' : null },
        h('th', { scope: 'row' }, h('button', { type: 'button', class: 'rowlink', onclick: () => drill(row.key) }, row.key),
          h('div', { class: 'bar', style: null, 'data-w': String(Math.round(100 * (v || 0) / top)) })),
        h('td', { class: 'n' }, v !== undefined ? num(v, 'money:' + cur, src, rp + '/revenue/' + esc(cur)) : '—'),
        h('td', { class: 'n' }, num(row.conversions, 'int', src, rp + '/conversions')),
        h('td', { class: 'n hide-phone' }, num(row.touches, 'int', src, rp + '/touches')),
        h('td', { class: 'n' }, row.spend && row.spend[cur] !== undefined ? num(row.spend[cur], 'money:' + cur, src, rp + '/spend/' + esc(cur)) : '—'),
        h('td', { class: 'n' }, row.roas && row.roas[cur] !== undefined ? num(row.roas[cur], 'roas', src, rp + '/roas/' + esc(cur)) : '—'));
    })));
  }
  if (!rows.length) table = h('p', { class: 'muted' }, t('no_rows'));
  if (p.key && models.length === 1) {
    out.push(drillPanel(t('drill_title', { key: p.key }),
      '/v1/reports/attribution/conversions?model=' + model + '&by=' + by + '&key=' + encodeURIComponent(p.key), r,
      () => go('revenue', Object.assign({}, params, { key: null }))));
  }
  out.push(h('section', { class: 'card scroll' }, table, h('p', {}, csvLink(src, 'CSV'))));
  slot.replaceChildren(...out);
  sizeBars(slot);
}
/* Bar widths are set from script: the CSP forbids inline style attributes. */
function sizeBars(root) {
  for (const b of root.querySelectorAll('[data-w]')) b.style.width = b.getAttribute('data-w') + '%';
}

const STAGES = ['lead', 'qualified', 'opportunity', 'won', 'paid'];

async function viewFunnel(main, q) {
  const p = qs(q);
  const by = ['month', 'week', 'day'].includes(p.by) ? p.by : 'month';
  const view = p.view === 'activity' ? 'activity' : 'cohort';
  const r = parseRange(p.range || thisMonth(), false);
  const params = { by, view, range: r.id };
  main.append(h('h1', {}, t('funnel')), h('div', { class: 'controls' },
    select(t('view'), view, [['cohort', t('cohort')], ['activity', t('activity')]], (v) => go('funnel', Object.assign({}, params, { view: v }))),
    select(t('by'), by, ['month', 'week', 'day'].map((k) => [k, t(k)]), (v) => go('funnel', Object.assign({}, params, { by: v }))),
    periodPicker('funnel', params, r, false)));
  const slot = h('div', {}, h('p', { class: 'muted' }, t('loading')));
  main.append(slot);
  const cmp = previousLabel(r, by);
  const a = await report('/v1/reports/funnel?view=' + view + '&by=' + by + '&compare=' + encodeURIComponent(cmp), r);
  if (a.status !== 200) {
    slot.replaceChildren(problem(a, 'funnel'));
    return;
  }
  const src = a.url;
  const periods = a.body.periods || [];
  const c = a.body.compare;
  const out = [];
  let head;
  if (c && c.transition && c.points !== null && c.points !== undefined) {
    const words = t(c.points < 0 ? 'fell' : 'rose', { t: '\u0000', p: '\u0001', c: c.period }).split(/(\u0000|\u0001)/);
    head = h('p', { class: 'headline ' + (c.points < 0 ? 'bad' : 'good') }, words.map((w) =>
      w === '\u0000' ? h('span', { 'data-jd-src': src + '#/compare/transition', 'data-jd-fmt': 'text' }, c.transition)
        : w === '\u0001' ? num(c.points, 'points', src, '/compare/points') : w));
  } else {
    head = h('p', { class: 'headline' }, t('nothing_fell', { c: cmp }));
  }
  const first = periods[0];
  const bars = first ? h('div', {}, STAGES.map((s) => {
    const st = first.stages && first.stages[s];
    const lead = (first.stages && first.stages.lead && first.stages.lead.contacts) || 1;
    return h('div', { class: 'funnelbar' }, h('span', {}, s),
      h('div', { class: 'bar', 'data-w': String(Math.round(100 * ((st && st.contacts) || 0) / lead)) }),
      st ? num(st.contacts, 'int', src, '/periods/0/stages/' + s + '/contacts') : h('span', { class: 'na' }, '—'));
  })) : null;
  out.push(h('section', { class: 'card' }, head, first ? h('p', { class: 'muted' }, first.period) : null, bars));
  const drillTo = (stage, period) => go('funnel', Object.assign({}, params, { stage, period }));
  const table = h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, t('stage')), periods.map((pp) => h('th', { class: 'n' }, pp.period)),
    c && c.stages ? h('th', { class: 'n' }, c.period) : null)),
  h('tbody', {}, STAGES.map((s) => h('tr', {}, h('th', { scope: 'row' }, s), periods.map((pp, i) => {
    const st = (pp.stages || {})[s];
    const base = '/periods/' + i + '/stages/' + s;
    if (!st) return h('td', { class: 'n' }, '—');
    return h('td', { class: 'n' + (p.stage === s && p.period === pp.period ? ' sel' : '') },
      h('button', { type: 'button', class: 'rowlink', onclick: () => drillTo(s, pp.period) }, num(st.contacts, 'int', src, base + '/contacts')),
      st.rate !== undefined && st.rate !== null ? h('div', { class: 'small muted' }, num(st.rate, 'pct', src, base + '/rate')) : null,
      st.median_seconds !== undefined && st.median_seconds !== null ? h('div', { class: 'small muted' }, num(st.median_seconds, 'dur', src, base + '/median_seconds')) : null);
  }), c && c.stages ? h('td', { class: 'n' }, c.stages[s] ? [num(c.stages[s].contacts, 'int', src, '/compare/stages/' + s + '/contacts'),
    c.stages[s].rate !== undefined && c.stages[s].rate !== null ? h('div', { class: 'small muted' }, num(c.stages[s].rate, 'pct', src, '/compare/stages/' + s + '/rate')) : null] : '—') : null))));
  if (p.stage && p.period) {
    out.push(drillPanel(t('contacts_title', { what: p.stage + ' · ' + p.period }),
      '/v1/reports/funnel/contacts?view=' + view + '&by=' + by + '&period=' + encodeURIComponent(p.period) + '&stage=' + encodeURIComponent(p.stage), r,
      () => go('funnel', params)));
  }
  out.push(h('section', { class: 'card scroll' }, h('p', { class: 'small muted' }, t('contacts') + ' · ' + t('rate') + ' · ' + t('median')), table, h('p', {}, csvLink(src))));
  slot.replaceChildren(...out);
  sizeBars(slot);
}

function badge(met) {
  if (met === null || met === undefined) return h('span', { class: 'badge none' }, t('no_target'));
  return h('span', { class: 'badge ' + (met ? 'good' : 'bad') }, t(met ? 'met' : 'missed'));
}

async function viewSla(main, q) {
  const p = qs(q);
  const r = parseRange(p.range || thisMonth(), false);
  const params = { range: r.id };
  main.append(h('h1', {}, t('sla')), h('div', { class: 'controls' }, periodPicker('sla', params, r, false)));
  const slot = h('div', {}, h('p', { class: 'muted' }, t('loading')));
  main.append(slot);
  const a = await report('/v1/reports/sla', r);
  if (a.status !== 200) {
    slot.replaceChildren(problem(a, 'SLA'));
    return;
  }
  const src = a.url;
  const s = a.body.sales || {};
  const m = a.body.marketing || {};
  const drill = (status) => go('sla', Object.assign({}, params, { status }));
  const fig = (label, node, status) => h('div', { class: 'target' }, h('span', {}, status
    ? h('button', { type: 'button', class: 'rowlink', onclick: () => drill(status) }, label) : label), h('span', { class: 'v' }, node));
  const out = [];
  out.push(h('div', { class: 'grid2' },
    h('section', { class: 'card', 'aria-label': t('sales') },
      h('div', { class: 'controls' }, h('h2', {}, t('sales')), badge(s.met)),
      h('div', { class: 'hero' }, num(s.share_within_sla, 'pct', src, '/sales/share_within_sla', 'big'), h('span', { class: 'cap' }, t('within_sla'))),
      fig(t('answered'), [num(s.answered, 'int', src, '/sales/answered'), ' / ', num(s.leads, 'int', src, '/sales/leads')], 'answered'),
      fig(t('within_sla'), num(s.within_sla, 'int', src, '/sales/within_sla'), 'within'),
      /* Answered late has no figure of its own in the scorecard (answered − within): only
       * its list. */
      h('div', { class: 'target' }, h('button', { type: 'button', class: 'rowlink', onclick: () => drill('breached') }, t('breached')), h('span', { class: 'small muted' }, '→')),
      fig(t('response') + ' · ' + t('median'), num(s.median_seconds, 'dur', src, '/sales/median_seconds')),
      fig(t('response') + ' · ' + t('p90'), num(s.p90_seconds, 'dur', src, '/sales/p90_seconds')),
      fig(t('waiting'), num((s.waiting || []).length, 'int', src, '/sales/waiting', null), 'waiting'),
      fig(t('self_served'), num(s.self_served, 'int', src, '/sales/self_served'), 'self_served')),
    h('section', { class: 'card', 'aria-label': t('marketing') },
      h('div', { class: 'controls' }, h('h2', {}, t('marketing')), badge(m.met)),
      h('div', { class: 'hero' }, num(m.leads, 'int', src, '/marketing/leads', 'big'), h('span', { class: 'cap' }, t('leads'),
        m.leads_target !== undefined && m.leads_target !== null ? [' · ', t('leads_target', { v: '' }), num(m.leads_target, 'int', src, '/marketing/leads_target')] : null)),
      fig(t('qualified_rate'), [num(m.qualified_rate, 'pct', src, '/marketing/qualified_rate'),
        m.qualified_rate_target !== undefined && m.qualified_rate_target !== null ? h('span', { class: 'small muted' }, ' / ', num(m.qualified_rate_target, 'pct', src, '/marketing/qualified_rate_target')) : null]),
      Object.keys(a.body.revenue || {}).map((cur) => fig(t('revenue') + ' ' + cur, num(a.body.revenue[cur], 'money:' + cur, src, '/revenue/' + esc(cur)))))));
  /* The waiting-list length is the array's length: marked so the checker counts it. */
  for (const el of out[0].querySelectorAll('[data-jd-src$="#/sales/waiting"]')) el.setAttribute('data-jd-count', '');
  if (p.status) {
    out.push(drillPanel(t('contacts_title', { what: p.status }),
      '/v1/reports/sla/contacts?status=' + encodeURIComponent(p.status), r, () => go('sla', params)));
  }
  out.push(h('section', { class: 'card' }, h('h2', {}, t('distribution')), distribution(r, s, src)));
  out.push(ownerTable(s.by_owner || [], src));
  main.querySelector('.controls').append(csvLink(src));
  const waiting = (s.waiting || []).map((w, i) => ({ w, i })).sort((x, y) => (y.w.waited_seconds || 0) - (x.w.waited_seconds || 0));
  const wt = h('tbody');
  out.push(h('section', { class: 'card scroll' }, h('h2', {}, t('waiting')), waiting.length
    ? h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, t('contact')), h('th', {}, t('email')), h('th', {}, t('lead_at')), h('th', { class: 'n' }, t('waited')))), wt)
    : h('p', { class: 'muted' }, t('no_rows'))));
  const cells = new Map();
  for (const { w, i } of waiting) {
    const nameCell = h('td', {}, h('a', { href: link('journey', { contact: w.contact }) }, w.name || w.contact));
    const mailCell = h('td', {}, w.email || '');
    wt.append(h('tr', {}, nameCell, mailCell, h('td', { class: 'small' }, w.lead_at ? fmt('date', w.lead_at) : ''),
      h('td', { class: 'n' }, num(w.waited_seconds, 'dur', src, '/sales/waiting/' + i + '/waited_seconds'))));
    cells.set(w.contact, { nameCell, mailCell });
  }
  if (cells.size) pending.push(fillNames(r, cells));
  slot.replaceChildren(...out);
}

/* The sales side per owner of the response (the CRM user who answered): who keeps the
 * agreement and who does not, in the same figures as the totals above. */
function ownerTable(rows, src) {
  if (!rows.length) return h('section', { class: 'card' }, h('h2', {}, t('by_owner')), h('p', { class: 'muted' }, t('no_rows')));
  const ptr = (i, k) => '/sales/by_owner/' + i + '/' + k;
  return h('section', { class: 'card scroll' }, h('h2', {}, t('by_owner')),
    h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, t('owner')), h('th', { class: 'n' }, t('answered')),
      h('th', { class: 'n' }, t('within_sla')), h('th', { class: 'n' }, t('median')), h('th', { class: 'n' }, t('p90')))),
    h('tbody', {}, rows.map((o, i) => h('tr', {},
      h('td', {}, o.owner === '(none)' ? t('no_owner') : o.owner),
      h('td', { class: 'n' }, num(o.answered, 'int', src, ptr(i, 'answered'))),
      h('td', { class: 'n' }, num(o.within_sla, 'int', src, ptr(i, 'within_sla'))),
      h('td', { class: 'n' }, num(o.median_seconds, 'dur', src, ptr(i, 'median_seconds'))),
      h('td', { class: 'n' }, num(o.p90_seconds, 'dur', src, ptr(i, 'p90_seconds'))))))));
}

/* Names and emails of the waiting leads, which the scorecard names by id only: from the
 * waiting drill-down, or, on a journeyd without it, from each contact (the first 50). */
async function fillNames(r, cells) {
  const put = (id, name, email) => {
    const c = cells.get(id);
    if (!c) return;
    if (name) c.nameCell.firstChild.textContent = name;
    if (email) c.mailCell.textContent = email;
  };
  const d = await report('/v1/reports/sla/contacts?status=waiting&limit=500', r);
  if (d.status === 200) {
    for (const c of d.body.contacts || []) put(c.id, c.name, c.email);
    return;
  }
  await Promise.all([...cells.keys()].slice(0, 50).map(async (id) => {
    const a = await api('/v1/contacts/' + encodeURIComponent(id));
    if (a.status !== 200 || !a.body) return;
    const c = a.body.contact || a.body;
    const ids = c.identities || [];
    put(id, c.name, (ids.find((x) => x.type === 'email') || {}).value);
  }));
}

/* Response times: the scorecard's own buckets (sales.response_times), bars of the answered
 * leads per bucket; a journeyd without them gives only the median and p90. */
function distribution(r, s, src) {
  const box = h('div', {}, h('p', { class: 'muted small' }, t('median') + ' ', num(s.median_seconds, 'dur', src, '/sales/median_seconds'),
    ' · ' + t('p90') + ' ', num(s.p90_seconds, 'dur', src, '/sales/p90_seconds')));
  const rt = s.response_times;
  if (!rt || !Array.isArray(rt.answered) || !Array.isArray(rt.under_seconds)) return box;
  const label = (e, i) => (e === null ? '≥ ' + fmt('dur', rt.under_seconds[i - 1]) : '< ' + fmt('dur', e));
  const labels = rt.under_seconds.map(label);
  const mx = Math.max(1, ...rt.answered);
  const d = h('div', { class: 'dist', role: 'img', 'aria-label': t('distribution') + ': ' + labels.map((l, i) => l + ' ' + rt.answered[i]).join(', ') },
    rt.answered.map((c2, i) => h('div', { class: 'col', title: labels[i] + ': ' + c2 },
      h('span', { class: 'cnt' }, num(c2, 'int', src, '/sales/response_times/answered/' + i)),
      h('div', { class: 'b', 'data-h': String(Math.round(100 * c2 / mx)) }),
      h('span', {}, labels[i]))));
  box.append(d);
  for (const b of d.querySelectorAll('[data-h]')) b.style.height = b.getAttribute('data-h') + '%';
  return box;
}

async function viewJourney(main, q) {
  const p = qs(q);
  const kinds = [['email', t('email')], ['phone', t('phone')], ['anon', t('anon')], ['contact', t('contact_id')]];
  const kind = kinds.map((k) => k[0]).find((k) => p[k]) || p.type || 'email';
  const value = p[kind] || '';
  const model = MODELS.includes(p.model) ? p.model : 'linear';
  const input = h('input', { type: 'search', value, 'aria-label': t('search_help'), placeholder: t('search_help'), size: '32' });
  let type = kind;
  const form = h('form', { class: 'controls', role: 'search', onsubmit: (e) => {
    e.preventDefault();
    const v = input.value.trim();
    let k = type;
    if (/@/.test(v)) k = 'email';
    else if (/^c_/.test(v)) k = 'contact';
    else if (/^a_/.test(v)) k = 'anon';
    else if (/^\+?[\d\s().\-/]{6,}$/.test(v)) k = 'phone';
    go('journey', { [k]: v, model });
  } }, select(t('type'), kind, kinds, (v) => { type = v; }), input, h('button', { type: 'submit', class: 'primary' }, t('search')),
  select(t('model'), model, MODELS.map((m) => [m, t(m)]), (v) => go('journey', { [kind]: value, model: v })));
  main.append(h('h1', {}, t('journey')), form);
  if (!value) {
    setTimeout(() => input.focus(), 0);
    return;
  }
  const slot = h('div', {}, h('p', { class: 'muted' }, t('loading')));
  main.append(slot);
  const a = await api('/v1/journey?' + kind + '=' + encodeURIComponent(value) + '&model=' + model);
  if (a.status === 404) {
    slot.replaceChildren(h('p', { class: 'note' }, t('not_found')));
    return;
  }
  if (a.status !== 200) {
    slot.replaceChildren(problem(a, 'journey'));
    return;
  }
  const src = a.url;
  const c = a.body.contact || {};
  const out = [];
  const email = (c.identities || []).find((x) => x.type === 'email');
  out.push(h('section', { class: 'card' },
    h('div', { class: 'hero' }, Object.keys(c.revenue || {}).length
      ? Object.keys(c.revenue).map((cur) => num(c.revenue[cur], 'money:' + cur, src, '/contact/revenue/' + esc(cur), 'big'))
      : h('span', { class: 'big' }, '—'),
    h('span', { class: 'cap' }, (email ? email.value + ' · ' : '') + c.id + ' · ' + (c.stage || ''))),
    h('div', { class: 'kpis' },
      h('div', { class: 'kpi' }, h('div', { class: 'v small' }, c.first_seen ? fmt('date', c.first_seen) : '—'), h('div', { class: 'l' }, t('first_seen'))),
      h('div', { class: 'kpi' }, h('div', { class: 'v small' }, c.last_seen ? fmt('date', c.last_seen) : '—'), h('div', { class: 'l' }, t('last_seen')))),
    h('p', {}, h('span', { class: 'muted small' }, t('identities') + ': '), (c.identities || []).map((x) => h('span', { class: 'tag' }, x.type + ': ' + x.value))),
    (c.merged_from || []).length ? h('p', { class: 'small muted' }, t('merged_from') + ': ' + c.merged_from.join(', ')) : null,
    (c.conflicts || []).length ? h('div', { class: 'note' }, h('strong', {}, t('conflicts')), h('ul', {},
      c.conflicts.map((x) => h('li', {}, x && x.type && Array.isArray(x.values)
        ? t('conflict_line', { type: x.type, a: x.values[0], b: x.values[1], e: x.event || '' })
        : JSON.stringify(x))))) : null));
  /* Credit per touch, by conversion, to show beside each touch of the timeline. */
  const creditByTouch = new Map();
  (a.body.conversions || []).forEach((cv, i) => (cv.credit || []).forEach((cr, j) => {
    if (!creditByTouch.has(cr.touch)) creditByTouch.set(cr.touch, []);
    creditByTouch.get(cr.touch).push({ cv, i, j, cr });
  }));
  const events = a.body.events || [];
  /* A conversion named by its event: "payment, 2 Dec 2026". */
  const byId = new Map(events.map((e) => [e.id, e]));
  const convLabel = (cv) => {
    const e = byId.get(cv.event);
    return e ? t(e.kind === 'refund' ? 'refund' : 'payment') + ', ' + new Intl.DateTimeFormat(locale(), { dateStyle: 'medium' }).format(new Date(e.at)) : cv.event || '';
  };
  out.push(h('section', { class: 'card' }, h('h2', {}, t('timeline')), h('ol', { class: 'timeline' }, events.map((e, i) => {
    const touch = e.touch || {};
    const credits = creditByTouch.get(e.id) || [];
    return h('li', {}, h('span', { class: 'when' }, e.at ? fmt('date', e.at) : ''), h('div', {},
      h('span', { class: 'kind' }, e.kind), ' ', h('span', { class: 'muted small' }, e.source || ''),
      e.stage ? h('span', { class: 'tag' }, t('stage_changes') + ': ' + e.stage) : null,
      touch.channel ? h('span', { class: 'tag' }, touch.channel) : null,
      touch.campaign ? h('span', { class: 'tag' }, touch.campaign) : null,
      e.amount ? h('span', { class: 'tag' }, (e.kind === 'refund' ? '−' : ''), num(e.amount.minor, 'money:' + e.amount.currency, src, '/events/' + i + '/amount/minor')) : null,
      credits.map(({ cv, i: ci, j, cr }) => h('div', { class: 'small' }, t('credit_for', { m: t(model) }) + ' (' + convLabel(cv) + '): ',
        num(cr.minor, 'money:' + ((cv.amount || {}).currency || 'EUR'), src, '/conversions/' + ci + '/credit/' + j + '/minor')))));
  }))));
  slot.replaceChildren(...out);
}

async function viewOps(main) {
  main.append(h('h1', {}, t('ops')));
  const slot = h('div', {}, h('p', { class: 'muted' }, t('loading')));
  main.append(slot);
  const [st, dead, srcs] = await Promise.all([api('/v1/status'), api('/v1/dead?limit=50'), api('/v1/sources')]);
  const out = [];
  if (st.status !== 200) {
    out.push(problem(st, 'status'));
  } else {
    const s = st.body;
    const q = s.queue || {};
    out.push(h('section', { class: 'card' }, h('div', { class: 'hero' },
      num(q.length, 'int', st.url, '/queue/length', 'big'), h('span', { class: 'cap' }, t('queue'))),
    h('div', { class: 'kpis' },
      h('div', { class: 'kpi' }, h('div', { class: 'v' }, num(q.pending, 'int', st.url, '/queue/pending')), h('div', { class: 'l' }, t('pending'))),
      q.lag_seconds !== undefined ? h('div', { class: 'kpi' }, h('div', { class: 'v' }, num(q.lag_seconds, 'dur', st.url, '/queue/lag_seconds')), h('div', { class: 'l' }, t('lag'))) : null,
      h('div', { class: 'kpi' }, h('div', { class: 'v' }, num(s.dead_letters, 'int', st.url, '/dead_letters')), h('div', { class: 'l' }, t('dead'))))));
  }
  /* Dead letters and the replay button: the button is there for every scope, and does its
   * work only with admin (the API answers 403 otherwise). */
  const msg = h('p', { role: 'status' });
  const admin = session && session.scope === 'admin';
  const btn = h('button', { type: 'button', class: 'primary', id: 'replay', 'aria-describedby': 'replay-note', onclick: async () => {
    btn.disabled = true;
    const r = await api('/v1/dead/replay', { method: 'POST' });
    msg.className = r.status === 200 ? 'note' : 'error';
    msg.textContent = r.status === 200 ? t('replayed', { n: r.body.replayed }) : r.status === 403 ? t('forbidden') : t('failed', { status: r.status, msg: (r.body && r.body.message) || '' });
    btn.disabled = false;
  } }, t('replay'));
  const deadBox = h('section', { class: 'card scroll' }, h('div', { class: 'controls' }, h('h2', {}, t('dead')), btn,
    admin ? null : h('span', { class: 'small muted', id: 'replay-note' }, t('replay_admin', { s: session ? session.scope : '?' }))), msg);
  if (dead.status === 200) {
    const key = ['dead_letters', 'dead', 'items'].find((k) => Array.isArray(dead.body[k])) || 'dead_letters';
    const items = dead.body[key] || [];
    deadBox.append(items.length ? h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, t('at')), h('th', {}, t('source')),
      h('th', {}, t('reason')), h('th', { class: 'n' }, t('attempts')))),
    h('tbody', {}, items.map((d, i) => {
      const when = d.last_attempt || d.at;
      return h('tr', {}, h('td', { class: 'small' }, when ? fmt('date', when) : ''), h('td', {}, d.source || ''),
        h('td', {}, h('span', { 'data-jd-src': dead.url + '#/' + key + '/' + i + '/reason', 'data-jd-fmt': 'text' }, d.reason || '')),
        h('td', { class: 'n' }, num(d.attempts, 'int', dead.url, '/' + key + '/' + i + '/attempts')));
    }))) : h('p', { class: 'muted' }, t('no_dead')));
    if (dead.body.next_cursor) deadBox.append(h('p', { class: 'small muted' }, t('more') + '…'));
  } else {
    deadBox.append(problem(dead, t('the_wait')));
  }
  out.push(deadBox);
  /* Sources: a source that went silent (nothing accepted in 24 hours) or is refused
   * (signatures failing) is marked, with the refusals' reasons in words. */
  const srcBox = h('section', { class: 'card scroll' }, h('h2', {}, t('sources')));
  if (srcs.status === 200) {
    const list = srcs.body.sources || [];
    const cell = (s, i, path, cls) => {
      const v = getPtr(s, path);
      return h('td', { class: 'n ' + (cls || '') }, typeof v === 'number' ? num(v, 'int', srcs.url, '/sources/' + i + path) : '—');
    };
    srcBox.append(h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, t('source')), h('th', { class: 'hide-phone' }, t('type')), h('th', {}, t('last_delivery')),
      h('th', { class: 'n' }, t('accepted') + ' ' + t('h24')), h('th', { class: 'n' }, t('refused') + ' ' + t('h24')),
      h('th', { class: 'n hide-phone' }, t('accepted') + ' ' + t('d7')), h('th', { class: 'n hide-phone' }, t('refused') + ' ' + t('d7')),
      h('th', { class: 'hide-phone' }, t('reason')))),
    h('tbody', {}, list.map((s, i) => {
      const d24 = s.last_24h || {};
      const silent = !(d24.accepted > 0);
      /* Failing: more refused than accepted in 24 hours (signatures broke, a secret
       * rotated on one side only); a stray refusal among many accepted is only counted. */
      const failing = d24.refused > 0 && d24.refused >= (d24.accepted || 0);
      const reasons = Object.entries((s.last_7d || {}).refused_by_reason || {}).map(([k, v]) => k + ' ' + fmt('int', v)).join(', ');
      return h('tr', { class: failing ? 'bad-row' : silent ? 'quiet-row' : null },
        h('th', { scope: 'row' }, s.name || '', failing ? h('span', { class: 'badge bad' }, t('failing')) : silent ? h('span', { class: 'badge none' }, t('silent')) : null),
        h('td', { class: 'hide-phone' }, s.type || ''),
        h('td', { class: 'small' }, s.last_delivery ? fmt('date', s.last_delivery) : t('never')),
        cell(s, i, '/last_24h/accepted'), cell(s, i, '/last_24h/refused'),
        cell(s, i, '/last_7d/accepted', 'hide-phone'), cell(s, i, '/last_7d/refused', 'hide-phone'),
        h('td', { class: 'small hide-phone' }, reasons));
    }))));
  } else {
    srcBox.append(problem(srcs, t('the_sources')));
  }
  out.push(srcBox);
  slot.replaceChildren(...out);
}

const VIEWS = { revenue: viewRevenue, funnel: viewFunnel, sla: viewSla, journey: viewJourney, ops: viewOps };

/* ---- shell ---- */

function chrome(active) {
  document.documentElement.lang = lang;
  document.getElementById('skip').textContent = t('skip');
  const nav = document.getElementById('nav');
  nav.replaceChildren(...Object.keys(VIEWS).map((v) => h('a', { href: link(v, {}), 'aria-current': v === active ? 'page' : null }, t(v))));
  const lb = document.getElementById('lang');
  lb.textContent = t('lang');
  lb.setAttribute('aria-label', t('lang'));
  const lo = document.getElementById('logout');
  lo.textContent = t('logout');
  lo.hidden = !session;
  lo.title = session ? t('signed_in', { s: session.scope }) : '';
}

let renderSeq = 0;
async function render() {
  const { view, q } = readHash();
  chrome(view);
  if (!session) {
    const r = await api('/ui/session');
    if (r.status !== 200 || !r.body || !r.body.scope) {
      showLogin();
      return;
    }
    session = r.body;
    chrome(view);
  }
  const seq = ++renderSeq;
  pending = [];
  const main = document.getElementById('main');
  const fresh = h('div', { 'data-jd-view': view });
  main.replaceChildren(fresh);
  document.title = t(view) + ' · journeyd';
  try {
    await VIEWS[view](fresh, q);
    await Promise.all(pending);
  } catch (e) {
    if (seq === renderSeq) fresh.append(h('p', { class: 'error' }, String(e && e.message ? e.message : e)));
    throw e;
  }
  if (seq === renderSeq) fresh.setAttribute('data-jd-ready', '1');
}

function showLogin() {
  chrome(readHash().view);
  const main = document.getElementById('main');
  const input = h('input', { type: 'password', id: 'token', autocomplete: 'current-password', required: true });
  const err = h('p', { role: 'alert' });
  const form = h('form', { class: 'card login', onsubmit: async (e) => {
    e.preventDefault();
    const r = await api('/ui/login', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ token: input.value }) });
    input.value = '';
    if (r.status === 200) {
      session = r.body;
      render();
    } else {
      err.className = 'error';
      err.textContent = r.status === 401 ? t('login_bad') : t('failed', { status: r.status, msg: (r.body && r.body.message) || '' });
    }
  } }, h('h1', {}, t('login_title')), h('label', { for: 'token' }, t('token')), input,
  h('p', { class: 'small muted' }, t('login_help')), err, h('button', { type: 'submit', class: 'primary' }, t('login')));
  main.replaceChildren(form);
  input.focus();
}

document.getElementById('lang').addEventListener('click', () => {
  lang = lang === 'it' ? 'en' : 'it';
  try {
    localStorage.setItem('jd.lang', lang);
  } catch (e) { /* not kept: this page only */ }
  if (session) render();
  else showLogin();
});
document.getElementById('logout').addEventListener('click', async () => {
  await api('/ui/logout', { method: 'POST' });
  session = null;
  showLogin();
});
window.addEventListener('hashchange', () => render());
render();

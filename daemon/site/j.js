/* journeyd site script (GET /j.js): keeps the visitor's anonymous id (jd_aid), notes the
 * landing page's utm values, click ids and referrer, records the page view (POST
 * /v1/collect), fills hidden form fields and hands the id to checkouts. No dependencies.
 * docs/providers/site.md describes every call. */
(function () {
  "use strict";
  if (window.journeyd && window.journeyd.version) return; /* loaded twice */
  var PARAMS = ["utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term",
    "gclid", "gbraid", "wbraid", "fbclid", "msclkid", "li_fat_id", "ttclid"];
  var AID_RE = /^a_[0-9a-f]{32}$/;
  var script = document.currentScript;
  var base = script && script.src ? new URL(script.src).origin : location.origin;
  var attr = function (n, d) { var v = script && script.getAttribute(n); return v === null ? d : v; };
  var days = parseInt(attr("data-days", "365"), 10) || 365;
  var needConsent = attr("data-consent", "") === "required";
  var state = { aid: null, params: {}, started: false, watching: false };

  function getCookie(name) {
    var parts = document.cookie ? document.cookie.split("; ") : [];
    for (var i = 0; i < parts.length; i++) {
      var k = parts[i].indexOf("=");
      if (parts[i].slice(0, k) === name) {
        try { return decodeURIComponent(parts[i].slice(k + 1)); } catch (e) { return null; }
      }
    }
    return null;
  }
  function setCookie(name, value, maxDays) {
    document.cookie = name + "=" + encodeURIComponent(value) + "; Max-Age=" + maxDays * 86400 +
      "; Path=/; SameSite=Lax" + (location.protocol === "https:" ? "; Secure" : "");
  }
  function mint() {
    var b = new Uint8Array(16), s = "a_";
    crypto.getRandomValues(b);
    for (var i = 0; i < b.length; i++) s += (b[i] < 16 ? "0" : "") + b[i].toString(16);
    return s;
  }
  function consented() {
    return !needConsent || getCookie("jd_consent") === "1";
  }

  /* The id: the one the click tracker put in the URL, else ours from the last visit, else
   * a new one. */
  function start() {
    if (state.started || !consented()) return;
    state.started = true;
    var q = new URLSearchParams(location.search), landed = {}, any = false;
    var fromUrl = q.get("jd_aid");
    state.aid = fromUrl && AID_RE.test(fromUrl) ? fromUrl : null;
    if (!state.aid) {
      var c = getCookie("jd_aid");
      state.aid = c && AID_RE.test(c) ? c : mint();
    }
    setCookie("jd_aid", state.aid, days);
    /* The landing's parameters replace what an earlier landing left; a page without any
     * keeps them, so a form three pages later still carries the campaign. */
    PARAMS.forEach(function (n) { var v = q.get(n); if (v) { landed[n] = v.slice(0, 255); any = true; } });
    if (any) setCookie("jd_p", JSON.stringify(landed), days);
    try { state.params = JSON.parse(getCookie("jd_p") || "{}") || {}; } catch (e) { state.params = {}; }
    collect();
    fillAll(document);
    if (state.watching) return; /* consent withdrawn and given again */
    state.watching = true;
    if (window.MutationObserver)
      new MutationObserver(function (ms) {
        ms.forEach(function (m) {
          m.addedNodes.forEach(function (n) { if (n.nodeType === 1) fillAll(n); });
        });
      }).observe(document.documentElement, { childList: true, subtree: true });
    /* Values typed by other scripts after load are re-filled at the last moment. */
    document.addEventListener("submit", function (e) { if (e.target.tagName === "FORM") fill(e.target); }, true);
  }

  function collect() {
    var url = location.href.length < 2048 ? location.href : location.origin + location.pathname;
    var body = { aid: state.aid, url: url.slice(0, 2047) };
    var ref = document.referrer;
    if (ref && /^https?:\/\//.test(ref) && ref.length < 2048) body.referrer = ref;
    /* text/plain: a simple request, no preflight. credentials: the click tracker's cookie
     * goes along when journeyd shares the site, so its id joins this one. */
    try {
      fetch(base + "/v1/collect", { method: "POST", body: JSON.stringify(body), keepalive: true,
        credentials: "include", headers: { "Content-Type": "text/plain" } }).catch(function () {});
    } catch (e) { /* no fetch: no page view, the forms are still filled */ }
  }

  function values() {
    var v = { jd_aid: state.aid };
    for (var k in state.params) if (PARAMS.indexOf(k) >= 0) v[k] = state.params[k];
    return v;
  }
  /* Fills the form's inputs named jd_aid, utm_* or a click id when they are empty; a form
   * marked data-journeyd gets hidden inputs for the ones it lacks. */
  function fill(form) {
    if (!state.started) return;
    var v = values(), add = form.hasAttribute("data-journeyd");
    for (var n in v) {
      var el = form.elements.namedItem(n);
      if (!el && add) {
        el = document.createElement("input");
        el.type = "hidden";
        el.name = n;
        form.appendChild(el);
      }
      if (el && "value" in el && !el.value) el.value = v[n];
    }
  }
  function fillAll(root) {
    if (root.tagName === "FORM") fill(root);
    if (root.querySelectorAll) Array.prototype.forEach.call(root.querySelectorAll("form"), fill);
  }

  window.journeyd = {
    version: 1,
    /* The site's consent banner calls consent(true) (or sets the cookie jd_consent=1);
     * consent(false) forgets the id and the campaign. */
    consent: function (yes) {
      if (yes) {
        setCookie("jd_consent", "1", days);
        start();
      } else {
        setCookie("jd_consent", "0", days);
        setCookie("jd_aid", "", 0);
        setCookie("jd_p", "", 0);
        state.started = false;
        state.aid = null;
        state.params = {};
      }
    },
    aid: function () { return state.aid; },
    params: function () { return state.started ? values() : {}; },
    fill: fill,
    /* Stripe Checkout: {client_reference_id, metadata} for the session you create. */
    stripe: function () {
      return state.started ? { client_reference_id: state.aid, metadata: values() } : {};
    },
    /* A Stripe Payment Link with the id as its client_reference_id. */
    decorate: function (link) {
      if (!state.started) return link;
      var u = new URL(link, location.href);
      u.searchParams.set("client_reference_id", state.aid);
      return u.toString();
    },
    /* Shopify: the cart attributes to POST to /cart/update.js as {attributes: …}. */
    shopify: function () { return state.started ? values() : {}; }
  };
  start();
})();

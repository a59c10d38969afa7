/*
 * jdsim: simulator and load generator for journeyd (libcurl multi, keep-alive connections,
 * configurable concurrency).
 *
 *   jdsim [--url URL] [--contacts N] [--seed S] [--concurrency C] [--secrets LIST]
 *         [--hooks LIST] [--dup-rate R]          a synthetic company month, every source
 *   jdsim --demo [--url URL]                     50 contacts for the quick start, then
 *                                                three journeys to look at
 *   jdsim --load [--rate R] [--duration S]       unique Stripe-signed 1-2 KB webhooks, as
 *         [--ack-log FILE]                       fast as possible or at R per second; the
 *                                                ack log gets "<event id> <amount>" of each
 *                                                200 (bench/crash.sh checks them in Redis)
 *   jdsim --emit-wrk FILE [--count N]            pre-signed Stripe requests for wrk
 *                                                (bench/wrk_replay.lua); valid for 300 s
 *   jdsim --free-port                            prints a free loopback TCP port
 *
 * --secrets type=secret,... (defaults match tools/demo.conf: stripe=whsec_demo_secret,
 * form=form_demo_secret, token=demo-token-local-only; pipedrive takes user:password).
 * --hooks type=source-name,... (defaults: form=site, every other type under its own name).
 * Sources the daemon does not have (POST /hooks/<name> answers 404) are left out of the
 * month, and what they would have brought goes through the website form and the events
 * API instead.
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "synth.h"

#define MAX_CONCURRENCY 1024

struct cfg {
    const char *url;
    int contacts, concurrency, demo, load, free_port, quiet;
    uint64_t seed;
    double rate, duration, dup_rate;
    const char *emit_wrk, *ack_log;
    long count;
    const char *secret[SY_NTYPES];
    const char *token;
    const char *hook[SY_NTYPES];
    const char *hubspot_url;
};

/* ---- signing ---- */

static void hmac_hex(const char *key, const char *prefix, size_t plen, const char *body,
                     size_t blen, char out[65])
{
    unsigned char mac[32];
    unsigned int len = 0;
    /* One-shot HMAC over prefix || body without copying the body. */
    static EVP_MAC *m;
    if (!m)
        m = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *c = m ? EVP_MAC_CTX_new(m) : NULL;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", digest, 0),
                           OSSL_PARAM_construct_end()};
    size_t outl = 0;
    if (!c || !EVP_MAC_init(c, (const unsigned char *)key, strlen(key), params) ||
        (plen && !EVP_MAC_update(c, (const unsigned char *)prefix, plen)) ||
        !EVP_MAC_update(c, (const unsigned char *)body, blen) ||
        !EVP_MAC_final(c, mac, &outl, sizeof(mac))) {
        fprintf(stderr, "jdsim: HMAC failed\n");
        exit(1);
    }
    len = (unsigned int)outl;
    EVP_MAC_CTX_free(c);
    static const char hx[] = "0123456789abcdef";
    for (unsigned int i = 0; i < len; i++) {
        out[2 * i] = hx[mac[i] >> 4];
        out[2 * i + 1] = hx[mac[i] & 15];
    }
    out[2 * len] = '\0';
}

static void hex_to_b64(const char hex[65], char out[48])
{
    unsigned char raw[32];
    for (int i = 0; i < 32; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        raw[i] = (unsigned char)v;
    }
    EVP_EncodeBlock((unsigned char *)out, raw, 32);
}

/* ---- requests ---- */

/* One HTTP request slot: an easy handle kept for its connection, and what it sends. */
struct slot {
    CURL *h;
    struct curl_slist *hdrs;
    struct sb body;
    int type; /* enum sy_type, or -1 */
    int64_t start_us;
    char event_id[48]; /* load mode: the Stripe event id, for the ack log */
};

struct stats {
    long sent, ok;
    long status[600];
    FILE *ack_log; /* load mode: every acknowledged event id and amount */
    long type_sent[SY_NTYPES], type_ok[SY_NTYPES];
    int64_t *lat_us;
    size_t nlat, caplat;
};

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

static struct curl_slist *hdr(struct curl_slist *l, const char *line)
{
    struct curl_slist *n = curl_slist_append(l, line);
    if (!n) {
        fprintf(stderr, "jdsim: out of memory\n");
        exit(1);
    }
    return n;
}

static void slot_reset(struct slot *s)
{
    curl_slist_free_all(s->hdrs);
    s->hdrs = NULL;
    s->body.len = 0;
    s->type = -1;
    s->event_id[0] = '\0';
}

static void set_url(struct slot *s, const struct cfg *c, const char *path)
{
    struct sb u = {0};
    sb_printf(&u, "%s%s", c->url, path);
    curl_easy_setopt(s->h, CURLOPT_URL, u.p);
    sb_free(&u);
}

static void set_post(struct slot *s, const char *body, size_t len)
{
    if (s->body.p != body) {
        s->body.len = 0;
        sb_put(&s->body, body, len);
    }
    s->hdrs = hdr(s->hdrs, "Expect:");
    curl_easy_setopt(s->h, CURLOPT_HTTPHEADER, s->hdrs);
    curl_easy_setopt(s->h, CURLOPT_POSTFIELDSIZE, (long)s->body.len);
    curl_easy_setopt(s->h, CURLOPT_POSTFIELDS, s->body.p);
}

static void stripe_header(char *out, size_t cap, const char *secret, const char *body, size_t len)
{
    char pre[32], mac[65];
    long long t = (long long)time(NULL);
    int n = snprintf(pre, sizeof(pre), "%lld.", t);
    hmac_hex(secret, pre, (size_t)n, body, len, mac);
    snprintf(out, cap, "t=%lld,v1=%s", t, mac);
}

/* Fills the slot with delivery d, signed the way its provider signs (at send time for the
 * schemes that sign a timestamp). */
static void prepare_delivery(struct slot *s, const struct cfg *c, const struct sy_delivery *d)
{
    char line[512], mac[65], b64[48], path[128];
    const char *secret = c->secret[d->type] ? c->secret[d->type] : "";
    slot_reset(s);
    s->type = (int)d->type;
    snprintf(path, sizeof(path), "/hooks/%s", c->hook[d->type]);
    switch (d->type) {
    case SY_CLICK: {
        struct sb p = {0};
        sb_printf(&p, "/c?%s", d->body);
        set_url(s, c, p.p);
        sb_free(&p);
        snprintf(line, sizeof(line), "Cookie: jd_aid=%s", d->aid);
        s->hdrs = hdr(s->hdrs, line);
        curl_easy_setopt(s->h, CURLOPT_HTTPHEADER, s->hdrs);
        curl_easy_setopt(s->h, CURLOPT_HTTPGET, 1L);
        return;
    }
    case SY_EVENTS:
        set_url(s, c, "/v1/events");
        snprintf(line, sizeof(line), "Authorization: Bearer %s", c->token);
        s->hdrs = hdr(s->hdrs, line);
        break;
    case SY_FORM:
        set_url(s, c, path);
        hmac_hex(secret, NULL, 0, d->body, d->len, mac);
        snprintf(line, sizeof(line), "X-Journeyd-Signature: sha256=%s", mac);
        s->hdrs = hdr(s->hdrs, line);
        break;
    case SY_STRIPE:
        set_url(s, c, path);
        snprintf(line, sizeof(line), "Stripe-Signature: ");
        stripe_header(line + strlen(line), sizeof(line) - strlen(line), secret, d->body, d->len);
        s->hdrs = hdr(s->hdrs, line);
        break;
    case SY_CALENDLY:
        set_url(s, c, path);
        snprintf(line, sizeof(line), "Calendly-Webhook-Signature: ");
        stripe_header(line + strlen(line), sizeof(line) - strlen(line), secret, d->body, d->len);
        s->hdrs = hdr(s->hdrs, line);
        break;
    case SY_META:
        set_url(s, c, path);
        hmac_hex(secret, NULL, 0, d->body, d->len, mac);
        snprintf(line, sizeof(line), "X-Hub-Signature-256: sha256=%s", mac);
        s->hdrs = hdr(s->hdrs, line);
        break;
    case SY_GOOGLE:
        set_url(s, c, path); /* the key is inside the body */
        break;
    case SY_TYPEFORM:
        set_url(s, c, path);
        hmac_hex(secret, NULL, 0, d->body, d->len, mac);
        hex_to_b64(mac, b64);
        snprintf(line, sizeof(line), "Typeform-Signature: sha256=%s", b64);
        s->hdrs = hdr(s->hdrs, line);
        break;
    case SY_HUBSPOT: {
        char ts[24];
        struct sb pre = {0};
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        snprintf(ts, sizeof(ts), "%lld",
                 (long long)now.tv_sec * 1000 + (long long)(now.tv_nsec / 1000000));
        sb_printf(&pre, "POST%s", c->hubspot_url);
        sb_put(&pre, d->body, d->len);
        hmac_hex(secret, pre.p, pre.len, ts, strlen(ts), mac);
        sb_free(&pre);
        hex_to_b64(mac, b64);
        set_url(s, c, path);
        snprintf(line, sizeof(line), "X-HubSpot-Signature-v3: %s", b64);
        s->hdrs = hdr(s->hdrs, line);
        snprintf(line, sizeof(line), "X-HubSpot-Request-Timestamp: %s", ts);
        s->hdrs = hdr(s->hdrs, line);
        break;
    }
    case SY_SHOPIFY: {
        char t[32];
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%SZ", &tm);
        set_url(s, c, path);
        hmac_hex(secret, NULL, 0, d->body, d->len, mac);
        hex_to_b64(mac, b64);
        snprintf(line, sizeof(line), "X-Shopify-Hmac-Sha256: %s", b64);
        s->hdrs = hdr(s->hdrs, line);
        snprintf(line, sizeof(line), "X-Shopify-Webhook-Id: %s", d->id);
        s->hdrs = hdr(s->hdrs, line);
        snprintf(line, sizeof(line), "X-Shopify-Topic: %s", d->topic);
        s->hdrs = hdr(s->hdrs, line);
        snprintf(line, sizeof(line), "X-Shopify-Triggered-At: %s", t);
        s->hdrs = hdr(s->hdrs, line);
        s->hdrs = hdr(s->hdrs, "X-Shopify-Shop-Domain: acme-demo.myshopify.com");
        break;
    }
    case SY_PIPEDRIVE: {
        char b[300];
        EVP_EncodeBlock((unsigned char *)b, (const unsigned char *)secret, (int)strlen(secret));
        set_url(s, c, path);
        snprintf(line, sizeof(line), "Authorization: Basic %s", b);
        s->hdrs = hdr(s->hdrs, line);
        break;
    }
    case SY_NTYPES:
        break;
    }
    s->hdrs = hdr(s->hdrs, "Content-Type: application/json");
    set_post(s, d->body, d->len);
}

/* ---- the engine: up to `concurrency` transfers on kept-alive connections ---- */

/* Fills the slot with the next request; returns 0 when there is none now (more = 1 if
 * there will be later, as when a rate limit holds it back). */
typedef int (*next_fn)(struct slot *s, void *ud, int *more);

static void record(struct stats *st, struct slot *s, long code, int64_t us, int keep_lat)
{
    st->sent++;
    if (code >= 0 && code < 600)
        st->status[code]++;
    int ok = code == 200 || (s->type == SY_CLICK && code == 302);
    st->ok += ok;
    if (ok && st->ack_log && s->event_id[0]) {
        const char *a = s->body.p ? strstr(s->body.p, "\"amount_total\":") : NULL;
        fprintf(st->ack_log, "%s %ld\n", s->event_id, a ? strtol(a + 15, NULL, 10) : -1L);
    }
    if (s->type >= 0 && s->type < SY_NTYPES) {
        st->type_sent[s->type]++;
        st->type_ok[s->type] += ok;
    }
    if (!keep_lat)
        return;
    if (st->nlat == st->caplat) {
        st->caplat = st->caplat ? st->caplat * 2 : 65536;
        int64_t *v = realloc(st->lat_us, st->caplat * sizeof(*v));
        if (!v) {
            fprintf(stderr, "jdsim: out of memory\n");
            exit(1);
        }
        st->lat_us = v;
    }
    st->lat_us[st->nlat++] = us;
}

static void run_engine(const struct cfg *c, next_fn next, void *ud, struct stats *st, int keep_lat)
{
    int n = c->concurrency;
    struct slot *slots = calloc((size_t)n, sizeof(*slots));
    int *freelist = calloc((size_t)n, sizeof(int));
    CURLM *multi = curl_multi_init();
    if (!slots || !freelist || !multi) {
        fprintf(stderr, "jdsim: out of memory\n");
        exit(1);
    }
    curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)n);
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long)n);
    int nfree = 0;
    for (int i = 0; i < n; i++) {
        slots[i].h = curl_easy_init();
        if (!slots[i].h) {
            fprintf(stderr, "jdsim: curl_easy_init failed\n");
            exit(1);
        }
        curl_easy_setopt(slots[i].h, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(slots[i].h, CURLOPT_PRIVATE, &slots[i]);
        curl_easy_setopt(slots[i].h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(slots[i].h, CURLOPT_TIMEOUT_MS, 30000L);
        curl_easy_setopt(slots[i].h, CURLOPT_TCP_NODELAY, 1L);
        slots[i].type = -1;
        freelist[nfree++] = i;
    }
    int active = 0, more = 1;
    while (more || active) {
        while (more && nfree > 0) {
            struct slot *s = &slots[freelist[nfree - 1]];
            if (!next(s, ud, &more))
                break;
            nfree--;
            s->start_us = now_us();
            curl_multi_add_handle(multi, s->h);
            active++;
        }
        int running = 0;
        curl_multi_perform(multi, &running);
        CURLMsg *msg;
        int q;
        while ((msg = curl_multi_info_read(multi, &q))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            CURL *h = msg->easy_handle;
            CURLcode res = msg->data.result;
            struct slot *s = NULL;
            long code = 0;
            curl_easy_getinfo(h, CURLINFO_PRIVATE, (char **)&s);
            if (res == CURLE_OK)
                curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
            record(st, s, res == CURLE_OK ? code : 0, now_us() - s->start_us, keep_lat);
            curl_multi_remove_handle(multi, h);
            freelist[nfree++] = (int)(s - slots);
            active--;
        }
        if (active > 0 || more)
            curl_multi_poll(multi, NULL, 0, c->rate > 0 || !active ? 1 : 100, NULL);
    }
    for (int i = 0; i < n; i++) {
        curl_easy_cleanup(slots[i].h);
        slot_reset(&slots[i]);
        sb_free(&slots[i].body);
    }
    curl_multi_cleanup(multi);
    free(slots);
    free(freelist);
}

/* ---- month mode ---- */

struct month_it {
    const struct cfg *c;
    struct sy_month *m;
    size_t i;
};

static int next_delivery(struct slot *s, void *ud, int *more)
{
    struct month_it *it = ud;
    if (it->i >= it->m->n) {
        *more = 0;
        return 0;
    }
    prepare_delivery(s, it->c, &it->m->v[it->i++]);
    *more = it->i < it->m->n;
    return 1;
}

/* One synchronous request on a fresh handle; returns the status (0 on transport error)
 * and, when out is given, the body. */
static long simple_request(const struct cfg *c, const char *path, const char *auth,
                           const char *body, struct sb *out)
{
    CURL *h = curl_easy_init();
    struct curl_slist *hdrs = NULL;
    long code = 0;
    char line[256];
    struct sb u = {0};
    if (!h)
        return 0;
    sb_printf(&u, "%s%s", c->url, path);
    curl_easy_setopt(h, CURLOPT_URL, u.p);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
    if (auth) {
        snprintf(line, sizeof(line), "Authorization: Bearer %s", auth);
        hdrs = hdr(hdrs, line);
    }
    if (body) {
        hdrs = hdr(hdrs, "Content-Type: application/json");
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    FILE *mem = NULL;
    char *buf = NULL;
    size_t blen = 0;
    if (out) {
        mem = open_memstream(&buf, &blen);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, mem);
    } else {
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    }
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    if (mem) {
        fclose(mem);
        out->len = 0;
        sb_put(out, buf ? buf : "", buf ? blen : 0);
        free(buf);
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    sb_free(&u);
    return code;
}

/* Which sources the daemon has: an unsigned empty POST answers 404 only for an unknown
 * source name. */
static unsigned probe_types(const struct cfg *c)
{
    unsigned types = SY_BIT(SY_CLICK) | SY_BIT(SY_EVENTS);
    long code = simple_request(c, "/healthz", NULL, NULL, NULL);
    if (code == 0) {
        fprintf(stderr, "jdsim: %s does not answer\n", c->url);
        exit(1);
    }
    code = simple_request(c, "/v1/events", c->token, "{}", NULL);
    if (code == 401)
        fprintf(stderr, "jdsim: the daemon refuses token %s (events will get 401)\n", c->token);
    for (int t = SY_FORM; t < SY_NTYPES; t++) {
        if (t == SY_EVENTS)
            continue;
        char path[128];
        snprintf(path, sizeof(path), "/hooks/%s", c->hook[t]);
        code = simple_request(c, path, NULL, "{}", NULL);
        if (code != 404 && code != 0)
            types |= SY_BIT(t);
    }
    return types;
}

static long json_int_after(const char *s, const char *key)
{
    const char *p = s ? strstr(s, key) : NULL;
    return p ? strtol(p + strlen(key), NULL, 10) : -1;
}

/* Waits (at most `secs`) until the worker has applied everything. */
static int wait_applied(const struct cfg *c, int secs)
{
    struct sb b = {0};
    for (int i = 0; i < secs * 5; i++) {
        long code = simple_request(c, "/v1/status", c->token, NULL, &b);
        if (code == 200 && json_int_after(b.p, "\"length\":") == 0 &&
            json_int_after(b.p, "\"pending\":") == 0) {
            sb_free(&b);
            return 0;
        }
        usleep(200000);
    }
    sb_free(&b);
    return -1;
}

static void print_summary(const struct stats *st, double secs)
{
    printf("sent %ld in %.1f s (%.0f/s): %ld ok (200, or 302 for clicks)", st->sent, secs,
           secs > 0 ? (double)st->sent / secs : 0.0, st->ok);
    printf("\n  200: %ld", st->status[200]);
    if (st->status[302])
        printf(", 302: %ld (clicks)", st->status[302]);
    long other = 0;
    for (int k = 0; k < 600; k++)
        if (k != 200 && k != 302)
            other += st->status[k];
    printf("\n  non-200: %ld", other);
    for (int k = 0; k < 600; k++)
        if (k != 200 && k != 302 && st->status[k])
            printf("%s %d: %ld", k ? "" : "", k, st->status[k]);
    if (st->status[0])
        printf(" (0 = no answer)");
    printf("\n");
}

static int run_month(struct cfg *c)
{
    unsigned types = probe_types(c);
    struct sy_month m = {0};
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    /* The month that ended today (provider times are in the past, as redeliveries are). */
    int64_t now_ms = (int64_t)rt.tv_sec * 1000;
    struct sy_opts o = {
        .seed = c->seed,
        .contacts = c->contacts,
        .heavy = 0,
        .types = types,
        .month_start_ms = now_ms - 31LL * 86400 * 1000,
        .dup_rate = c->dup_rate,
        .google_key = c->secret[SY_GOOGLE],
    };
    if (sy_month_build(&o, &m) != 0)
        return 2;
    sy_month_shuffle(&m, c->seed);
    size_t dups = 0;
    for (size_t i = 0; i < m.n; i++)
        dups += m.v[i].duplicate;
    printf("jdsim: %d contacts, %zu deliveries (%zu provider retries), %" PRId64
           " events, sources:",
           c->contacts, m.n, dups, m.events);
    for (int t = 0; t < SY_NTYPES; t++)
        if (types & SY_BIT(t))
            printf(" %s", sy_type_names[t]);
    printf("\n");
    struct stats st = {0};
    struct month_it it = {c, &m, 0};
    int64_t t0 = now_us();
    run_engine(c, next_delivery, &it, &st, 0);
    double secs = (double)(now_us() - t0) / 1e6;
    print_summary(&st, secs);
    for (int t = 0; t < SY_NTYPES; t++)
        if (st.type_sent[t])
            printf("  %-10s %6ld sent %6ld ok\n", sy_type_names[t], st.type_sent[t], st.type_ok[t]);
    if (c->demo) {
        int got = wait_applied(c, 60);
        int want[3] = {SY_PAYS | SY_REFUND, SY_PAYS, SY_QUALIFIED};
        const char *what[3] = {"paid, then refunded", "paid", "qualified lead, no payment yet"};
        int used = -1;
        printf("\n%s. Three journeys to look at:\n",
               got == 0 ? "All applied" : "Still applying (look again in a moment)");
        for (int k = 0; k < 3; k++) {
            int pick = -1;
            for (int i = 0; i < c->contacts && pick < 0; i++) {
                unsigned p = sy_contact_path(c->seed, i, 0);
                int match = k == 2   ? (p & SY_QUALIFIED) && !(p & SY_PAYS)
                            : k == 1 ? (p & SY_PAYS) && !(p & SY_REFUND)
                                     : (p & want[k]) == (unsigned)want[k];
                if (match && i != used)
                    pick = i;
            }
            if (pick < 0)
                continue;
            used = pick;
            char email[128], enc[160];
            sy_contact_email(c->seed, pick, email, sizeof(email));
            size_t j = 0;
            for (const char *e = email; *e && j + 4 < sizeof(enc); e++) {
                if (*e == '@') {
                    memcpy(enc + j, "%40", 3);
                    j += 3;
                } else {
                    enc[j++] = *e;
                }
            }
            enc[j] = '\0';
            printf("  # %s\n  curl -s -H 'Authorization: Bearer %s' '%s/v1/journey?email=%s'\n",
                   what[k], c->token, c->url, enc);
        }
    }
    sy_month_free(&m);
    return st.sent == st.ok ? 0 : 1;
}

/* ---- load mode ---- */

struct load_it {
    const struct cfg *c;
    uint64_t run, n;
    int64_t start_us, end_us;
};

static int next_load(struct slot *s, void *ud, int *more)
{
    struct load_it *it = ud;
    int64_t now = now_us();
    if (now >= it->end_us) {
        *more = 0;
        return 0;
    }
    *more = 1;
    if (it->c->rate > 0 && (double)it->n >= it->c->rate * (double)(now - it->start_us) / 1e6)
        return 0;
    char line[200];
    slot_reset(s);
    s->type = SY_STRIPE;
    sy_stripe_load_id(it->run, it->n, s->event_id, sizeof(s->event_id));
    sy_stripe_load_body(&s->body, it->run, it->n++, (int64_t)time(NULL));
    set_url(s, it->c, "/hooks/");
    struct sb path = {0};
    sb_printf(&path, "/hooks/%s", it->c->hook[SY_STRIPE]);
    set_url(s, it->c, path.p);
    sb_free(&path);
    snprintf(line, sizeof(line), "Stripe-Signature: ");
    stripe_header(line + strlen(line), sizeof(line) - strlen(line), it->c->secret[SY_STRIPE],
                  s->body.p, s->body.len);
    s->hdrs = hdr(s->hdrs, line);
    s->hdrs = hdr(s->hdrs, "Content-Type: application/json");
    set_post(s, s->body.p, s->body.len);
    return 1;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static double pct_ms(const struct stats *st, double p)
{
    if (!st->nlat)
        return 0;
    size_t k = (size_t)(p * (double)st->nlat + 0.999999);
    if (k < 1)
        k = 1;
    if (k > st->nlat)
        k = st->nlat;
    return (double)st->lat_us[k - 1] / 1000.0;
}

static int run_load(struct cfg *c)
{
    struct stats st = {0};
    if (c->ack_log && !(st.ack_log = fopen(c->ack_log, "w"))) {
        perror(c->ack_log);
        return 1;
    }
    struct load_it it = {.c = c,
                         .run = c->seed ? c->seed : (uint64_t)now_us() ^ (uint64_t)getpid()};
    it.start_us = now_us();
    it.end_us = it.start_us + (int64_t)(c->duration * 1e6);
    run_engine(c, next_load, &it, &st, 1);
    double secs = (double)(now_us() - it.start_us) / 1e6;
    qsort(st.lat_us, st.nlat, sizeof(int64_t), cmp_i64);
    long non = st.sent - st.status[200];
    if (!c->quiet)
        print_summary(&st, secs);
    printf("load sent=%ld ok=%ld non200=%ld seconds=%.2f rps=%.1f p50_ms=%.3f p99_ms=%.3f\n",
           st.sent, st.status[200], non, secs, secs > 0 ? (double)st.sent / secs : 0.0,
           pct_ms(&st, 0.50), pct_ms(&st, 0.99));
    free(st.lat_us);
    if (st.ack_log && fclose(st.ack_log) != 0) {
        perror(c->ack_log);
        return 1;
    }
    return 0;
}

static int emit_wrk(struct cfg *c)
{
    FILE *f = fopen(c->emit_wrk, "w");
    if (!f) {
        perror(c->emit_wrk);
        return 1;
    }
    struct sb b = {0};
    char sig[200];
    uint64_t run = c->seed ? c->seed : (uint64_t)now_us() ^ (uint64_t)getpid();
    int64_t created = (int64_t)time(NULL);
    for (long n = 0; n < c->count; n++) {
        sy_stripe_load_body(&b, run, (uint64_t)n, created);
        stripe_header(sig, sizeof(sig), c->secret[SY_STRIPE], b.p, b.len);
        fprintf(f, "%s\t%s\n", sig, b.p);
    }
    sb_free(&b);
    return fclose(f) == 0 ? 0 : 1;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    socklen_t len = sizeof(a);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        perror("jdsim: free port");
        return 1;
    }
    printf("%d\n", ntohs(a.sin_port));
    close(fd);
    return 0;
}

/* ---- options ---- */

static int type_by_name(const char *s, size_t len)
{
    for (int t = 0; t < SY_NTYPES; t++)
        if (strlen(sy_type_names[t]) == len && strncmp(sy_type_names[t], s, len) == 0)
            return t;
    return -1;
}

/* "a=b,c=d" into per-type values (the strings stay in argv; the commas are cut). */
static int parse_pairs(char *list, struct cfg *c, int secrets)
{
    for (char *p = list, *next; p && *p; p = next) {
        next = strchr(p, ',');
        if (next)
            *next++ = '\0';
        char *eq = strchr(p, '=');
        if (!eq)
            return -1;
        *eq = '\0';
        if (secrets && strcmp(p, "token") == 0) {
            c->token = eq + 1;
            continue;
        }
        int t = type_by_name(p, strlen(p));
        if (t < 0) {
            fprintf(stderr, "jdsim: unknown source type '%s'\n", p);
            return -1;
        }
        if (secrets)
            c->secret[t] = eq + 1;
        else
            c->hook[t] = eq + 1;
    }
    return 0;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: jdsim [--url URL] [--contacts N] [--seed S] [--concurrency C]\n"
            "             [--secrets type=secret,...] [--hooks type=name,...] [--dup-rate R]\n"
            "             [--demo] [--load [--rate R] [--duration S] [--ack-log FILE]]\n"
            "             [--emit-wrk FILE [--count N]]\n"
            "             [--hubspot-url URL] [--free-port] [--quiet]\n");
}

int main(int argc, char **argv)
{
    static char hook_names[SY_NTYPES][32], secret_names[SY_NTYPES][48];
    struct cfg c = {
        .url = "http://127.0.0.1:8080",
        .contacts = 200,
        .concurrency = 16,
        .seed = 1,
        .duration = 10,
        .dup_rate = 0.10,
        .count = 100000,
        .token = "demo-token-local-only",
    };
    int seed_given = 0, contacts_given = 0;
    for (int t = 0; t < SY_NTYPES; t++) {
        snprintf(hook_names[t], sizeof(hook_names[t]), "%s", sy_type_names[t]);
        snprintf(secret_names[t], sizeof(secret_names[t]), "%s_bench_secret", sy_type_names[t]);
        c.hook[t] = hook_names[t];
        c.secret[t] = secret_names[t];
    }
    c.hook[SY_FORM] = "site";
    c.secret[SY_STRIPE] = "whsec_demo_secret";
    c.secret[SY_FORM] = "form_demo_secret";
    c.secret[SY_PIPEDRIVE] = "journeyd:pipedrive_bench_secret";
    static const struct option opts[] = {{"url", required_argument, NULL, 'u'},
                                         {"contacts", required_argument, NULL, 'n'},
                                         {"seed", required_argument, NULL, 's'},
                                         {"concurrency", required_argument, NULL, 'c'},
                                         {"secrets", required_argument, NULL, 'S'},
                                         {"hooks", required_argument, NULL, 'H'},
                                         {"dup-rate", required_argument, NULL, 'D'},
                                         {"demo", no_argument, NULL, 'd'},
                                         {"load", no_argument, NULL, 'l'},
                                         {"rate", required_argument, NULL, 'r'},
                                         {"duration", required_argument, NULL, 't'},
                                         {"emit-wrk", required_argument, NULL, 'w'},
                                         {"count", required_argument, NULL, 'k'},
                                         {"hubspot-url", required_argument, NULL, 'B'},
                                         {"free-port", no_argument, NULL, 'f'},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"ack-log", required_argument, NULL, 'A'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'u':
            c.url = optarg;
            break;
        case 'n':
            c.contacts = (int)strtol(optarg, NULL, 10);
            contacts_given = 1;
            break;
        case 's':
            c.seed = strtoull(optarg, NULL, 10);
            seed_given = 1;
            break;
        case 'c':
            c.concurrency = (int)strtol(optarg, NULL, 10);
            break;
        case 'S':
            if (parse_pairs(optarg, &c, 1) != 0)
                return 2;
            break;
        case 'H':
            if (parse_pairs(optarg, &c, 0) != 0)
                return 2;
            break;
        case 'D':
            c.dup_rate = strtod(optarg, NULL);
            break;
        case 'd':
            c.demo = 1;
            break;
        case 'l':
            c.load = 1;
            break;
        case 'r':
            c.rate = strtod(optarg, NULL);
            break;
        case 't':
            c.duration = strtod(optarg, NULL);
            break;
        case 'w':
            c.emit_wrk = optarg;
            break;
        case 'k':
            c.count = strtol(optarg, NULL, 10);
            break;
        case 'B':
            c.hubspot_url = optarg;
            break;
        case 'f':
            c.free_port = 1;
            break;
        case 'q':
            c.quiet = 1;
            break;
        case 'A':
            c.ack_log = optarg;
            break;
        default:
            usage();
            return 2;
        }
    }
    if (optind != argc || c.concurrency < 1 || c.concurrency > MAX_CONCURRENCY || c.contacts < 0 ||
        c.dup_rate < 0 || c.dup_rate > 1) {
        usage();
        return 2;
    }
    if (c.free_port)
        return free_port();
    if (c.demo && !contacts_given)
        c.contacts = 50;
    if ((c.load || c.emit_wrk) && !seed_given)
        c.seed = 0; /* a fresh run id: event ids never repeat across runs */
    size_t ul = strlen(c.url);
    while (ul > 0 && c.url[ul - 1] == '/')
        ul--;
    static char url[1024];
    snprintf(url, sizeof(url), "%.*s", (int)ul, c.url);
    c.url = url;
    static char hs[1100];
    if (!c.hubspot_url) {
        snprintf(hs, sizeof(hs), "%s/hooks/%s", c.url, c.hook[SY_HUBSPOT]);
        c.hubspot_url = hs;
    }
    if (c.emit_wrk)
        return emit_wrk(&c);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
        return 1;
    int rc = c.load ? run_load(&c) : run_month(&c);
    curl_global_cleanup();
    return rc;
}

/*
 * The dashboard's files and sessions (ui.h). Nothing here blocks: the files are in memory
 * and the sessions are a fixed table searched linearly (UI_MAX_SESSIONS is small).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "common.h"
#include "http.h"
#include "jd.h"
#include "log.h"
#include "ui.h"
#include "util.h"

#define SESSION_ID_BYTES 32
#define SESSION_ID_LEN (2 * SESSION_ID_BYTES)

/* Only this origin: no CDN, no inline script or style, no framing, and requests only to
 * ourselves (DESIGN §7b). Charts are inline SVG elements made by script, which img-src
 * does not govern. */
#define UI_CSP                                                                                     \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "                    \
    "connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; "                  \
    "form-action 'self'; frame-ancestors 'none'"

struct ui_session {
    char id[SESSION_ID_LEN + 1]; /* "" when the slot is free */
    unsigned char token_digest[32];
    int64_t created_ms, expires_ms;
};

struct ui {
    struct ui_session s[UI_MAX_SESSIONS];
};

struct ui *ui_new(void)
{
    return calloc(1, sizeof(struct ui));
}

void ui_free(struct ui *u)
{
    if (u)
        OPENSSL_cleanse(u, sizeof(*u));
    free(u);
}

static int token_digest(const char *token, unsigned char out[32])
{
    unsigned int len = 0;
    return EVP_Digest(token, strlen(token), out, &len, EVP_sha256(), NULL) == 1 && len == 32 ? 0
                                                                                             : -1;
}

/* The index of the configured token whose digest this is, or -1: the tokens are looked at
 * each time, so a reload that removes a token ends its sessions. */
static int token_of_digest(const struct cfg *c, const unsigned char digest[32])
{
    int found = -1;
    for (size_t i = 0; i < c->napi_tokens; i++) {
        unsigned char d[32];
        if (token_digest(c->api_tokens[i], d) == 0 && CRYPTO_memcmp(d, digest, 32) == 0 &&
            found < 0)
            found = (int)i;
    }
    return found;
}

/* The value of cookie `name` in the request's Cookie headers, copied into out (NUL-ended);
 * 0 when found and it fits, -1 otherwise. */
static int cookie_value(struct evhttp_request *req, const char *name, char *out, size_t cap)
{
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    size_t nlen = strlen(name);
    for (struct evkeyval *kv = h->tqh_first; kv; kv = kv->next.tqe_next) {
        if (strcasecmp(kv->key, "Cookie") != 0)
            continue;
        const char *p = kv->value;
        while (*p) {
            while (*p == ' ' || *p == ';')
                p++;
            const char *end = strchr(p, ';');
            size_t len = end ? (size_t)(end - p) : strlen(p);
            if (len > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
                size_t vlen = len - nlen - 1;
                while (vlen > 0 && p[nlen + 1 + vlen - 1] == ' ')
                    vlen--;
                if (vlen + 1 > cap)
                    return -1;
                memcpy(out, p + nlen + 1, vlen);
                out[vlen] = '\0';
                return 0;
            }
            p += len;
        }
    }
    return -1;
}

/* The live session the cookie names, or NULL; expired ones found on the way are freed. */
static struct ui_session *find_session(struct ui *u, struct evhttp_request *req)
{
    char id[SESSION_ID_LEN + 1];
    if (!u || cookie_value(req, UI_COOKIE, id, sizeof id) != 0 || strlen(id) != SESSION_ID_LEN)
        return NULL;
    int64_t now = jd_now_ms();
    struct ui_session *hit = NULL;
    for (size_t i = 0; i < UI_MAX_SESSIONS; i++) {
        struct ui_session *s = &u->s[i];
        if (!s->id[0])
            continue;
        if (s->expires_ms <= now) {
            OPENSSL_cleanse(s, sizeof(*s));
            continue;
        }
        /* Compared in constant time: the id is the credential. */
        if (!hit && CRYPTO_memcmp(s->id, id, SESSION_ID_LEN) == 0)
            hit = s;
    }
    return hit;
}

int ui_session_scope(struct jd *jd, struct evhttp_request *req, enum cfg_scope *scope, int *csrf_ok)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    *csrf_ok = evhttp_find_header(in, UI_CSRF_HEADER) != NULL;
    struct ui_session *s = find_session(jd->ui, req);
    if (!s)
        return 0;
    int i = token_of_digest(jd->cfg, s->token_digest);
    if (i < 0) {
        OPENSSL_cleanse(s, sizeof(*s));
        return 0;
    }
    *scope = jd->cfg->api_token_scopes[i];
    return 1;
}

static const char *scope_name(enum cfg_scope s)
{
    return s == CFG_SCOPE_ADMIN ? "admin" : s == CFG_SCOPE_WRITE ? "write" : "read";
}

/* Secure unless this is the plain-HTTP loopback listener of local use (DESIGN §7b): a
 * browser would not send a Secure cookie back over http://127.0.0.1. A TLS proxy in front
 * of a loopback listener says so with X-Forwarded-Proto, and then the cookie is Secure. */
static int cookie_secure(const struct cfg *c, struct evhttp_request *req)
{
    const char *proto =
        evhttp_find_header(evhttp_request_get_input_headers(req), "X-Forwarded-Proto");
    if (proto && strcasecmp(proto, "https") == 0)
        return 1;
    const char *h = c->listen_host;
    int loopback =
        strncmp(h, "127.", 4) == 0 || strcmp(h, "::1") == 0 || strcmp(h, "localhost") == 0;
    return !loopback;
}

static void set_cookie(struct evhttp_request *req, const struct cfg *c, const char *value,
                       long max_age)
{
    char v[256];
    snprintf(v, sizeof v, "%s=%s; Path=/; Max-Age=%ld; HttpOnly; SameSite=Strict%s", UI_COOKIE,
             value, max_age, cookie_secure(c, req) ? "; Secure" : "");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Set-Cookie", v);
}

static void session_answer(struct evhttp_request *req, enum cfg_scope scope, int64_t expires_ms)
{
    char when[32];
    time_t t = (time_t)(expires_ms / 1000);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        when[0] = '\0';
    cJSON *o = cJSON_CreateObject();
    if (o && (!cJSON_AddStringToObject(o, "scope", scope_name(scope)) ||
              !cJSON_AddStringToObject(o, "expires", when))) {
        cJSON_Delete(o);
        o = NULL;
    }
    http_reply_json(req, 200, o);
}

/* A free slot, else an expired one, else the oldest session (which ends: the table is
 * bounded, and whoever logs in holds a token anyway). */
static struct ui_session *take_slot(struct ui *u)
{
    int64_t now = jd_now_ms();
    struct ui_session *oldest = &u->s[0];
    for (size_t i = 0; i < UI_MAX_SESSIONS; i++) {
        struct ui_session *s = &u->s[i];
        if (!s->id[0] || s->expires_ms <= now)
            return s;
        if (s->created_ms < oldest->created_ms)
            oldest = s;
    }
    return oldest;
}

void ui_handle_login(struct jd *jd, struct evhttp_request *req, const char *rest)
{
    (void)rest;
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    if (!evhttp_find_header(in, UI_CSRF_HEADER)) {
        http_reply_error(req, 403, "csrf", "the dashboard's requests carry " UI_CSRF_HEADER);
        return;
    }
    size_t len = 0;
    const unsigned char *body = http_body(req, &len);
    /* The house parser: depth-checked before cJSON sees it, like every body. */
    cJSON *o = body ? cx_json_parse(body, len, CX_JSON_MAX_DEPTH) : NULL;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "token");
    if (!cJSON_IsString(t) || !t->valuestring[0]) {
        cJSON_Delete(o);
        http_reply_error(req, 400, "bad_request", "send {\"token\": \"<an API token>\"}");
        return;
    }
    const struct cfg *c = jd->cfg;
    const char *token = t->valuestring;
    int found = -1;
    /* Every token compared, no early exit (as cx_bearer_match does). */
    for (size_t i = 0; i < c->napi_tokens; i++)
        if (cx_secret_equal(token, strlen(token), c->api_tokens[i]) && found < 0)
            found = (int)i;
    unsigned char digest[32];
    int ok = found >= 0 && token_digest(token, digest) == 0;
    OPENSSL_cleanse(t->valuestring, strlen(t->valuestring));
    cJSON_Delete(o);
    if (!ok) {
        jlog(JLOG_INFO, "msg=\"dashboard login refused\"");
        http_reply_error(req, 401, "unauthorized", "that is not one of the API tokens");
        return;
    }
    struct ui_session *s = jd->ui ? take_slot(jd->ui) : NULL;
    char id[SESSION_ID_LEN + 1];
    if (!s || jd_random_id("", SESSION_ID_BYTES, id, sizeof id) != 0) {
        http_reply_unavailable(jd, req, "no session");
        return;
    }
    OPENSSL_cleanse(s, sizeof(*s));
    memcpy(s->id, id, sizeof id);
    memcpy(s->token_digest, digest, sizeof digest);
    s->created_ms = jd_now_ms();
    s->expires_ms = s->created_ms + (int64_t)UI_SESSION_LIFETIME_S * 1000;
    set_cookie(req, c, id, UI_SESSION_LIFETIME_S);
    OPENSSL_cleanse(id, sizeof id);
    enum cfg_scope scope = c->api_token_scopes[found];
    jlog(JLOG_NOTICE, "msg=\"dashboard session opened\" scope=%s", scope_name(scope));
    session_answer(req, scope, s->expires_ms);
}

void ui_handle_logout(struct jd *jd, struct evhttp_request *req, const char *rest)
{
    (void)rest;
    enum cfg_scope scope;
    int csrf_ok = 0;
    if (!evhttp_find_header(evhttp_request_get_input_headers(req), UI_CSRF_HEADER)) {
        http_reply_error(req, 403, "csrf", "the dashboard's requests carry " UI_CSRF_HEADER);
        return;
    }
    if (ui_session_scope(jd, req, &scope, &csrf_ok)) {
        struct ui_session *s = find_session(jd->ui, req);
        if (s)
            OPENSSL_cleanse(s, sizeof(*s));
    }
    set_cookie(req, jd->cfg, "", 0);
    http_reply_text(req, 200, "application/json", "{\"status\":\"logged out\"}");
}

void ui_handle_session(struct jd *jd, struct evhttp_request *req, const char *rest)
{
    (void)rest;
    enum cfg_scope scope;
    int csrf_ok = 0;
    /* 200 either way: the page asks on every load, and "not logged in" is no error. */
    if (!ui_session_scope(jd, req, &scope, &csrf_ok)) {
        http_reply_text(req, 200, "application/json", "{\"scope\":null}");
        return;
    }
    struct ui_session *s = find_session(jd->ui, req);
    session_answer(req, scope, s ? s->expires_ms : 0);
}

static const struct ui_asset *find_asset(const char *name)
{
    for (size_t i = 0; i < ui_nassets; i++)
        if (strcmp(ui_assets[i].name, name) == 0)
            return &ui_assets[i];
    return NULL;
}

void ui_send_asset(struct jd *jd, struct evhttp_request *req, const struct ui_asset *a)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    evhttp_add_header(out, "ETag", a->etag);
    const char *inm = evhttp_find_header(evhttp_request_get_input_headers(req), "If-None-Match");
    if (inm && strcmp(inm, a->etag) == 0) {
        http_send(req, 304, NULL);
        return;
    }
    evhttp_add_header(out, "Content-Type", a->type);
    struct evbuffer *b = evbuffer_new();
    /* The file is static for the life of the process: no copy. */
    if (!b || evbuffer_add_reference(b, a->data, a->len, NULL, NULL) != 0) {
        if (b)
            evbuffer_free(b);
        http_reply_unavailable(jd, req, "out of memory");
        return;
    }
    http_send(req, 200, b);
    evbuffer_free(b);
}

void ui_handle_static(struct jd *jd, struct evhttp_request *req, const char *rest)
{
    (void)jd;
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    /* "/ui" alone: the app's relative paths need the slash. */
    if (strcmp(evhttp_request_get_uri(req), "/ui") == 0 ||
        strncmp(evhttp_request_get_uri(req), "/ui?", 4) == 0) {
        evhttp_add_header(out, "Location", "/ui/");
        http_send(req, 301, NULL);
        return;
    }
    /* The app answers every path without a dot, so a pasted deep link loads it. */
    const struct ui_asset *a = find_asset(rest[0] && strchr(rest, '.') ? rest : "index.html");
    if (!a) {
        http_reply_error(req, 404, "not_found", "no such file in the dashboard");
        return;
    }
    evhttp_add_header(out, "Content-Security-Policy", UI_CSP);
    evhttp_add_header(out, "Referrer-Policy", "no-referrer");
    evhttp_add_header(out, "X-Frame-Options", "DENY");
    evhttp_add_header(out, "Cache-Control", "no-cache");
    ui_send_asset(jd, req, a);
}

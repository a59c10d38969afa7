/*
 * The company's own website forms (type "form", DESIGN §2): a JSON object or
 * application/x-www-form-urlencoded, authenticated by an HMAC header, a bearer token or,
 * for browser-posted forms, the Origin/Referer host.
 */
#include "common.h"
#include "registry.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#define FORM_HOST_MAX 256
#define FORM_NAME_MAX 64 /* attribute names longer than this are not form fields */
#define FORM_HASH_HEX 32 /* 128 bits of the body hash: ample for a dedup key */
#define FORM_SUBMISSION_ID_MAX 128
/* An open door's body (auth = origin): a contact form's fields, many times over. */
#define FORM_ORIGIN_BODY_MAX (16 * 1024)

enum form_ctype { FORM_CT_NONE, FORM_CT_JSON, FORM_CT_URLENCODED, FORM_CT_OTHER };

/* The media type before any parameters ("; charset=utf-8"), case-insensitively. */
static enum form_ctype content_type(const char *v)
{
    size_t len;

    if (!v)
        return FORM_CT_NONE;
    while (*v == ' ' || *v == '\t')
        v++;
    len = strcspn(v, "; \t");
    if (len == 16 && strncasecmp(v, "application/json", len) == 0)
        return FORM_CT_JSON;
    if (len == 33 && strncasecmp(v, "application/x-www-form-urlencoded", len) == 0)
        return FORM_CT_URLENCODED;
    return FORM_CT_OTHER;
}

static enum cx_verdict verify_hmac(const struct cx_source *src, const struct cx_input *in,
                                   struct cx_err *err)
{
    return cx_verify_body_mac(src, in, "X-Journeyd-Signature", "sha256=", CX_MAC_HEX, err);
}

/* Host of an http(s) URL (Origin is just scheme://host[:port]), lower-cased. */
static int url_host(const char *url, char *host, size_t cap)
{
    const char *p, *end;
    size_t len, i;

    if (strncasecmp(url, "https://", 8) == 0)
        p = url + 8;
    else if (strncasecmp(url, "http://", 7) == 0)
        p = url + 7;
    else
        return -1;
    end = p + strcspn(p, "/?#");
    /* Userinfo would let "https://allowed.example@evil.example" pass a naive check. */
    if (memchr(p, '@', (size_t)(end - p)))
        return -1;
    if (*p == '[') {
        const char *close = memchr(p, ']', (size_t)(end - p));
        if (!close)
            return -1;
        len = (size_t)(close - p) + 1;
        if (close + 1 != end && close[1] != ':')
            return -1;
    } else {
        const char *colon = memchr(p, ':', (size_t)(end - p));
        len = (size_t)((colon ? colon : end) - p);
    }
    if (len == 0 || len >= cap)
        return -1;
    for (i = 0; i < len; i++) {
        char c = p[i];
        host[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    host[len] = '\0';
    return 0;
}

static int host_allowed(const char *host, const char *allow)
{
    const char *p = allow;
    size_t hl = strlen(host);

    if (!allow)
        return 0;
    while (*p) {
        size_t len = strcspn(p, ",");
        const char *e = p;
        size_t el = len;

        while (el > 0 && (*e == ' ' || *e == '\t')) {
            e++;
            el--;
        }
        while (el > 0 && (e[el - 1] == ' ' || e[el - 1] == '\t'))
            el--;
        if (el == hl && el > 0 && strncasecmp(e, host, el) == 0)
            return 1;
        p += len;
        if (*p == ',')
            p++;
    }
    return 0;
}

static enum cx_verdict verify_origin(const struct cx_source *src, const struct cx_input *in,
                                     struct cx_err *err)
{
    const char *origin = cx_header_get(in->headers, in->nheaders, "Origin");
    char host[FORM_HOST_MAX];

    /* Browsers send "Origin: null" from privacy-sensitive contexts; fall back to the
     * Referer then, as when Origin is absent. */
    if (!origin || strcmp(origin, "null") == 0)
        origin = cx_header_get(in->headers, in->nheaders, "Referer");
    if (!origin || url_host(origin, host, sizeof host) != 0) {
        cx_fail(err, "missing or malformed Origin/Referer");
        return CX_BAD_SIGNATURE;
    }
    if (!host_allowed(host, src->allow_origins)) {
        cx_fail(err, "origin host not allowed");
        return CX_BAD_SIGNATURE;
    }
    return CX_OK;
}

static int form_from_json(struct cx_form *f, const cJSON *root);
static int is_consumed(const char *name);

/* The body as name/value fields, one path for verify and normalize so they cannot
 * disagree on what a body holds. *root keeps a JSON body's tree (the fields borrow
 * nothing from it, but the caller frees it). 0, or -1 with err set. */
static int form_fields(enum form_ctype ct, const unsigned char *body, size_t len, struct cx_form *f,
                       cJSON **root, struct cx_err *err)
{
    memset(f, 0, sizeof *f);
    *root = NULL;
    switch (ct) {
    case FORM_CT_JSON:
        *root = cx_json_parse(body, len, CX_JSON_MAX_DEPTH);
        if (!cJSON_IsObject(*root))
            return cx_fail(err, "form: body is not a JSON object");
        if (form_from_json(f, *root) != 0)
            return cx_fail(err, "form: out of memory");
        return 0;
    case FORM_CT_URLENCODED:
        if (cx_form_parse(f, (const char *)body, len) != 0)
            return cx_fail(err, "form: malformed urlencoded body");
        return 0;
    case FORM_CT_NONE:
    case FORM_CT_OTHER:
        break;
    }
    return cx_fail(err, "form: Content-Type must be application/json or "
                        "application/x-www-form-urlencoded");
}

/* A browser form's submission id: what a page's script mints (a UUID, a counter, a
 * timestamp), nothing an attacker could pad. */
static int submission_id_ok(const char *v)
{
    size_t len = strlen(v);

    return len <= FORM_SUBMISSION_ID_MAX &&
           strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-") == len;
}

/* An open door (auth = origin, DESIGN §2b) enqueues only what normalize takes whole: the
 * body within FORM_ORIGIN_BODY_MAX, every name and value UTF-8, names short enough to be
 * fields, the fields with a meaning (identities, utm values, click ids) short enough to
 * be kept and free of control characters, a submission id of a sane shape, and an event
 * id that fits. Long free-text values (a message) stay allowed: normalize cuts them, and
 * the body cap bounds them. What fails is refused with 400, never redirected to the
 * thank-you page: a visitor must not be thanked for a lead that was dropped, and the
 * site's developer sees the refusal. */
static enum cx_verdict check_open_door(const struct cx_source *src, const struct cx_form *f,
                                       struct cx_err *err)
{
    const char *sid = cx_form_get(f, "submission_id");
    size_t id_len = strlen("form:") + strlen(src->name ? src->name : "") + 1 +
                    (sid && sid[0] ? strlen(sid) : FORM_HASH_HEX);

    for (size_t i = 0; i < f->n; i++) {
        const char *name = f->names[i], *v = f->values[i];
        size_t nl = strlen(name), vl = strlen(v);

        if (!cx_utf8_valid((const unsigned char *)name, nl) ||
            !cx_utf8_valid((const unsigned char *)v, vl)) {
            cx_fail(err, "form: a field is not UTF-8");
            return CX_BAD_REQUEST;
        }
        if (nl > FORM_NAME_MAX) {
            cx_fail(err, "form: a field name is longer than %d bytes", FORM_NAME_MAX);
            return CX_BAD_REQUEST;
        }
        if (is_consumed(name) && vl > 0 &&
            (vl >= (strncmp(name, "utm_", 4) == 0 ? CX_TEXT_MAX : CX_IDENT_VALUE_MAX) ||
             !cx_text_usable(v, vl))) {
            cx_fail(err, "form: field '%s' is too long or not printable", name);
            return CX_BAD_REQUEST;
        }
    }
    if (sid && sid[0] && !submission_id_ok(sid)) {
        cx_fail(err, "form: submission_id must be at most %d of A-Z a-z 0-9 . _ : -",
                FORM_SUBMISSION_ID_MAX);
        return CX_BAD_REQUEST;
    }
    if (id_len >= CX_ID_MAX) {
        cx_fail(err, "form: event id too long");
        return CX_BAD_REQUEST;
    }
    return CX_OK;
}

static enum cx_verdict form_verify(const struct cx_source *src, const struct cx_input *in,
                                   struct cx_reply *reply, struct cx_err *err)
{
    enum cx_verdict v;
    struct cx_form f;
    cJSON *root;

    (void)reply;
    switch (src->auth) {
    case CX_AUTH_HMAC:
        v = verify_hmac(src, in, err);
        break;
    case CX_AUTH_TOKEN:
        v = cx_bearer_matches(in->headers, in->nheaders, src->secrets,
                              src->nsecrets < CX_MAX_SECRETS ? src->nsecrets : CX_MAX_SECRETS)
                ? CX_OK
                : CX_BAD_SIGNATURE;
        if (v != CX_OK)
            cx_fail(err, "missing or wrong bearer token");
        break;
    case CX_AUTH_ORIGIN:
        v = verify_origin(src, in, err);
        if (v == CX_OK && in->body_len > FORM_ORIGIN_BODY_MAX) {
            cx_fail(err, "form: body longer than %d bytes", FORM_ORIGIN_BODY_MAX);
            v = CX_BAD_REQUEST;
        }
        break;
    default:
        cx_fail(err, "form source has no valid auth mode");
        v = CX_BAD_SIGNATURE;
        break;
    }
    if (v != CX_OK)
        return v;
    if (form_fields(content_type(cx_header_get(in->headers, in->nheaders, "Content-Type")),
                    in->body, in->body_len, &f, &root, err) != 0)
        v = CX_BAD_REQUEST;
    else if (src->auth == CX_AUTH_ORIGIN)
        v = check_open_door(src, &f, err);
    cx_form_free(&f);
    cJSON_Delete(root);
    return v;
}

/* ---- normalize ---- */

static char *dup_text(const char *s)
{
    size_t n = strlen(s);
    char *d = malloc(n + 1);

    if (d)
        memcpy(d, s, n + 1);
    return d;
}

/* Flattens a JSON object into the same name/value list urlencoded bodies give, so both
 * formats share one path. Numbers and booleans become their text; nested values and
 * nulls are not form fields. Fields past CX_FORM_MAX_FIELDS are dropped. */
static int form_from_json(struct cx_form *f, const cJSON *root)
{
    const cJSON *it;

    memset(f, 0, sizeof *f);
    cJSON_ArrayForEach(it, root)
    {
        char num[40];
        const char *text = NULL;

        if (f->n >= CX_FORM_MAX_FIELDS)
            break;
        if (!it->string)
            continue;
        if (cJSON_IsString(it) && it->valuestring) {
            text = it->valuestring;
        } else if (cJSON_IsBool(it)) {
            text = cJSON_IsTrue(it) ? "true" : "false";
        } else if (cJSON_IsNumber(it)) {
            double d = it->valuedouble;
            int n;
            /* Integral values print as integers (no "1e+15"); others with enough digits to
             * read back the same double. */
            if (d > -9007199254740992.0 && d < 9007199254740992.0 && (double)(int64_t)d == d)
                n = snprintf(num, sizeof num, "%" PRId64, (int64_t)d);
            else
                n = snprintf(num, sizeof num, "%.17g", d);
            if (n < 0 || (size_t)n >= sizeof num)
                continue;
            text = num;
        } else {
            continue;
        }
        f->names[f->n] = dup_text(it->string);
        f->values[f->n] = dup_text(text);
        if (!f->names[f->n] || !f->values[f->n]) {
            free(f->names[f->n]);
            free(f->values[f->n]);
            f->names[f->n] = f->values[f->n] = NULL;
            return -1;
        }
        f->n++;
    }
    return 0;
}

/* Fields with a meaning of their own; everything else is a lead attribute. */
static const char *const consumed[] = {
    "email",       "phone",    "jd_aid",    "utm_source", "utm_medium",    "utm_campaign",
    "utm_content", "utm_term", "gclid",     "gbraid",     "wbraid",        "fbclid",
    "fbc",         "msclkid",  "li_fat_id", "ttclid",     "submission_id", "submitted_at",
};

static int is_consumed(const char *name)
{
    size_t i;

    for (i = 0; i < sizeof consumed / sizeof consumed[0]; i++)
        if (strcmp(name, consumed[i]) == 0)
            return 1;
    return 0;
}

/* Lead attributes as a JSON object of strings. A field that would push the serialized
 * object past CX_ATTRS_MAX is left out (later, shorter ones may still fit); values are
 * cut at CX_TEXT_MAX on a UTF-8 boundary. */
static int build_attrs(struct cx_event *ev, const struct cx_form *f)
{
    cJSON *o = cJSON_CreateObject();
    char value[CX_TEXT_MAX];
    size_t i;
    int rc = -1;

    if (!o)
        return -1;
    for (i = 0; i < f->n; i++) {
        const char *name = f->names[i], *v = f->values[i];
        size_t nl = strlen(name);
        cJSON *item;
        char *s;

        if (nl == 0 || nl > FORM_NAME_MAX || !v[0] || is_consumed(name) ||
            cJSON_GetObjectItemCaseSensitive(o, name) ||
            !cx_utf8_valid((const unsigned char *)name, nl) ||
            !cx_utf8_valid((const unsigned char *)v, strlen(v)))
            continue;
        cx_copy_text(value, sizeof value, v);
        item = cJSON_AddStringToObject(o, name, value);
        if (!item)
            goto out;
        s = cJSON_PrintUnformatted(o);
        if (!s)
            goto out;
        if (strlen(s) >= sizeof ev->attrs)
            cJSON_Delete(cJSON_DetachItemViaPointer(o, item));
        cJSON_free(s);
    }
    if (o->child && cx_event_put_attrs(ev, o) < 0)
        goto out;
    rc = 0;
out:
    cJSON_Delete(o);
    return rc;
}

static int body_hash_hex(const unsigned char *body, size_t len, char out[FORM_HASH_HEX + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    unsigned int mdlen = 0;

    if (EVP_Digest(len ? body : (const unsigned char *)"", len, md, &mdlen, EVP_sha256(), NULL) !=
            1 ||
        mdlen != CX_SHA256_LEN)
        return -1;
    cx_hex_encode(md, mdlen, hex);
    memcpy(out, hex, FORM_HASH_HEX);
    out[FORM_HASH_HEX] = '\0';
    return 0;
}

static enum cx_result form_normalize(const struct cx_source *src, const struct cx_raw *raw,
                                     const struct cx_fetched *fetched, struct cx_event_list *out,
                                     struct cx_fetch_list *need, struct cx_err *err)
{
    (void)fetched; /* never enriched: the webhook carries everything */
    (void)need;
    enum cx_result rc = CX_NORM_POISON;
    enum form_ctype ct;
    struct cx_form f;
    struct cx_event *ev;
    cJSON *root = NULL;
    const char *v, *sname = src->name ? src->name : "";
    size_t n0 = out->n;
    int n;

    memset(&f, 0, sizeof f);
    ct = content_type(cx_header_get(raw->headers, raw->nheaders, "content-type"));
    if (ct == FORM_CT_NONE) {
        /* Records stored without the header: the body's first byte tells. */
        size_t i = 0;
        while (i < raw->body_len && (raw->body[i] == ' ' || raw->body[i] == '\n' ||
                                     raw->body[i] == '\r' || raw->body[i] == '\t'))
            i++;
        ct = (i < raw->body_len && raw->body[i] == '{') ? FORM_CT_JSON : FORM_CT_URLENCODED;
    }
    if (form_fields(ct, raw->body, raw->body_len, &f, &root, err) != 0)
        goto out;
    ev = cx_list_add(out, src, raw);
    if (!ev) {
        cx_fail(err, "form: out of memory");
        goto out;
    }
    cx_copy_text(ev->kind, sizeof ev->kind, "form");
    v = cx_form_get(&f, "submission_id");
    if (v && v[0]) {
        size_t vl = strlen(v);
        if (vl > FORM_SUBMISSION_ID_MAX || !cx_utf8_valid((const unsigned char *)v, vl)) {
            cx_fail(err, "form: submission_id longer than %d bytes or not UTF-8",
                    FORM_SUBMISSION_ID_MAX);
            goto out;
        }
        n = snprintf(ev->id, sizeof ev->id, "form:%s:%s", sname, v);
    } else {
        char hash[FORM_HASH_HEX + 1];
        /* Without a submission id, a redelivery of the same bytes is the same lead. */
        if (body_hash_hex(raw->body, raw->body_len, hash) != 0) {
            cx_fail(err, "form: hashing failed");
            goto out;
        }
        n = snprintf(ev->id, sizeof ev->id, "form:%s:%s", sname, hash);
    }
    if (n < 0 || (size_t)n >= sizeof ev->id) {
        cx_fail(err, "form: event id too long");
        goto out;
    }
    /* A browser-posted form (auth = origin) is an open door: anyone can send any
     * submitted_at, and a backdated one would rewrite a contact's first_seen and who held
     * an identity first (DESIGN §2b). Its `at` is when it arrived. */
    v = src->auth == CX_AUTH_ORIGIN ? NULL : cx_form_get(&f, "submitted_at");
    if (!v || cx_parse_rfc3339(v, &ev->at_ms) != 0)
        ev->at_ms = raw->received_ms;
    if ((v = cx_form_get(&f, "email")))
        (void)cx_event_add_identity(ev, src, "email", v);
    if ((v = cx_form_get(&f, "phone")))
        (void)cx_event_add_identity(ev, src, "phone", v);
    if ((v = cx_form_get(&f, "jd_aid")))
        (void)cx_event_add_identity(ev, src, "anon", v);
    cx_event_set_touch(ev, src, cx_form_getter, &f);
    if (build_attrs(ev, &f) != 0) {
        cx_fail(err, "form: out of memory");
        goto out;
    }
    rc = CX_NORM_OK;
out:
    if (rc != CX_NORM_OK)
        out->n = n0;
    cx_form_free(&f);
    cJSON_Delete(root);
    return rc;
}

static const char *const form_keep_headers[] = {"content-type", NULL};

const struct cx_connector cx_form = {
    .type = "form",
    .needs = (const char *const[]){"secret", NULL},
    /* A browser-posted form has no shared secret; the Origin check and the redirect
     * replace it. */
    .needs_origin = (const char *const[]){"allow_origins", "thank_you_url", NULL},
    .keep_headers = form_keep_headers,
    .verify = form_verify,
    .normalize = form_normalize,
};

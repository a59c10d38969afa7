/*
 * Shared connector helpers (see common.h for the contracts). Everything here handles
 * untrusted bytes, so every loop is bounded by an explicit length and no helper trusts
 * a NUL terminator it did not write itself.
 */
#include "common.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

/* Largest magnitude a double holds exactly together with all its neighbours: JSON
 * numbers and money are accepted only below it so no value is ever silently rounded. */
#define CX_EXACT_LIMIT 9007199254740992LL /* 2^53 */

int cx_fail(struct cx_err *err, const char *fmt, ...)
{
    va_list ap;

    if (err) {
        va_start(ap, fmt);
        if (vsnprintf(err->msg, sizeof err->msg, fmt, ap) < 0)
            err->msg[0] = '\0';
        va_end(ap);
    }
    return -1;
}

/* ---- ASCII helpers: <ctype.h> depends on the locale, these never do ---- */

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* JSON's own whitespace (RFC 8259 §2), narrower than is_ws. */
static int is_json_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static unsigned char to_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c - 'A' + 'a') : c;
}

static int hex_val(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* ---- HMAC and constant-time compare ---- */

int cx_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t msg_len,
                   const void *msg2, size_t msg2_len, unsigned char out[CX_SHA256_LEN])
{
    struct cx_bytes parts[2] = {{msg, msg_len}, {msg2, msg2_len}};
    return cx_hmac_sha256_parts(key, key_len, parts, 2, out);
}

int cx_hmac_sha256_parts(const void *key, size_t key_len, const struct cx_bytes *parts, size_t n,
                         unsigned char out[CX_SHA256_LEN])
{
    EVP_MAC *mac = NULL;
    EVP_MAC_CTX *ctx = NULL;
    OSSL_PARAM params[2];
    char digest[] = "SHA256";
    size_t outl = 0, i;
    int rc = -1;

    /* An empty secret is a configuration mistake; refusing it means an unset secret can
     * never authenticate anything. */
    if (!key || key_len == 0 || !out || (n && !parts))
        return -1;
    for (i = 0; i < n; i++)
        if (parts[i].len && !parts[i].p)
            return -1;
    mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (!mac)
        goto out;
    ctx = EVP_MAC_CTX_new(mac);
    if (!ctx)
        goto out;
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0);
    params[1] = OSSL_PARAM_construct_end();
    if (EVP_MAC_init(ctx, key, key_len, params) != 1)
        goto out;
    for (i = 0; i < n; i++)
        if (parts[i].len && EVP_MAC_update(ctx, parts[i].p, parts[i].len) != 1)
            goto out;
    if (EVP_MAC_final(ctx, out, &outl, CX_SHA256_LEN) != 1 || outl != CX_SHA256_LEN)
        goto out;
    rc = 0;
out:
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    return rc;
}

int cx_equal_ct(const void *a, size_t alen, const void *b, size_t blen)
{
    if (alen != blen || !a || !b)
        return 0;
    if (alen == 0)
        return 1;
    return CRYPTO_memcmp(a, b, alen) == 0;
}

/* ---- hex and base64 ---- */

int cx_hex_decode(const char *hex, size_t hex_len, unsigned char *out, size_t out_cap)
{
    size_t i;

    if (!hex || (hex_len % 2) != 0 || hex_len / 2 > out_cap || hex_len / 2 > INT32_MAX)
        return -1;
    for (i = 0; i < hex_len; i += 2) {
        int hi = hex_val((unsigned char)hex[i]);
        int lo = hex_val((unsigned char)hex[i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i / 2] = (unsigned char)(hi << 4 | lo);
    }
    return (int)(hex_len / 2);
}

void cx_hex_encode(const unsigned char *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0x0f];
    }
    out[2 * len] = '\0';
}

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int cx_base64_decode(const char *b64, size_t b64_len, unsigned char *out, size_t out_cap)
{
    size_t i, o = 0, pad = 0;

    if (!b64 || (b64_len % 4) != 0 || b64_len / 4 * 3 > (size_t)INT32_MAX)
        return -1;
    if (b64_len >= 1 && b64[b64_len - 1] == '=')
        pad++;
    if (b64_len >= 2 && b64[b64_len - 2] == '=')
        pad++;
    if (b64_len / 4 * 3 - pad > out_cap)
        return -1;
    for (i = 0; i < b64_len; i += 4) {
        int v[4], k, nv = 4;
        int last = (i + 4 == b64_len);

        for (k = 0; k < 4; k++) {
            unsigned char c = (unsigned char)b64[i + k];
            if (c == '=' && last && k >= 4 - (int)pad) {
                v[k] = 0;
                nv--;
                continue;
            }
            v[k] = b64_val(c);
            if (v[k] < 0)
                return -1;
        }
        /* Non-zero bits under the padding would make two encodings decode alike; a
         * canonical decoder refuses them (RFC 4648 §3.5). */
        if (nv == 2 && (v[1] & 0x0f) != 0)
            return -1;
        if (nv == 3 && (v[2] & 0x03) != 0)
            return -1;
        out[o++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
        if (nv > 2)
            out[o++] = (unsigned char)((v[1] & 0x0f) << 4 | v[2] >> 2);
        if (nv > 3)
            out[o++] = (unsigned char)((v[2] & 0x03) << 6 | v[3]);
    }
    return (int)o;
}

void cx_base64_encode(const unsigned char *in, size_t len, char *out)
{
    size_t i, o = 0;

    for (i = 0; i + 2 < len; i += 3) {
        out[o++] = b64_alphabet[in[i] >> 2];
        out[o++] = b64_alphabet[(in[i] & 0x03) << 4 | in[i + 1] >> 4];
        out[o++] = b64_alphabet[(in[i + 1] & 0x0f) << 2 | in[i + 2] >> 6];
        out[o++] = b64_alphabet[in[i + 2] & 0x3f];
    }
    if (len - i == 1) {
        out[o++] = b64_alphabet[in[i] >> 2];
        out[o++] = b64_alphabet[(in[i] & 0x03) << 4];
        out[o++] = '=';
        out[o++] = '=';
    } else if (len - i == 2) {
        out[o++] = b64_alphabet[in[i] >> 2];
        out[o++] = b64_alphabet[(in[i] & 0x03) << 4 | in[i + 1] >> 4];
        out[o++] = b64_alphabet[(in[i + 1] & 0x0f) << 2];
        out[o++] = '=';
    }
    out[o] = '\0';
}

/* ---- headers ---- */

const char *cx_header_get(const struct cx_header *h, size_t n, const char *name)
{
    size_t i;

    if (!h || !name)
        return NULL;
    for (i = 0; i < n; i++)
        if (h[i].name && h[i].value && strcasecmp(h[i].name, name) == 0)
            return h[i].value;
    return NULL;
}

int cx_bearer_match(const struct cx_header *h, size_t n, const char *const *tokens, size_t ntokens)
{
    const char *v = cx_header_get(h, n, "Authorization");
    size_t len, i;
    int found = -1;

    if (!v || !tokens || strncasecmp(v, "Bearer ", 7) != 0)
        return -1;
    v += 7;
    while (*v == ' ' || *v == '\t')
        v++;
    len = strlen(v);
    while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
        len--;
    if (len == 0)
        return -1;
    /* No early exit: the time taken does not tell which configured token matched. And
     * digests, not the tokens, are compared (cx_secret_equal): a compare of the raw bytes
     * stops at a length mismatch, which tells a caller how long the tokens are. */
    for (i = 0; i < ntokens; i++)
        if (cx_secret_equal(v, len, tokens[i]) && found < 0)
            found = (int)i;
    return found;
}

int cx_bearer_matches(const struct cx_header *h, size_t n, const char *const *tokens,
                      size_t ntokens)
{
    return cx_bearer_match(h, n, tokens, ntokens) >= 0;
}

/* ---- application/x-www-form-urlencoded ---- */

/* Decodes one name or value into a new NUL-terminated string; NULL on a bad escape, an
 * escaped or literal NUL (it would silently cut the C string) or no memory. */
static char *form_decode(const char *s, size_t len)
{
    char *out = malloc(len + 1);
    size_t i, o = 0;

    if (!out)
        return NULL;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '+') {
            out[o++] = ' ';
        } else if (c == '%') {
            int hi, lo;
            if (i + 2 >= len)
                goto bad;
            hi = hex_val((unsigned char)s[i + 1]);
            lo = hex_val((unsigned char)s[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                goto bad;
            out[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else if (c == '\0') {
            goto bad;
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
    return out;
bad:
    free(out);
    return NULL;
}

int cx_form_parse(struct cx_form *f, const char *s, size_t len)
{
    const char *p, *end;

    if (!f)
        return -1;
    memset(f, 0, sizeof *f);
    if (len == 0)
        return 0;
    if (!s)
        return -1;
    p = s;
    end = s + len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pe = amp ? amp : end;
        size_t plen = (size_t)(pe - p);

        if (plen > 0) {
            const char *eq = memchr(p, '=', plen);
            size_t nlen = eq ? (size_t)(eq - p) : plen;
            char *name, *value;

            if (nlen > 0) {
                if (f->n >= CX_FORM_MAX_FIELDS)
                    return -1;
                name = form_decode(p, nlen);
                if (!name)
                    return -1;
                value = eq ? form_decode(eq + 1, plen - nlen - 1) : form_decode("", 0);
                if (!value) {
                    free(name);
                    return -1;
                }
                f->names[f->n] = name;
                f->values[f->n] = value;
                f->n++;
            }
        }
        if (!amp)
            break;
        p = amp + 1;
    }
    return 0;
}

const char *cx_form_get(const struct cx_form *f, const char *name)
{
    size_t i;

    if (!f || !name)
        return NULL;
    for (i = 0; i < f->n && i < CX_FORM_MAX_FIELDS; i++)
        if (f->names[i] && strcmp(f->names[i], name) == 0)
            return f->values[i];
    return NULL;
}

void cx_form_free(struct cx_form *f)
{
    size_t i;

    if (!f)
        return;
    for (i = 0; i < f->n && i < CX_FORM_MAX_FIELDS; i++) {
        free(f->names[i]);
        free(f->values[i]);
        f->names[i] = NULL;
        f->values[i] = NULL;
    }
    f->n = 0;
}

const char *cx_form_getter(void *form, const char *name)
{
    return cx_form_get(form, name);
}

/* ---- JSON ---- */

const cJSON *cx_json_obj(const cJSON *o, const char *key)
{
    const cJSON *v;

    if (!cJSON_IsObject(o) || !key)
        return NULL;
    v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsObject(v) ? v : NULL;
}

const cJSON *cx_json_arr(const cJSON *o, const char *key)
{
    const cJSON *v;

    if (!cJSON_IsObject(o) || !key)
        return NULL;
    v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsArray(v) ? v : NULL;
}

const char *cx_json_str(const cJSON *o, const char *key)
{
    const cJSON *v;

    if (!cJSON_IsObject(o) || !key)
        return NULL;
    v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsString(v) || !v->valuestring || !v->valuestring[0])
        return NULL;
    return v->valuestring;
}

int cx_json_int(const cJSON *o, const char *key, int64_t *out)
{
    const cJSON *v;
    double d;
    int64_t i;

    if (!cJSON_IsObject(o) || !key || !out)
        return -1;
    v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v))
        return -1;
    d = v->valuedouble;
    /* Strictly below 2^53: the text 9007199254740993 also parses to 2^53, so 2^53
     * itself could stand for a different number than the sender wrote. NaN fails too. */
    if (!(d > -(double)CX_EXACT_LIMIT && d < (double)CX_EXACT_LIMIT))
        return -1;
    i = (int64_t)d;
    if ((double)i != d)
        return -1;
    *out = i;
    return 0;
}

/* Rejects what cJSON would accept or silently mangle: nesting deeper than the caller
 * allows (cJSON's own limit is a build-time 1000 and it recurses), and raw control
 * bytes inside strings (RFC 8259 forbids them; a raw NUL would cut the value). */
/* "\u0000" at s: cJSON keeps strings NUL-terminated, so an escaped NUL would silently
 * cut an id or an identity ("a@b.c\u0000evil" is "a@b.c"). Both scanners refuse it. */
static int is_nul_escape(const unsigned char *s, size_t left)
{
    return left >= 6 && memcmp(s, "\\u0000", 6) == 0;
}

static int json_prescan(const unsigned char *s, size_t len, int max_depth)
{
    size_t i;
    int depth = 0, in_str = 0;

    for (i = 0; i < len; i++) {
        unsigned char c = s[i];
        if (in_str) {
            if (c == '\\') {
                if (is_nul_escape(s + i, len - i))
                    return -1;
                i++;
            } else if (c == '"')
                in_str = 0;
            else if (c < 0x20)
                return -1;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '[' || c == '{') {
            if (++depth > max_depth)
                return -1;
        } else if (c == ']' || c == '}') {
            depth--;
        }
    }
    return 0;
}

/* Copies a JSON text, putting quotes around integer literals from 2^53 on, which a double
 * cannot hold exactly (cx_json_int refuses them too) (Meta's and Shopify's ids, Google's int64s),
 * so cJSON keeps them as their decimal text. Returns the new length. `out` holds len + len/8 + 2.
 */
static size_t quote_big_integers(const unsigned char *in, size_t len, char *out)
{
    size_t o = 0, i = 0;
    int in_string = 0;
    while (i < len) {
        unsigned char c = in[i];
        if (in_string) {
            out[o++] = (char)c;
            if (c == '\\' && i + 1 < len)
                out[o++] = (char)in[++i];
            else if (c == '"')
                in_string = 0;
            i++;
            continue;
        }
        if (c == '"') {
            in_string = 1;
            out[o++] = (char)c;
            i++;
            continue;
        }
        if (c == '-' || is_digit(c)) {
            size_t j = i + (c == '-');
            while (j < len && is_digit(in[j]))
                j++;
            int integral = j == len || (in[j] != '.' && in[j] != 'e' && in[j] != 'E');
            const unsigned char *digits = in + i + (c == '-');
            size_t ndigits = j - i - (c == '-');
            int inexact =
                ndigits > 16 || (ndigits == 16 && memcmp(digits, "9007199254740992", 16) >= 0);
            /* A fraction or exponent is copied whole: its digits are not a new number
             * ("3e79007199254740993" must not become 3e"7900…"). */
            if (!integral)
                while (j < len && (is_digit(in[j]) || in[j] == '.' || in[j] == 'e' ||
                                   in[j] == 'E' || in[j] == '+' || in[j] == '-'))
                    j++;
            if (integral && inexact) {
                out[o++] = '"';
                memcpy(out + o, in + i, j - i);
                o += j - i;
                out[o++] = '"';
            } else {
                memcpy(out + o, in + i, j - i);
                o += j - i;
            }
            i = j;
            continue;
        }
        out[o++] = (char)c;
        i++;
    }
    out[o] = '\0';
    return o;
}

cJSON *cx_json_parse(const unsigned char *body, size_t len, int max_depth)
{
    char *copy;
    const char *end = NULL;
    cJSON *root;
    size_t used, clen;

    if (!body || len == 0 || max_depth < 1 || len > (size_t)INT32_MAX / 2)
        return NULL;
    if (!cx_utf8_valid(body, len) || json_prescan(body, len, max_depth) != 0)
        return NULL;
    /* A private NUL-terminated copy: the stored body need not be terminated, and no
     * parser bug can then read past our buffer. */
    copy = malloc(len + len / 8 + 2);
    if (!copy)
        return NULL;
    clen = quote_big_integers(body, len, copy);
    root = cJSON_ParseWithLengthOpts(copy, clen, &end, 0);
    if (root) {
        if (!end || end < copy || end > copy + clen) {
            cJSON_Delete(root);
            root = NULL;
        } else {
            for (used = (size_t)(end - copy); used < clen; used++) {
                if (!is_json_ws((unsigned char)copy[used])) {
                    cJSON_Delete(root);
                    root = NULL;
                    break;
                }
            }
        }
    }
    free(copy);
    return root;
}

/* ---- verify-time shape check ----
 *
 * Verify answers 400 to a body that is not JSON of the provider's shape, but parsing it
 * into a cJSON tree there (hundreds of small allocations for a 2 KB Stripe event) was a
 * quarter of ingest's CPU. This walks the RFC 8259 grammar once without allocating and
 * notes the top-level members verify asks about; the worker's full parse follows later.
 * It is at least as strict as cJSON, so what passes here parses there
 * (tests/unit/test_json_check.c checks that against cJSON on random texts). */

struct json_scan {
    const unsigned char *p, *end;
    int depth, max_depth;
};

static void scan_ws(struct json_scan *j)
{
    while (j->p < j->end && is_json_ws(*j->p))
        j->p++;
}

static int is_hex(unsigned char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Four hex digits of a \u escape. */
static int scan_hex4(struct json_scan *j, unsigned *code)
{
    *code = 0;
    for (int k = 0; k < 4; k++, j->p++) {
        if (j->p >= j->end || !is_hex(*j->p))
            return -1;
        unsigned char c = *j->p;
        *code = *code * 16 + (unsigned)(is_digit(c) ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return 0;
}

/* From just after the opening quote to just after the closing one; *escaped tells whether
 * the raw text differs from the value. */
static int scan_string(struct json_scan *j, int *escaped)
{
    *escaped = 0;
    while (j->p < j->end) {
        unsigned char c = *j->p++;
        if (c == '"')
            return 0;
        if (c < 0x20)
            return -1;
        if (c != '\\')
            continue;
        if (j->p >= j->end)
            return -1;
        *escaped = 1;
        c = *j->p++;
        if (c == 'u') {
            unsigned code;
            if (scan_hex4(j, &code) != 0 || code == 0) /* see is_nul_escape */
                return -1;
            /* As cJSON: a high surrogate needs a low one right after, a low one alone is
             * refused (found by tests/fuzz/fuzz_json.c). */
            if (code >= 0xDC00 && code <= 0xDFFF)
                return -1;
            if (code >= 0xD800 && code <= 0xDBFF) {
                if (j->end - j->p < 2 || j->p[0] != '\\' || j->p[1] != 'u')
                    return -1;
                j->p += 2;
                if (scan_hex4(j, &code) != 0 || code < 0xDC00 || code > 0xDFFF)
                    return -1;
            }
        } else if (c != '"' && c != '\\' && c != '/' && c != 'b' && c != 'f' && c != 'n' &&
                   c != 'r' && c != 't') {
            return -1;
        }
    }
    return -1;
}

static int scan_digits(struct json_scan *j)
{
    const unsigned char *start = j->p;
    while (j->p < j->end && is_digit(*j->p))
        j->p++;
    return j->p > start ? 0 : -1;
}

static int scan_number(struct json_scan *j)
{
    if (*j->p == '-')
        j->p++;
    if (j->p < j->end && *j->p == '0')
        j->p++;
    else if (scan_digits(j) != 0)
        return -1;
    if (j->p < j->end && *j->p == '.') {
        j->p++;
        if (scan_digits(j) != 0)
            return -1;
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
            j->p++;
        if (scan_digits(j) != 0)
            return -1;
    }
    return 0;
}

static int scan_literal(struct json_scan *j, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n) != 0)
        return -1;
    j->p += n;
    return 0;
}

static int scan_value(struct json_scan *j, struct cx_json_top *top);

/* A member of the top-level object: the first one of each asked-for name counts, as
 * cJSON_GetObjectItem finds the first. */
static void note_member(struct cx_json_top *top, const unsigned char *key, size_t klen,
                        const unsigned char *value, size_t vlen)
{
    for (size_t i = 0; i < top->nkeys && i < CX_JSON_TOP_KEYS; i++) {
        struct cx_json_member *m = &top->found[i];
        if (m->kind || strlen(top->keys[i]) != klen || memcmp(top->keys[i], key, klen) != 0)
            continue;
        m->value = value;
        m->len = vlen;
        if (value[0] == '"') {
            m->value++;
            m->len -= 2;
            /* Non-empty as cx_json_str counts it. */
            m->kind = m->len > 0 ? 's' : 'e';
            m->escaped = memchr(m->value, '\\', m->len) != NULL;
        } else {
            m->kind = (char)value[0];
        }
    }
}

static int scan_container(struct json_scan *j, unsigned char close, struct cx_json_top *top)
{
    if (++j->depth > j->max_depth)
        return -1;
    j->p++;
    scan_ws(j);
    if (j->p < j->end && *j->p == close) {
        j->p++;
        j->depth--;
        return 0;
    }
    for (;;) {
        const unsigned char *key = NULL, *value;
        size_t klen = 0;
        int escaped = 0;
        if (close == '}') {
            if (j->p >= j->end || *j->p != '"')
                return -1;
            key = ++j->p;
            if (scan_string(j, &escaped) != 0)
                return -1;
            klen = (size_t)(j->p - key) - 1;
            if (top && escaped)
                top->escaped_name = 1;
            scan_ws(j);
            if (j->p >= j->end || *j->p != ':')
                return -1;
            j->p++;
        }
        scan_ws(j);
        value = j->p;
        if (scan_value(j, NULL) != 0)
            return -1;
        /* An escaped name is left unmatched: verify then refuses what it cannot read. */
        if (top && key && !escaped)
            note_member(top, key, klen, value, (size_t)(j->p - value));
        scan_ws(j);
        if (j->p >= j->end)
            return -1;
        if (*j->p == close) {
            j->p++;
            j->depth--;
            return 0;
        }
        if (*j->p++ != ',')
            return -1;
        scan_ws(j);
    }
}

static int scan_value(struct json_scan *j, struct cx_json_top *top)
{
    int escaped;

    if (j->p >= j->end)
        return -1;
    switch (*j->p) {
    case '{':
        return scan_container(j, '}', top);
    case '[':
        return scan_container(j, ']', NULL);
    case '"':
        j->p++;
        return scan_string(j, &escaped);
    case 't':
        return scan_literal(j, "true");
    case 'f':
        return scan_literal(j, "false");
    case 'n':
        return scan_literal(j, "null");
    default:
        return *j->p == '-' || is_digit(*j->p) ? scan_number(j) : -1;
    }
}

int cx_json_check(const unsigned char *body, size_t len, int max_depth, struct cx_json_top *top)
{
    struct json_scan j = {body, body + len, 0, max_depth};

    if (top) {
        top->type = 0;
        top->escaped_name = 0;
        memset(top->found, 0, sizeof top->found);
    }
    if (!body || len == 0 || max_depth < 1 || !cx_utf8_valid(body, len))
        return -1;
    scan_ws(&j);
    if (top && j.p < j.end)
        top->type = (char)*j.p;
    if (scan_value(&j, top) != 0)
        return -1;
    scan_ws(&j);
    return j.p == j.end ? 0 : -1;
}

int cx_json_id(const cJSON *o, const char *key, char *out, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    int64_t n;
    if (cJSON_IsString(v) && v->valuestring[0]) {
        if (strlen(v->valuestring) >= cap)
            return -1;
        memcpy(out, v->valuestring, strlen(v->valuestring) + 1);
        return 0;
    }
    if (cx_json_int(o, key, &n) != 0)
        return -1;
    return snprintf(out, cap, "%lld", (long long)n) < (int)cap ? 0 : -1;
}

/* "<provider stage>:<journeyd stage>, …" (the `stages` key). Whitespace around items is
 * ignored; the first matching provider stage wins. */
int cx_stage_map_lookup(const char *map, const char *provider_stage, char *out, size_t cap)
{
    size_t plen = strlen(provider_stage);
    for (const char *p = map; p && *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *end = strchr(p, ',');
        size_t item = end ? (size_t)(end - p) : strlen(p);
        const char *colon = memchr(p, ':', item);
        if (colon) {
            size_t klen = (size_t)(colon - p);
            while (klen > 0 && (p[klen - 1] == ' ' || p[klen - 1] == '\t'))
                klen--;
            const char *v = colon + 1;
            size_t vlen = item - (size_t)(v - p);
            while (vlen > 0 && (*v == ' ' || *v == '\t')) {
                v++;
                vlen--;
            }
            while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
                vlen--;
            if (klen == plen && memcmp(p, provider_stage, plen) == 0 && vlen > 0 && vlen < cap) {
                memcpy(out, v, vlen);
                out[vlen] = '\0';
                return 0;
            }
        }
        p = end;
    }
    return -1;
}

const char *cx_json_getter(void *obj, const char *name)
{
    return cx_json_str(obj, name);
}

/* ---- UTF-8 and text ---- */

int cx_utf8_valid(const unsigned char *s, size_t len)
{
    size_t i = 0;

    if (!s)
        return len == 0;
    while (i < len) {
        unsigned char c = s[i];
        size_t n, k;
        uint32_t cp, min;

        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
            min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2;
            cp = c & 0x0f;
            min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
            min = 0x10000;
        } else {
            return 0;
        }
        if (len - i - 1 < n)
            return 0;
        for (k = 1; k <= n; k++) {
            unsigned char b = s[i + k];
            if ((b & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (b & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += n + 1;
    }
    return 1;
}

void cx_copy_text(char *dst, size_t cap, const char *src)
{
    size_t n;

    if (!dst || cap == 0)
        return;
    if (!src) {
        dst[0] = '\0';
        return;
    }
    n = strnlen(src, cap);
    if (n == cap) {
        n = cap - 1;
        /* src[n] is the first byte left out; if it continues a sequence, that whole
         * sequence goes. */
        while (n > 0 && ((unsigned char)src[n] & 0xc0) == 0x80)
            n--;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* ---- identities ---- */

int cx_norm_email(const char *in, char *out, size_t cap)
{
    size_t start = 0, end, len, i, at_pos = 0, nat = 0;

    if (!in || !out || cap == 0)
        return -1;
    end = strnlen(in, 4096);
    if (end == 4096)
        return -1;
    while (start < end && is_ws((unsigned char)in[start]))
        start++;
    while (end > start && is_ws((unsigned char)in[end - 1]))
        end--;
    len = end - start;
    /* 254: the longest address that fits a SMTP forward path (RFC 5321 errata 1690). */
    if (len == 0 || len > 254 || len + 1 > cap)
        return -1;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[start + i];
        if (c <= 0x20 || c == 0x7f)
            return -1;
        if (c == '@') {
            nat++;
            at_pos = i;
        }
    }
    if (nat != 1 || at_pos == 0 || at_pos == len - 1)
        return -1;
    if (!cx_utf8_valid((const unsigned char *)in + start, len))
        return -1;
    for (i = 0; i < len; i++)
        out[i] = (char)to_lower((unsigned char)in[start + i]);
    out[len] = '\0';
    return 0;
}

/* Country codes whose national numbers keep their leading 0 after the code (the trunk
 * prefix is part of the number): Italy, San Marino, Vatican, Côte d'Ivoire, Rep. Congo. */
static const char *const keep_zero_cc[] = {"39", "378", "379", "225", "242"};

int cx_norm_phone(const char *in, const char *default_cc, char *out, size_t cap)
{
    char digits[32];
    size_t nd = 0, i, len, cclen = 0, o = 0;
    int plus = 0, seen_digit = 0, keep_zero = 0;
    const char *body;

    if (!in || !out || cap == 0)
        return -1;
    len = strnlen(in, 256);
    if (len == 256)
        return -1;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '(' && i + 2 < len && in[i + 1] == '0' && in[i + 2] == ')') {
            i += 2; /* "(0)" marks the trunk 0 that is dialled only nationally */
            continue;
        }
        if (is_digit(c)) {
            if (nd >= sizeof digits - 1)
                return -1;
            digits[nd++] = (char)c;
            seen_digit = 1;
        } else if (c == '+') {
            if (seen_digit || plus)
                return -1;
            plus = 1;
        } else if (c != ' ' && c != '\t' && c != '-' && c != '.' && c != '/' && c != '(' &&
                   c != ')') {
            return -1;
        }
    }
    digits[nd] = '\0';
    body = digits;
    if (plus) {
        /* international as written */
    } else if (nd >= 2 && digits[0] == '0' && digits[1] == '0') {
        body += 2;
        nd -= 2;
    } else {
        if (!default_cc || !default_cc[0])
            return -1;
        cclen = strnlen(default_cc, 4);
        if (cclen > 3)
            return -1;
        for (i = 0; i < cclen; i++)
            if (!is_digit((unsigned char)default_cc[i]))
                return -1;
        for (i = 0; i < sizeof keep_zero_cc / sizeof keep_zero_cc[0]; i++)
            if (strcmp(default_cc, keep_zero_cc[i]) == 0)
                keep_zero = 1;
        if (!keep_zero && nd > 0 && body[0] == '0') {
            body++;
            nd--;
        }
    }
    if (cclen + nd < 6 || cclen + nd > 15 || cclen + nd + 2 > cap)
        return -1;
    out[o++] = '+';
    memcpy(out + o, default_cc ? default_cc : "", cclen);
    o += cclen;
    memcpy(out + o, body, nd);
    o += nd;
    out[o] = '\0';
    return 0;
}

/* ---- time ---- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    int64_t era, doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return (m == 2 && is_leap(y)) ? 29 : dim[m - 1];
}

/* Reads exactly n digits; stops at the first non-digit (so never past a NUL). */
static int fixed_digits(const char *s, int n, int *out)
{
    int i, v = 0;

    for (i = 0; i < n; i++) {
        if (!is_digit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int cx_parse_rfc3339(const char *s, int64_t *ms_out)
{
    int y, mo, d, h, mi, sec, frac = 0, oh = 0, om = 0, sign = 0, nfrac = 0;
    const char *p;
    int64_t ms;

    if (!s || !ms_out)
        return -1;
    if (fixed_digits(s, 4, &y) || s[4] != '-' || fixed_digits(s + 5, 2, &mo) || s[7] != '-' ||
        fixed_digits(s + 8, 2, &d))
        return -1;
    /* RFC 3339 §5.6 note: 't' and a space are accepted for 'T' by agreement. */
    if (s[10] != 'T' && s[10] != 't' && s[10] != ' ')
        return -1;
    if (fixed_digits(s + 11, 2, &h) || s[13] != ':' || fixed_digits(s + 14, 2, &mi) ||
        s[16] != ':' || fixed_digits(s + 17, 2, &sec))
        return -1;
    p = s + 19;
    if (*p == '.') {
        p++;
        while (is_digit((unsigned char)*p)) {
            if (nfrac < 3)
                frac = frac * 10 + (*p - '0');
            nfrac++;
            p++;
        }
        if (nfrac == 0)
            return -1;
        for (; nfrac < 3; nfrac++)
            frac *= 10;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p == '+' ? 1 : -1;
        if (fixed_digits(p + 1, 2, &oh) || p[3] != ':' || fixed_digits(p + 4, 2, &om))
            return -1;
        if (oh > 23 || om > 59)
            return -1;
        p += 6;
    } else {
        return -1;
    }
    if (*p != '\0')
        return -1;
    /* A leap second (":60") is refused rather than folded into the next one: providers
     * never send it, and folding would reorder events at the minute boundary. */
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 59)
        return -1;
    ms = days_from_civil(y, mo, d);
    ms = ((ms * 24 + h) * 60 + mi) * 60 + sec;
    ms = ms * 1000 + frac;
    ms -= (int64_t)sign * ((int64_t)oh * 60 + om) * 60000;
    *ms_out = ms;
    return 0;
}

/* 0000-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z: the range RFC 3339 can write. */
#define CX_MIN_MS (-62167219200000LL)
#define CX_MAX_MS (253402300799999LL)

void cx_format_rfc3339(int64_t ms, char out[32])
{
    int64_t days, rem, y;
    int m, d, hh, mi, ss, frac, n;

    if (ms < CX_MIN_MS)
        ms = CX_MIN_MS;
    if (ms > CX_MAX_MS)
        ms = CX_MAX_MS;
    days = ms / 86400000;
    rem = ms % 86400000;
    if (rem < 0) {
        rem += 86400000;
        days--;
    }
    civil_from_days(days, &y, &m, &d);
    hh = (int)(rem / 3600000);
    mi = (int)(rem / 60000 % 60);
    ss = (int)(rem / 1000 % 60);
    frac = (int)(rem % 1000);
    if (frac)
        n = snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", (int)y, m, d, hh, mi, ss,
                     frac);
    else
        n = snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02dZ", (int)y, m, d, hh, mi, ss);
    if (n < 0 || n >= 32)
        out[0] = '\0';
}

/* ---- money ---- */

int cx_parse_decimal_minor(const char *s, int exponent, int64_t *out)
{
    const int64_t limit = CX_EXACT_LIMIT - 1;
    int64_t v = 0;
    int neg = 0, nint = 0, nfrac = 0, kept = 0;

    if (!s || !out || exponent < 0 || exponent > 4)
        return -1;
    if (*s == '-') {
        neg = 1;
        s++;
    }
    for (; is_digit((unsigned char)*s); s++, nint++) {
        if (v > (limit - (*s - '0')) / 10)
            return -1;
        v = v * 10 + (*s - '0');
    }
    if (nint == 0)
        return -1;
    if (*s == '.') {
        for (s++; is_digit((unsigned char)*s); s++, nfrac++) {
            if (kept < exponent) {
                if (v > (limit - (*s - '0')) / 10)
                    return -1;
                v = v * 10 + (*s - '0');
                kept++;
            } else if (*s != '0') {
                return -1; /* more precision than the currency has: not representable */
            }
        }
        if (nfrac == 0)
            return -1;
    }
    if (*s != '\0')
        return -1;
    for (; kept < exponent; kept++) {
        if (v > limit / 10)
            return -1;
        v *= 10;
    }
    *out = neg ? -v : v;
    return 0;
}

int cx_currency_exponent(const char *cur)
{
    /* ISO 4217 minor units that differ from 2 (list of 2024). */
    static const struct {
        char code[4];
        int exp;
    } table[] = {
        {"BIF", 0}, {"CLP", 0}, {"DJF", 0}, {"GNF", 0}, {"ISK", 0}, {"JPY", 0}, {"KMF", 0},
        {"KRW", 0}, {"PYG", 0}, {"RWF", 0}, {"UGX", 0}, {"UYI", 0}, {"VND", 0}, {"VUV", 0},
        {"XAF", 0}, {"XOF", 0}, {"XPF", 0}, {"BHD", 3}, {"IQD", 3}, {"JOD", 3}, {"KWD", 3},
        {"LYD", 3}, {"OMR", 3}, {"TND", 3}, {"CLF", 4}, {"UYW", 4},
    };
    char norm[4];
    size_t i;

    if (cx_norm_currency(cur, norm) != 0)
        return 2;
    for (i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(table[i].code, norm) == 0)
            return table[i].exp;
    return 2;
}

int cx_norm_currency(const char *in, char out[4])
{
    int i;

    if (!in || !out)
        return -1;
    for (i = 0; i < 3; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c >= 'a' && c <= 'z')
            c = (unsigned char)(c - 'a' + 'A');
        if (c < 'A' || c > 'Z')
            return -1;
        out[i] = (char)c;
    }
    if (in[3] != '\0')
        return -1;
    out[3] = '\0';
    return 0;
}

/* ---- added for meta/google/typeform/calendly ---- */

int cx_parse_iso8601(const char *s, int64_t *ms_out)
{
    char buf[64];
    size_t len, tail;

    if (!s || !ms_out)
        return -1;
    len = strnlen(s, sizeof buf);
    if (len >= sizeof buf - 3)
        return -1;
    /* Only the offset may differ from RFC 3339; it sits after "YYYY-MM-DDTHH:MM:SS" and
     * any fraction, so look at the last 5 or 3 bytes. */
    if (len >= 24 && (s[len - 5] == '+' || s[len - 5] == '-') &&
        is_digit((unsigned char)s[len - 4]) && is_digit((unsigned char)s[len - 3]) &&
        is_digit((unsigned char)s[len - 2]) && is_digit((unsigned char)s[len - 1])) {
        tail = len - 5;
        memcpy(buf, s, tail + 3);
        buf[tail + 3] = ':';
        memcpy(buf + tail + 4, s + tail + 3, 2);
        buf[tail + 6] = '\0';
        return cx_parse_rfc3339(buf, ms_out);
    }
    if (len >= 22 && (s[len - 3] == '+' || s[len - 3] == '-') &&
        is_digit((unsigned char)s[len - 2]) && is_digit((unsigned char)s[len - 1])) {
        memcpy(buf, s, len);
        memcpy(buf + len, ":00", 4);
        return cx_parse_rfc3339(buf, ms_out);
    }
    return cx_parse_rfc3339(s, ms_out);
}

/* Attribute names are keys a person will read and query: short single-line text. */
#define CX_ATTR_NAME_MAX 128

/* Length of a string as cJSON prints it: quotes, two-byte escapes for '"', '\\' and
 * \b \f \n \r \t, \u00XX for the other control bytes, everything else verbatim. */
static size_t json_str_len(const char *s)
{
    size_t n = 2;

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t')
            n += 2;
        else if (c < 0x20)
            n += 6;
        else
            n++;
    }
    return n;
}

int cx_attrs_init(struct cx_attrs *a)
{
    if (!a)
        return -1;
    a->obj = cJSON_CreateObject();
    a->len = 2;
    return a->obj ? 0 : -1;
}

int cx_attrs_put(struct cx_attrs *a, const char *name, const char *value)
{
    char v[CX_TEXT_MAX];
    size_t nl, i, add;

    if (!a || !a->obj || !name || !value || !value[0])
        return 1;
    nl = strnlen(name, CX_ATTR_NAME_MAX + 1);
    if (nl == 0 || nl > CX_ATTR_NAME_MAX || !cx_utf8_valid((const unsigned char *)name, nl))
        return 1;
    for (i = 0; i < nl; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            return 1;
    if (!cx_utf8_valid((const unsigned char *)value, strlen(value)))
        return 1;
    if (cJSON_GetObjectItemCaseSensitive(a->obj, name))
        return 1;
    cx_copy_text(v, sizeof v, value);
    add = json_str_len(name) + 1 + json_str_len(v) + (a->obj->child ? 1 : 0);
    /* Left out rather than cut: a later, shorter pair may still fit. */
    if (a->len + add >= CX_ATTRS_MAX)
        return 1;
    if (!cJSON_AddStringToObject(a->obj, name, v))
        return -1;
    a->len += add;
    return 0;
}

int cx_attrs_store(const struct cx_attrs *a, struct cx_event *ev)
{
    if (!a || !a->obj || !ev)
        return -1;
    ev->attrs[0] = '\0';
    if (!a->obj->child)
        return 0;
    /* The running length is exact, so "too long" only comes of a bug in that count. */
    return cx_event_put_attrs(ev, a->obj) == 0 ? 0 : -1;
}

void cx_attrs_free(struct cx_attrs *a)
{
    if (!a)
        return;
    cJSON_Delete(a->obj);
    a->obj = NULL;
    a->len = 0;
}

int cx_all_digits(const char *s)
{
    if (!s || !*s)
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

int cx_event_put_attrs(struct cx_event *ev, const cJSON *o)
{
    char *s = cJSON_PrintUnformatted(o);
    if (!s)
        return -1;
    size_t n = strlen(s);
    int rc = n < sizeof ev->attrs ? 0 : 1;
    if (rc == 0)
        memcpy(ev->attrs, s, n + 1);
    cJSON_free(s);
    return rc;
}

int cx_event_set_id(struct cx_event *ev, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(ev->id, sizeof ev->id, fmt, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= sizeof ev->id ? -1 : 0;
}

enum cx_result cx_norm_end(enum cx_result rc, struct cx_event_list *out, size_t n0,
                           struct cx_attrs *attrs, cJSON *root)
{
    if (rc != CX_NORM_OK)
        out->n = n0;
    cx_attrs_free(attrs);
    cJSON_Delete(root);
    return rc;
}

int cx_secret_equal(const void *given, size_t given_len, const char *secret)
{
    unsigned char a[EVP_MAX_MD_SIZE], b[EVP_MAX_MD_SIZE];
    unsigned int alen = 0, blen = 0;
    int eq;

    if (!given || given_len == 0 || !secret || !secret[0])
        return 0;
    if (EVP_Digest(given, given_len, a, &alen, EVP_sha256(), NULL) != 1 ||
        EVP_Digest(secret, strlen(secret), b, &blen, EVP_sha256(), NULL) != 1 ||
        alen != CX_SHA256_LEN || blen != CX_SHA256_LEN)
        return 0;
    eq = CRYPTO_memcmp(a, b, CX_SHA256_LEN) == 0;
    OPENSSL_cleanse(b, sizeof b);
    return eq;
}

/* ---- signatures shared by several providers ---- */

int cx_decode_mac(const char *value, const char *prefix, enum cx_mac_encoding enc,
                  unsigned char out[CX_SHA256_LEN])
{
    size_t plen = prefix ? strlen(prefix) : 0;
    if (!value || (plen && strncasecmp(value, prefix, plen) != 0))
        return -1;
    value += plen;
    int n = enc == CX_MAC_HEX ? cx_hex_decode(value, strlen(value), out, CX_SHA256_LEN)
                              : cx_base64_decode(value, strlen(value), out, CX_SHA256_LEN);
    return n == CX_SHA256_LEN ? 0 : -1;
}

int cx_any_secret_mac(const struct cx_source *src, const void *msg, size_t len, const void *msg2,
                      size_t len2, const unsigned char (*want)[CX_SHA256_LEN], size_t nwant)
{
    unsigned char mac[CX_SHA256_LEN];
    int match = 0;
    for (size_t i = 0; i < src->nsecrets && i < CX_MAX_SECRETS; i++) {
        const char *secret = src->secrets[i];
        if (!secret || !secret[0])
            continue;
        if (cx_hmac_sha256(secret, strlen(secret), msg, len, msg2, len2, mac) != 0) {
            OPENSSL_cleanse(mac, sizeof mac);
            return -1;
        }
        /* Every secret and every candidate is compared: the time taken does not tell
         * which one matched. */
        for (size_t j = 0; j < nwant; j++)
            match |= CRYPTO_memcmp(mac, want[j], CX_SHA256_LEN) == 0;
    }
    OPENSSL_cleanse(mac, sizeof mac);
    return match;
}

enum cx_verdict cx_verify_body_mac(const struct cx_source *src, const struct cx_input *in,
                                   const char *header, const char *prefix, enum cx_mac_encoding enc,
                                   struct cx_err *err)
{
    unsigned char want[1][CX_SHA256_LEN];
    const char *value = cx_header_get(in->headers, in->nheaders, header);
    if (cx_decode_mac(value, prefix, enc, want[0]) != 0) {
        cx_fail(err, "missing or malformed %s", header);
        return CX_BAD_SIGNATURE;
    }
    int match = cx_any_secret_mac(src, in->body, in->body_len, NULL, 0, want, 1);
    if (match < 0) {
        cx_fail(err, "HMAC computation failed");
        return CX_BAD_SIGNATURE;
    }
    if (!match) {
        cx_fail(err, "%s does not match", header);
        return CX_BAD_SIGNATURE;
    }
    return CX_OK;
}

/* Seconds since the epoch: digits only, no sign; 15 digits last until year 31 million,
 * longer is garbage. */
static int parse_unix_seconds(const char *s, size_t len, int64_t *out)
{
    int64_t v = 0;
    if (len == 0 || len > 15)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (!is_digit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

#define CX_MAX_V1 8

enum cx_verdict cx_verify_timestamped(const struct cx_source *src, const struct cx_input *in,
                                      const char *header, int64_t default_tolerance_s,
                                      struct cx_err *err)
{
    unsigned char v1[CX_MAX_V1][CX_SHA256_LEN];
    size_t nv1 = 0;
    int64_t t = 0;
    int have_t = 0;
    const char *hdr = cx_header_get(in->headers, in->nheaders, header);
    if (!hdr) {
        cx_fail(err, "missing %s header", header);
        return CX_BAD_SIGNATURE;
    }
    /* Elements split on ',' then on the first '='; unknown schemes (v0 among them: a
     * downgrade) are ignored, and so is an undecodable v1 (stripe-go). */
    for (const char *p = hdr;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        while (len > 0 && (*p == ' ' || *p == '\t')) {
            p++;
            len--;
        }
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        const char *eq = memchr(p, '=', len);
        if (eq) {
            size_t klen = (size_t)(eq - p), vlen = len - klen - 1;
            if (klen == 1 && p[0] == 't') {
                int64_t tv;
                /* Two different timestamps leave no single signed payload. */
                if (parse_unix_seconds(eq + 1, vlen, &tv) != 0 || (have_t && tv != t)) {
                    cx_fail(err, "%s: bad timestamp", header);
                    return CX_BAD_SIGNATURE;
                }
                t = tv;
                have_t = 1;
            } else if (klen == 2 && p[0] == 'v' && p[1] == '1' && nv1 < CX_MAX_V1) {
                if (cx_hex_decode(eq + 1, vlen, v1[nv1], CX_SHA256_LEN) == CX_SHA256_LEN)
                    nv1++;
            }
        }
        if (!comma)
            break;
        p = comma + 1;
    }
    if (!have_t || nv1 == 0) {
        cx_fail(err, "%s: no timestamp or no v1 signature", header);
        return CX_BAD_SIGNATURE;
    }
    char prefix[32];
    int plen = snprintf(prefix, sizeof prefix, "%" PRId64 ".", t);
    if (plen < 0 || (size_t)plen >= sizeof prefix)
        return CX_BAD_SIGNATURE;
    int match = cx_any_secret_mac(src, prefix, (size_t)plen, in->body, in->body_len,
                                  (const unsigned char(*)[CX_SHA256_LEN])v1, nv1);
    if (match <= 0) {
        cx_fail(err, match < 0 ? "HMAC computation failed" : "%s: no v1 signature matches", header);
        return CX_BAD_SIGNATURE;
    }
    /* One-sided, as the SDKs do it: only timestamps older than the window are refused. */
    int64_t tolerance = src->tolerance_s > 0 ? src->tolerance_s : default_tolerance_s;
    int64_t now_s = in->now_ms / 1000 - (in->now_ms % 1000 < 0);
    int64_t age = now_s - t;
    if (age > tolerance) {
        cx_fail(err, "%s: timestamp %" PRId64 " s old (tolerance %" PRId64 " s)", header, age,
                tolerance);
        return CX_STALE;
    }
    return CX_OK;
}

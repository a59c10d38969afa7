/*
 * Helpers every connector shares, so no provider re-implements HMAC, encodings, header
 * look-ups, urlencoded parsing, typed JSON getters or identity normalization.
 * Pure functions: no I/O, no globals.
 */
#ifndef JD_CX_COMMON_H
#define JD_CX_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "connector.h"

#define CX_SHA256_LEN 32

/* A piece of a signed string (providers sign concatenations). */
struct cx_bytes {
    const void *p;
    size_t len;
};
/* HMAC-SHA256 under key of the parts concatenated (empty parts allowed). 0 / -1. */
int cx_hmac_sha256_parts(const void *key, size_t key_len, const struct cx_bytes *parts, size_t n,
                         unsigned char out[CX_SHA256_LEN]);
/* HMAC-SHA256 of msg (and msg2 appended, may be NULL/0) under key. 0 / -1. */
int cx_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t msg_len,
                   const void *msg2, size_t msg2_len, unsigned char out[CX_SHA256_LEN]);
/* Constant-time equality of two equal-length buffers; different lengths are unequal. */
int cx_equal_ct(const void *a, size_t alen, const void *b, size_t blen);

/* Hex: decode accepts either case; returns decoded length or -1 (odd length, bad digit,
 * too long). Encode writes lowercase and a NUL (out needs 2*len+1). */
int cx_hex_decode(const char *hex, size_t hex_len, unsigned char *out, size_t out_cap);
void cx_hex_encode(const unsigned char *in, size_t len, char *out);
/* Standard base64 with padding. Decode returns length or -1. Encode needs
 * 4*((len+2)/3)+1 bytes and NUL-terminates. */
int cx_base64_decode(const char *b64, size_t b64_len, unsigned char *out, size_t out_cap);
void cx_base64_encode(const unsigned char *in, size_t len, char *out);

/* Case-insensitive header look-up; NULL when absent. */
const char *cx_header_get(const struct cx_header *h, size_t n, const char *name);
/* "Authorization: Bearer <tok>" against a list of accepted tokens: every token is compared
 * (by SHA-256 digest, so neither which token nor how long it is shows in the time taken).
 * The index of the first that matches, or -1. */
int cx_bearer_match(const struct cx_header *h, size_t n, const char *const *tokens, size_t ntokens);
/* cx_bearer_match(…) >= 0. */
int cx_bearer_matches(const struct cx_header *h, size_t n, const char *const *tokens,
                      size_t ntokens);

/* application/x-www-form-urlencoded and query strings. Owns its decoded copies. */
#define CX_FORM_MAX_FIELDS 128
struct cx_form {
    size_t n;
    char *names[CX_FORM_MAX_FIELDS];
    char *values[CX_FORM_MAX_FIELDS];
};
/* 0 on success; -1 on malformed escapes, an embedded NUL, too many fields or no memory.
 * Always call cx_form_free, also after a failure. */
int cx_form_parse(struct cx_form *f, const char *s, size_t len);
const char *cx_form_get(const struct cx_form *f, const char *name); /* first match */
void cx_form_free(struct cx_form *f);
/* Adapter so a cx_form can feed cx_event_set_touch. */
const char *cx_form_getter(void *form, const char *name);

/* Strict typed JSON getters: NULL / -1 when absent or of another type. */
const cJSON *cx_json_obj(const cJSON *o, const char *key);
const cJSON *cx_json_arr(const cJSON *o, const char *key);
const char *cx_json_str(const cJSON *o, const char *key); /* non-empty strings only */
/* An integral JSON number within ±2^53 (exact in a double). 0 / -1. */
int cx_json_int(const cJSON *o, const char *key, int64_t *out);
/* Parses at most `max_depth` levels deep (cJSON's own limit is fixed at build time).
 * Integer literals beyond 2^53 become strings (see cx_json_id).
 * NULL when the bytes are not one JSON value, are too deep, are not valid UTF-8 or hold an
 * escaped NUL (\u0000, which would cut the string where cJSON stores it). */
cJSON *cx_json_parse(const unsigned char *body, size_t len, int max_depth);
/* What cx_json_check reports about the top level: type is its first character ('{', '[',
 * '"', …); escaped_name is set when a top-level member name holds an escape (it may spell
 * a key: "\u0069d" is "id", and such names are never matched). found[i] describes the
 * first member named keys[i] of a top-level object: kind 's' a non-empty string, 'e' an
 * empty one, '{' object, '[' array, another value's first character, or 0 when absent;
 * value and len span its text (a string's without the quotes, escapes as written, and
 * escaped set when it holds one). */
#define CX_JSON_TOP_KEYS 4
struct cx_json_member {
    char kind;
    int escaped;
    const unsigned char *value;
    size_t len;
};
struct cx_json_top {
    const char *const *keys;
    size_t nkeys;
    char type;
    int escaped_name;
    struct cx_json_member found[CX_JSON_TOP_KEYS];
};
/* 0 when the bytes are one JSON value (RFC 8259, valid UTF-8, at most max_depth levels, no
 * escaped NUL), checked without building a tree (verify's hot path); -1 otherwise. top may
 * be NULL. */
int cx_json_check(const unsigned char *body, size_t len, int max_depth, struct cx_json_top *top);
/* An id that may arrive as a string or a number: cx_json_parse keeps integers beyond 2^53
 * as their decimal text (never a rounded double), smaller ones print exactly. 0 / -1. */
int cx_json_id(const cJSON *o, const char *key, char *out, size_t cap);
/* Looks a provider stage up in a `stages` mapping ("closedwon:won, 7:qualified"). 0 and
 * the journeyd stage in out, or -1 when not mapped. */
int cx_stage_map_lookup(const char *map, const char *provider_stage, char *out, size_t cap);
/* Adapter so a JSON object of strings can feed cx_event_set_touch. */
const char *cx_json_getter(void *obj, const char *name);
#define CX_JSON_MAX_DEPTH 64

/* 1 if the bytes are well-formed UTF-8 (no overlongs, no surrogates). */
int cx_utf8_valid(const unsigned char *s, size_t len);
/* 1 if the bytes are well-formed UTF-8 without control characters: what a touch value or
 * an identity may hold (cx_event_add_identity and cx_event_set_touch drop anything else). */
int cx_text_usable(const char *s, size_t len);
/* Bounded copy that never splits a UTF-8 sequence; always NUL-terminates. */
void cx_copy_text(char *dst, size_t cap, const char *src);
/* 1 when s is one or more ASCII digits (a numeric id); 0 otherwise, NULL included. */
int cx_all_digits(const char *s);
/* Writes object o, serialized, into ev->attrs when it fits whole (else leaves ev->attrs as
 * it was): 0 written, 1 too long, -1 out of memory. */
int cx_event_put_attrs(struct cx_event *ev, const cJSON *o);
/* Writes ev->id from the format: 0, or -1 when it does not fit whole (a cut id could
 * name another event and be skipped as its duplicate). */
int cx_event_set_id(struct cx_event *ev, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Identity normalization (DESIGN §3). Both return 0 and write out, or -1 when the
 * value is not a usable identity. */
int cx_norm_email(const char *in, char *out, size_t cap);
int cx_norm_phone(const char *in, const char *default_cc, char *out, size_t cap);

/* RFC 3339 "2026-10-01T12:00:00Z" / "+02:00" offsets / fractional seconds → Unix ms.
 * 0 / -1. */
int cx_parse_rfc3339(const char *s, int64_t *ms_out);
/* Unix ms → "2026-10-01T12:00:00Z" (or with ".123" when ms != 0); out needs 32 bytes. */
void cx_format_rfc3339(int64_t ms, char out[32]);

/* Provider amounts: "12.34" with the currency's exponent → minor units. 0 / -1. */
int cx_parse_decimal_minor(const char *s, int exponent, int64_t *out);
/* ISO 4217 minor-unit exponent (JPY 0, KWD 3, default 2). */
int cx_currency_exponent(const char *cur);
/* Copies an ISO 4217 code upper-cased; -1 unless exactly three ASCII letters. */
int cx_norm_currency(const char *in, char out[4]);

/* ---- added for meta/google/typeform/calendly ---- */

/* ISO 8601 date-times as providers write them: everything cx_parse_rfc3339 takes, plus
 * the basic-format offsets "+hhmm" and "+hh" (Meta's Graph API writes
 * "2015-02-28T08:49:14+0000"). 0 / -1. */
int cx_parse_iso8601(const char *s, int64_t *ms_out);

/* A lead's extra attributes, built pair by pair so the serialized object always fits
 * cx_event.attrs. Names and values are text; values are cut at CX_TEXT_MAX on a UTF-8
 * boundary. Ownership: cx_attrs_init allocates, cx_attrs_free releases (NULL-safe,
 * also after a failed init). */
struct cx_attrs {
    cJSON *obj;
    size_t len; /* serialized length of obj so far */
};
int cx_attrs_init(struct cx_attrs *a); /* 0 / -1 (out of memory) */
/* 0 added; 1 left out (empty or unusable name or value, a name already present, or the
 * pair would not fit); -1 out of memory. */
int cx_attrs_put(struct cx_attrs *a, const char *name, const char *value);
/* Writes the object into ev->attrs ("" when it holds nothing). 0 / -1. */
int cx_attrs_store(const struct cx_attrs *a, struct cx_event *ev);
void cx_attrs_free(struct cx_attrs *a);

/* The end of a normalize call that appended to `out` from index n0 on: unless rc is
 * CX_NORM_OK the events it added go again (a half-filled event never reaches the stream),
 * and its attributes (may be NULL) and parsed body are freed. Returns rc. */
enum cx_result cx_norm_end(enum cx_result rc, struct cx_event_list *out, size_t n0,
                           struct cx_attrs *attrs, cJSON *root);

/* Compares a presented plain secret (Meta's hub.verify_token, Google's google_key) with
 * a configured one. Both are hashed with SHA-256 and the digests compared with
 * CRYPTO_memcmp, so the time taken tells neither where they differ nor how long the
 * configured one is. 1 equal; 0 different, either empty, or hashing failed. */
int cx_secret_equal(const void *given, size_t given_len, const char *secret);

/* ---- signatures shared by several providers ---- */

enum cx_mac_encoding { CX_MAC_HEX, CX_MAC_BASE64 };
/* Decodes "<prefix><hex or base64 HMAC-SHA256>" (prefix case-insensitive, may be NULL).
 * 0 / -1. */
int cx_decode_mac(const char *value, const char *prefix, enum cx_mac_encoding enc,
                  unsigned char out[CX_SHA256_LEN]);
/* 1 when HMAC-SHA256(secret, msg + msg2) equals one of want[] for any configured secret,
 * 0 when none does, -1 on an HMAC failure. Constant time over secrets and candidates. */
int cx_any_secret_mac(const struct cx_source *src, const void *msg, size_t len, const void *msg2,
                      size_t len2, const unsigned char (*want)[CX_SHA256_LEN], size_t nwant);
/* The header carries prefix + the HMAC of the raw body (Meta, Typeform, Shopify, our
 * forms). CX_OK or CX_BAD_SIGNATURE with err naming the header. */
enum cx_verdict cx_verify_body_mac(const struct cx_source *src, const struct cx_input *in,
                                   const char *header, const char *prefix, enum cx_mac_encoding enc,
                                   struct cx_err *err);
/* Stripe's scheme, which Calendly copies: "t=<unix s>,v1=<hex>[,v1=…]" with v1 =
 * HMAC-SHA256(secret, "<t>." + raw body); any v1 against any secret; ages over the
 * source's tolerance (else default_tolerance_s) are CX_STALE; a future t passes. */
enum cx_verdict cx_verify_timestamped(const struct cx_source *src, const struct cx_input *in,
                                      const char *header, int64_t default_tolerance_s,
                                      struct cx_err *err);

#endif

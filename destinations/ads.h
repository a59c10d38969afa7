/*
 * The two ad-platform destinations (issue 14 items 2–4): Meta's Conversions API for CRM
 * (Conversion Leads) and Google's Data Manager API (events.ingest), and what they share:
 * the platforms' normalize-then-SHA-256 rules for personal data and the consent predicate.
 *
 * Pure like the connectors: cJSON and libcrypto only, no I/O, no clock (the caller passes
 * `now`), no globals. Personal data is hashed here and never leaves in clear; nothing here
 * logs. The outbox registers the two descriptors (dst_meta_capi, dst_google_data_manager).
 *
 * Sources followed (cited again where each rule is written):
 *   Meta: developers.facebook.com/documentation/ads-commerce/conversions-api/
 *         conversion-leads-integration/payload-specification, …/parameters/
 *         customer-information-parameters, …/parameters/fbp-and-fbc, and the
 *         facebook-nodejs-business-sdk's src/objects/serverside/utils.js.
 *   Google: developers.google.com/data-manager/api/reference/rest/v1/events/ingest,
 *         …/get-started/formatting, …/devguides/events/google-ads/conversion-adjustments,
 *         and googleads/data-manager-python's google/ads/datamanager_util/format.py with
 *         its tests (the known-answer hashes).
 */
#ifndef JD_DST_ADS_H
#define JD_DST_ADS_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "destination.h"

#define DST_HASH_HEX 65 /* 64 lowercase hex digits and a NUL */

extern const struct dst_type dst_meta_capi;
extern const struct dst_type dst_google_data_manager;

/* ---- hashing and normalization (ads_common.c) ---- */

/* Lowercase hex SHA-256 of the bytes. 0 / -1. */
int dst_sha256_hex(const void *p, size_t len, char out[DST_HASH_HEX]);

/* Meta's rules (customer-information-parameters), each 0 with the normalized text in out,
 * -1 when the value is not usable (then nothing is sent for it):
 *   em: trim leading and trailing whitespace, lowercase;
 *   ph: digits only (symbols, letters and leading zeros removed), with the country code:
 *       the value must already be E.164 (journeyd's phone identities are);
 *   fn/ln: lowercase, no punctuation, UTF-8 kept ("Valéry" → "valéry", "정" stays);
 *   external_id: trimmed (Meta recommends hashing it; we always do). */
int dst_meta_norm_email(const char *in, char *out, size_t cap);
int dst_meta_norm_phone(const char *in, char *out, size_t cap);
int dst_meta_norm_name(const char *in, char *out, size_t cap);
/* Google's rules (Data Manager "Format user data" and datamanager_util/format.py):
 *   email: trim, no intermediate whitespace, lowercase, user@domain; for gmail.com and
 *          googlemail.com the user part loses every '.' and anything from a '+';
 *   phone: E.164 with the plus sign: "+" and the digits. */
int dst_google_norm_email(const char *in, char *out, size_t cap);
int dst_google_norm_phone(const char *in, char *out, size_t cap);

/* Consent (DESIGN §9 consent_field): 1 when the attribute object `attrs` holds
 * `consent_field` with a refusing value ("no", "false" or "0", trimmed, any case), else 0
 * (absent, or any other value: journeyd does not invent a refusal). NULL-safe. */
int dst_consent_refused(const cJSON *attrs, const char *consent_field);
/* Whether a message's facts say the contact refused advertising uploads: the outbox's
 * "consent_refused": true, or an "attributes" object refusing under consent_field. */
int dst_facts_consent_refused(const cJSON *facts, const char *consent_field);

/* Minor units as the platform's decimal number text ("2490.00" for 249000 EUR, "500" for
 * 500 JPY); exact, never through a double. 0 / -1. */
int dst_minor_to_decimal(int64_t minor, const char *currency, char *out, size_t cap);

/* ---- Meta Conversions API (meta_capi.c) ---- */

/* fbc as Meta specifies it (fbp-and-fbc): "fb.1.<creation time, Unix ms>.<fbclid>", the
 * fbclid unchanged (it is case-sensitive). 0 / -1 (empty fbclid, too long). */
int dst_meta_fbc(const char *fbclid, int64_t creation_ms, char *out, size_t cap);

/* The Conversions API request body for one outbox message: {"data": [...]} with one CRM
 * event per stage newly reached (earlier stages first) for a contact that came from a Meta
 * lead ad, and a Purchase for a payment of a contact with an fbclid; "test_event_code"
 * when test_event_code is set. NULL with why filled when there is nothing to send (the
 * reason names what was missing, never the personal data). Free with cJSON_Delete. */
cJSON *dst_meta_request(const struct dst_config *cfg, const cJSON *facts, int64_t now_s,
                        const char *test_event_code, char *why, size_t whylen);

/* ---- Google Data Manager API (google_dm.c) ---- */

/* The events.ingest request body for one outbox message (one event: a payment, a refund as
 * a restatement of the conversion's value, or a configured stage). NULL with why filled when
 * there is nothing to send. Free with cJSON_Delete. */
cJSON *dst_google_request(const struct dst_config *cfg, const cJSON *facts, char *why,
                          size_t whylen);

/* ---- Google OAuth 2.0 service-account flow (google_auth.c) ---- */

#define DST_GOOGLE_SCOPE "https://www.googleapis.com/auth/datamanager"
#define DST_GOOGLE_TOKEN_URL "https://oauth2.googleapis.com/token"

/* The JWT bearer assertion (RFC 7523 via Google's service-account flow): header
 * {"alg":"RS256","typ":"JWT"}, claims {iss: client_email, scope, aud: token_url, iat: now,
 * exp: now + 3600}, RS256 over "<b64url header>.<b64url claims>" with the key file's
 * private_key. sa_json is the whole service-account key file. Returns a malloc'd string
 * (free()), or NULL with why filled (the key is never quoted). */
char *dst_google_jwt(const char *sa_json, size_t sa_len, const char *token_url, int64_t now_s,
                     char *why, size_t whylen);
/* The token request body: "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer
 * &assertion=<jwt>" (application/x-www-form-urlencoded). malloc'd, or NULL. */
char *dst_google_token_body(const char *jwt);
/* The token answer {"access_token": "…", "expires_in": 3599, "token_type": "Bearer"}:
 * 0 with the token copied and its lifetime, -1 when it is not one. */
int dst_google_token_parse(const char *body, size_t len, char *token, size_t tokenlen,
                           int64_t *expires_in_s);

/* A cached access token. The outbox keeps one per destination and asks it before a build;
 * a token is used until DST_TOKEN_MARGIN_S before it expires, so a request never leaves
 * with a token that dies in flight. */
#define DST_TOKEN_MARGIN_S 60
struct dst_token_cache {
    char token[DST_TOKEN_MAX];
    int64_t expires_at_s; /* 0: empty */
};
/* The token when one is valid at now_s, else NULL. */
const char *dst_token_get(const struct dst_token_cache *c, int64_t now_s);
/* Stores a fresh token received at now_s that lives expires_in_s. 0 / -1 (too long, or
 * a lifetime not above the margin: caching it would only mislead). */
int dst_token_put(struct dst_token_cache *c, const char *token, int64_t expires_in_s,
                  int64_t now_s);
/* Forgets the token (a 401 said it is no good) and wipes its bytes. */
void dst_token_clear(struct dst_token_cache *c);

#endif

/*
 * Google's OAuth 2.0 service-account flow (developers.google.com/identity/protocols/oauth2/
 * service-account, "Preparing to make an authorized API call"): a JWT signed RS256 with the
 * key file's private key is exchanged at the token URL for an access token that lives about
 * an hour. Pure: the outbox sends the request and keeps the cache; the clock is passed in.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "ads.h"
#include "common.h"

#define JWT_LIFETIME_S 3600 /* the longest Google accepts */

static void say(char *why, size_t whylen, const char *msg)
{
    if (why && whylen)
        snprintf(why, whylen, "%s", msg);
}

/* base64url without padding (RFC 7515 §2) of len bytes, into a malloc'd string. */
static char *b64url(const unsigned char *in, size_t len)
{
    char *out = malloc(4 * ((len + 2) / 3) + 1);
    size_t i, n;

    if (!out)
        return NULL;
    cx_base64_encode(in, len, out);
    n = strlen(out);
    while (n > 0 && out[n - 1] == '=')
        out[--n] = '\0';
    for (i = 0; i < n; i++) {
        if (out[i] == '+')
            out[i] = '-';
        else if (out[i] == '/')
            out[i] = '_';
    }
    return out;
}

/* RS256 of msg with the PEM private key: a malloc'd signature and its length. */
static unsigned char *rs256(const char *pem, const char *msg, size_t *siglen)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char *sig = NULL;
    size_t n = 0;

    if (!key || !md || EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA ||
        EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
        EVP_DigestSign(md, NULL, &n, (const unsigned char *)msg, strlen(msg)) != 1 ||
        !(sig = malloc(n)) ||
        EVP_DigestSign(md, sig, &n, (const unsigned char *)msg, strlen(msg)) != 1) {
        free(sig);
        sig = NULL;
        ERR_clear_error(); /* leave no stale error behind for the next OpenSSL user */
    }
    *siglen = n;
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(key);
    BIO_free(bio);
    return sig;
}

char *dst_google_jwt(const char *sa_json, size_t sa_len, const char *token_url, int64_t now_s,
                     char *why, size_t whylen)
{
    static const char header[] = "{\"alg\":\"RS256\",\"typ\":\"JWT\"}";
    cJSON *sa = NULL, *claims = NULL;
    char *claims_txt = NULL, *h64 = NULL, *c64 = NULL, *signing = NULL, *s64 = NULL, *jwt = NULL;
    unsigned char *sig = NULL;
    const char *email, *pem;
    size_t siglen = 0, n;

    sa = sa_json ? cx_json_parse((const unsigned char *)sa_json, sa_len, 8) : NULL;
    email = cx_json_str(sa, "client_email");
    pem = cx_json_str(sa, "private_key");
    if (!email || !pem) {
        say(why, whylen, "service account key without client_email or private_key");
        goto out;
    }
    claims = cJSON_CreateObject();
    if (!claims || !cJSON_AddStringToObject(claims, "iss", email) ||
        !cJSON_AddStringToObject(claims, "scope", DST_GOOGLE_SCOPE) ||
        !cJSON_AddStringToObject(claims, "aud", token_url ? token_url : DST_GOOGLE_TOKEN_URL) ||
        !cJSON_AddNumberToObject(claims, "exp", (double)(now_s + JWT_LIFETIME_S)) ||
        !cJSON_AddNumberToObject(claims, "iat", (double)now_s) ||
        !(claims_txt = cJSON_PrintUnformatted(claims))) {
        say(why, whylen, "out of memory");
        goto out;
    }
    h64 = b64url((const unsigned char *)header, sizeof header - 1);
    c64 = b64url((const unsigned char *)claims_txt, strlen(claims_txt));
    if (!h64 || !c64)
        goto oom;
    n = strlen(h64) + 1 + strlen(c64) + 1;
    if (!(signing = malloc(n)))
        goto oom;
    snprintf(signing, n, "%s.%s", h64, c64);
    sig = rs256(pem, signing, &siglen);
    if (!sig) {
        say(why, whylen, "private_key is not an RSA key in PEM");
        goto out;
    }
    if (!(s64 = b64url(sig, siglen)))
        goto oom;
    n = strlen(signing) + 1 + strlen(s64) + 1;
    if (!(jwt = malloc(n)))
        goto oom;
    snprintf(jwt, n, "%s.%s", signing, s64);
    goto out;
oom:
    say(why, whylen, "out of memory");
out:
    /* The key text lived in the parsed tree: wipe it before the tree goes. */
    if (pem) {
        char *own = cJSON_GetObjectItemCaseSensitive(sa, "private_key")->valuestring;
        OPENSSL_cleanse(own, strlen(own));
    }
    cJSON_Delete(sa);
    cJSON_Delete(claims);
    free(claims_txt);
    free(h64);
    free(c64);
    free(signing);
    free(s64);
    free(sig);
    return jwt;
}

char *dst_google_token_body(const char *jwt)
{
    static const char prefix[] =
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=";
    size_t n;
    char *body;

    /* A JWT is base64url and dots: nothing in it needs percent-encoding. */
    if (!jwt || strspn(jwt, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.") !=
                    strlen(jwt))
        return NULL;
    n = sizeof prefix + strlen(jwt);
    body = malloc(n);
    if (body)
        snprintf(body, n, "%s%s", prefix, jwt);
    return body;
}

static int bearer(const char *t)
{
    static const char want[] = "bearer";
    size_t i;

    for (i = 0; i < sizeof want - 1; i++) {
        char c = t[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != want[i])
            return 0;
    }
    return t[i] == '\0';
}

int dst_google_token_parse(const char *body, size_t len, char *token, size_t tokenlen,
                           int64_t *expires_in_s)
{
    cJSON *j = body ? cx_json_parse((const unsigned char *)body, len, 8) : NULL;
    const char *tok = cx_json_str(j, "access_token");
    const char *type = cx_json_str(j, "token_type");
    int64_t exp = 0;
    int rc = -1;

    /* token_type, when present, must be Bearer: another kind of token would be sent the
     * wrong way. */
    if (tok && cx_json_int(j, "expires_in", &exp) == 0 && exp > 0 && (!type || bearer(type)) &&
        strlen(tok) < tokenlen && cx_text_usable(tok, strlen(tok)) && !strchr(tok, ' ')) {
        snprintf(token, tokenlen, "%s", tok);
        *expires_in_s = exp;
        rc = 0;
    }
    if (tok) {
        char *own = cJSON_GetObjectItemCaseSensitive(j, "access_token")->valuestring;
        OPENSSL_cleanse(own, strlen(own));
    }
    cJSON_Delete(j);
    return rc;
}

const char *dst_token_get(const struct dst_token_cache *c, int64_t now_s)
{
    if (!c || c->expires_at_s == 0 || !c->token[0] || now_s >= c->expires_at_s - DST_TOKEN_MARGIN_S)
        return NULL;
    return c->token;
}

int dst_token_put(struct dst_token_cache *c, const char *token, int64_t expires_in_s, int64_t now_s)
{
    size_t n = token ? strlen(token) : 0;

    if (!c || n == 0 || n >= sizeof c->token || expires_in_s <= DST_TOKEN_MARGIN_S)
        return -1;
    memcpy(c->token, token, n + 1);
    c->expires_at_s = now_s + expires_in_s;
    return 0;
}

void dst_token_clear(struct dst_token_cache *c)
{
    if (!c)
        return;
    OPENSSL_cleanse(c->token, sizeof c->token);
    c->expires_at_s = 0;
}

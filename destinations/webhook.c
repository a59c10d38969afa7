/*
 * type = webhook: the company's own tools, signed the Standard Webhooks way
 * (https://www.standardwebhooks.com, spec/standard-webhooks.md):
 *   webhook-id: the message's dedup key (the same on every redelivery: receivers dedup on it)
 *   webhook-timestamp: seconds since the epoch, at this attempt
 *   webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">
 * keyed with the base64 bytes after "whsec_". The body is
 *   {"type": "<kind>", "timestamp": "<the event's at>", "data": <the message's facts>}
 * and is the same on every redelivery (only the timestamp header moves).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cjson/cJSON.h>

#include "destination.h"
#include "webhook.h"

#define WH_SECRET_PREFIX "whsec_"
#define WH_KEY_MAX 256

/* The signing key: base64 after an optional "whsec_" (the reference implementations
 * accept both). Returns its length, or -1 when it is not base64. */
static int secret_key(const char *secret, unsigned char *key, size_t cap)
{
    if (strncmp(secret, WH_SECRET_PREFIX, strlen(WH_SECRET_PREFIX)) == 0)
        secret += strlen(WH_SECRET_PREFIX);
    size_t n = strlen(secret);
    if (n == 0 || n % 4 != 0 || n / 4 * 3 > cap)
        return -1;
    int len = EVP_DecodeBlock(key, (const unsigned char *)secret, (int)n);
    if (len < 0)
        return -1;
    /* EVP_DecodeBlock counts the padding as zero bytes. */
    if (secret[n - 1] == '=')
        len--;
    if (secret[n - 2] == '=')
        len--;
    return len;
}

int dst_webhook_sign(const char *secret, const char *id, int64_t timestamp, const char *body,
                     size_t len, char *out, size_t outlen)
{
    unsigned char key[WH_KEY_MAX];
    int klen = secret_key(secret, key, sizeof(key));
    if (klen <= 0)
        return -1;
    char ts[24];
    snprintf(ts, sizeof(ts), "%lld", (long long)timestamp);
    size_t idl = strlen(id), tsl = strlen(ts);
    unsigned char *msg = malloc(idl + tsl + len + 2);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    int ok = msg != NULL;
    if (ok) {
        memcpy(msg, id, idl);
        msg[idl] = '.';
        memcpy(msg + idl + 1, ts, tsl);
        msg[idl + 1 + tsl] = '.';
        memcpy(msg + idl + tsl + 2, body, len);
        ok = HMAC(EVP_sha256(), key, klen, msg, idl + tsl + len + 2, mac, &maclen) != NULL;
    }
    free(msg);
    OPENSSL_cleanse(key, sizeof(key));
    /* "v1," + base64 of 32 bytes (44) + NUL */
    if (!ok || outlen < 3 + 4 * ((maclen + 2) / 3) + 1)
        return -1;
    memcpy(out, "v1,", 3);
    EVP_EncodeBlock((unsigned char *)out + 3, mac, (int)maclen);
    return 0;
}

static int check(const struct dst_config *cfg, char *why, size_t whylen)
{
    unsigned char key[WH_KEY_MAX];
    int n = cfg->secret ? secret_key(cfg->secret, key, sizeof(key)) : -1;
    OPENSSL_cleanse(key, sizeof(key));
    /* 16 bytes at least: the config's rule for every secret. */
    if (n < 16) {
        snprintf(why, whylen, "secret: expected whsec_<base64 of 16+ bytes>");
        return -1;
    }
    return 0;
}

/* {"type", "timestamp", "data"} around the facts; NULL when the facts are not an object. */
char *dst_webhook_body(const struct dst_message *msg, size_t *len)
{
    cJSON *facts = cJSON_ParseWithLength(msg->facts, msg->facts_len);
    if (!cJSON_IsObject(facts)) {
        cJSON_Delete(facts);
        return NULL;
    }
    cJSON *root = cJSON_CreateObject();
    const cJSON *at = cJSON_GetObjectItemCaseSensitive(facts, "at");
    char *out = NULL;
    if (root && cJSON_AddStringToObject(root, "type", msg->kind) &&
        cJSON_AddStringToObject(root, "timestamp", cJSON_IsString(at) ? at->valuestring : "")) {
        cJSON_AddItemToObject(root, "data", facts);
        facts = NULL;
        out = cJSON_PrintUnformatted(root);
    }
    cJSON_Delete(facts);
    cJSON_Delete(root);
    if (out)
        *len = strlen(out);
    return out;
}

static enum dst_build_result build(const struct dst_config *cfg, const struct dst_message *msg,
                                   const struct dst_context *ctx, struct dst_request *out,
                                   char *why, size_t whylen)
{
    const char *url = cfg->api_base ? cfg->api_base : cfg->url;
    if (!url || strlen(url) >= sizeof(out->url)) {
        snprintf(why, whylen, "no url");
        return DST_INVALID;
    }
    if (!msg->dedup || strlen(msg->dedup) >= sizeof(out->dedup)) {
        snprintf(why, whylen, "no dedup key");
        return DST_INVALID;
    }
    snprintf(out->method, sizeof(out->method), "POST");
    snprintf(out->url, sizeof(out->url), "%s", url);
    snprintf(out->dedup, sizeof(out->dedup), "%s", msg->dedup);
    out->body = dst_webhook_body(msg, &out->len);
    if (!out->body) {
        snprintf(why, whylen, "facts are not a JSON object");
        return DST_INVALID;
    }
    char ts[24], sig[64];
    snprintf(ts, sizeof(ts), "%lld", (long long)ctx->now_s);
    if (dst_webhook_sign(cfg->secret ? cfg->secret : "", msg->dedup, ctx->now_s, out->body,
                         out->len, sig, sizeof(sig)) != 0 ||
        dst_add_header(out, "Content-Type", "application/json") != 0 ||
        dst_add_header(out, "webhook-id", msg->dedup) != 0 ||
        dst_add_header(out, "webhook-timestamp", ts) != 0 ||
        dst_add_header(out, "webhook-signature", sig) != 0) {
        snprintf(why, whylen, "cannot sign");
        return DST_INVALID;
    }
    return DST_BUILT;
}

static const char *const needs[] = {"url", "secret", NULL};
static const char *const default_events[] = {DST_LEAD_CREATED, DST_STAGE_CHANGED, DST_PAID,
                                             DST_SLA_BREACHED, NULL};

const struct dst_type dst_webhook = {
    .type = "webhook",
    .needs = needs,
    .default_events = default_events,
    .check = check,
    .build = build,
};

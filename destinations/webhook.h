/*
 * The Standard Webhooks signature (webhook.c), apart so a unit test can check it against
 * the specification's reference vector.
 */
#ifndef JD_DST_WEBHOOK_H
#define JD_DST_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#include "destination.h"

/* "v1,<base64 HMAC-SHA256 of id.timestamp.body>" keyed with the base64 of secret (after an
 * optional "whsec_"); out holds 48+ bytes. 0, or -1 when the secret is not base64. */
int dst_webhook_sign(const char *secret, const char *id, int64_t timestamp, const char *body,
                     size_t len, char *out, size_t outlen);
/* The body of a message (malloc'd; NULL when its facts are not a JSON object). */
char *dst_webhook_body(const struct dst_message *msg, size_t *len);

#endif

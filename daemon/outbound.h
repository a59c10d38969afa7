/*
 * Outbound HTTP on the daemon's event loop: libcurl's multi-socket interface driven by
 * libevent, in the shape of curl's hiperfifo.c (global / per-transfer / per-socket
 * state; the timer callback only arms a timer; curl_multi_info_read drained after every
 * action). Used to enrich thin webhooks (a Meta lead, a HubSpot contact) and to read the
 * providers' list APIs back (reconciliation: GETs, and HubSpot's search, a POST).
 *
 * Bounded: at most max_transfers run at once, at most max_queued wait behind them, each
 * response is capped, and every transfer has a total and a connect timeout. Transient
 * failures (transport errors, 5xx, 429) are retried with exponential backoff; a 429's
 * Retry-After is honoured. The completion callback runs exactly once per request.
 */
#ifndef JD_OUTBOUND_H
#define JD_OUTBOUND_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <sys/socket.h>

#define OUTBOUND_MAX_RESPONSE (1024 * 1024)
#define OUTBOUND_MAX_HEADERS 8
/* A request body at most (a provider's search query: a few hundred bytes). */
#define OUTBOUND_MAX_BODY (64 * 1024)

struct outbound;

struct outbound_config {
    size_t max_transfers; /* concurrent */
    size_t max_queued;    /* waiting behind them */
    int64_t timeout_ms;   /* whole transfer */
    int64_t connect_timeout_ms;
    int max_attempts;       /* 1 = no retry */
    int64_t backoff_ms;     /* first retry delay; doubles each attempt */
    int64_t max_backoff_ms; /* also caps a Retry-After */
};

enum outbound_result {
    OUTBOUND_OK,        /* 2xx */
    OUTBOUND_PERMANENT, /* 4xx other than 408/429: retrying cannot help */
    OUTBOUND_TRANSIENT, /* attempts exhausted on transport errors, 5xx, 408 or 429 */
    OUTBOUND_REFUSED,   /* queue full or shutting down: try again later */
};

/* body is valid only during the callback. status is the last HTTP status (0 when the
 * transport failed); error is a short text for logs (never includes the URL's query). */
typedef void (*outbound_cb)(void *ud, enum outbound_result result, long status, const char *body,
                            size_t len, const char *error);

struct outbound_counters {
    uint64_t ok, permanent, transient, refused, retries;
};

/* NULL on failure (logs why). Refuses to start when libcurl lacks asynchronous DNS:
 * every lookup would then block the loop. */
struct outbound *outbound_new(struct event_base *base, const struct outbound_config *cfg);
/* Cancels everything (callbacks run with OUTBOUND_REFUSED), then frees. NULL-safe. Must
 * run before event_base_free. */
void outbound_free(struct outbound *o);

/* GET url with the given "Name: value" headers (copied). cb runs exactly once, never
 * before this function returned. Returns 0, or -1 when refused at once (cb not called). */
int outbound_get(struct outbound *o, const char *url, const char *const *headers, size_t nheaders,
                 outbound_cb cb, void *ud);

/* A request of the outbox (daemon/outbox.c): any method, a body, and the SSRF guard. */
struct outbound_req {
    const char *method; /* "POST", "GET", ... */
    const char *url;
    const char *const *headers; /* "Name: value", at most OUTBOUND_MAX_HEADERS */
    size_t nheaders;
    const char *body; /* copied; NULL for none */
    size_t len;
    int public_only;  /* https only, and every address connected to must be public
                         (checked after DNS resolution, in CURLOPT_OPENSOCKETFUNCTION) */
    int max_attempts; /* 0: the configured number */
};

struct outbound_answer {
    enum outbound_result result;
    long status;
    const char *body; /* valid only during the callback */
    size_t len;
    const char *error;
    int64_t retry_after_s; /* the last answer's Retry-After (delta seconds), -1 when absent */
    int blocked;           /* refused by the SSRF guard: no connection was made */
};

typedef void (*outbound_req_cb)(void *ud, const struct outbound_answer *a);

/* Same contract as outbound_get. */
int outbound_request(struct outbound *o, const struct outbound_req *req, outbound_req_cb cb,
                     void *ud);

/* 1 when addr is a public unicast address: not loopback, private (RFC 1918, ULA), link-local,
 * CGNAT, multicast, documentation, unspecified or reserved; IPv4-mapped IPv6 addresses are
 * judged by their IPv4 address. */
int outbound_addr_public(const struct sockaddr *addr, size_t len);

/* POST body (len bytes, copied; the caller sets its Content-Type among the headers) to url,
 * otherwise as outbound_get: the same limits, retries and callback contract. A provider's
 * read-only search (HubSpot's CRM search is a POST). -1 also when len > OUTBOUND_MAX_BODY. */
int outbound_post(struct outbound *o, const char *url, const char *const *headers, size_t nheaders,
                  const char *body, size_t len, outbound_cb cb, void *ud);

size_t outbound_active(const struct outbound *o);
const struct outbound_counters *outbound_counters(const struct outbound *o);

#endif

/*
 * One asynchronous Redis connection (hiredis 0.14 + its libevent adapter), modeled on
 * h2o's lib/common/redis.c: an explicit state machine, our own connect and command
 * deadlines (hiredis 0.14 has none), reconnect with exponential backoff and jitter, and
 * the Lua scripts loaded on every connect before the client reports READY.
 *
 * Every command's callback runs exactly once: with the reply, or with NULL on error,
 * timeout or disconnect. A reply is valid only inside its callback. Module prefix rq_.
 * This module logs nothing itself; state changes reach the owner through on_state.
 */
#ifndef JD_RQ_REDIS_H
#define JD_RQ_REDIS_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

enum rq_state { RQ_CLOSED, RQ_CONNECTING, RQ_LOADING, RQ_READY };

struct rq_script {
    const char *name;
    const char *body;
    size_t len;
};

struct rq_config {
    const char *name; /* "ingest", "worker", "api": for the owner's logs */
    const char *host; /* IP address (hiredis resolves names with a blocking call) */
    int port;
    const char *unix_path; /* instead of host/port when set */
    const char *user;      /* Redis 6 ACL user for AUTH; NULL = AUTH with the password only */
    const char *password;  /* NULL = no AUTH */
    int db;                /* SELECT db when not 0 */
    int64_t connect_timeout_ms;
    int64_t command_timeout_ms;
    const struct rq_script *scripts; /* loaded after each connect; may be NULL */
    size_t nscripts;
};

struct rq_client;

/* Called on every state change; `why` is a short reason ("connection refused", "timeout")
 * or NULL. */
typedef void (*rq_state_cb)(struct rq_client *c, enum rq_state state, const char *why, void *ud);
/* reply is NULL when the command failed (disconnect, timeout, client not ready). */
typedef void (*rq_reply_cb)(struct rq_client *c, const redisReply *reply, void *priv);

/* Copies cfg (not the scripts: they must be static). Starts connecting at once.
 * NULL on allocation failure. Free with rq_free. */
struct rq_client *rq_new(struct event_base *base, const struct rq_config *cfg, rq_state_cb on_state,
                         void *ud);
/* Fails every pending command (callbacks run with NULL) and frees. NULL-safe. Must not
 * be called from inside one of this client's callbacks. */
void rq_free(struct rq_client *c);

enum rq_state rq_get_state(const struct rq_client *c);
/* What the server said at the last connect about its append-only file, read before the
 * scripts load: "always", "everysec", "no" (AOF on, fsync policy), "off" (AOF off) or
 * "unknown" (CONFIG GET and INFO both refused, or not yet connected). */
const char *rq_aof(const struct rq_client *c);
/* 1 when the last connect attempt failed because the server refused AUTH or SELECT (a
 * wrong password, user or db): retrying will not help until someone changes something. */
int rq_auth_failed(const struct rq_client *c);
int rq_is_ready(const struct rq_client *c);
const char *rq_name(const struct rq_client *c);
/* Commands sent and not yet answered. */
size_t rq_inflight(const struct rq_client *c);

/* Sends a command built from binary-safe arguments. timeout_ms 0 = the configured
 * command timeout. Returns 0 when sent: cb will run exactly once. Returns -1 when the
 * client is not ready or the send failed: cb will NOT run. */
int rq_command(struct rq_client *c, int64_t timeout_ms, rq_reply_cb cb, void *priv, int argc,
               const char **argv, const size_t *argvlen);

/* EVALSHA of script number `script` (index into cfg->scripts) with argv = keys then args.
 * Same contract as rq_command. A NOSCRIPT answer (Redis restarted without us noticing)
 * is retried once with EVAL. */
int rq_eval(struct rq_client *c, size_t script, int64_t timeout_ms, rq_reply_cb cb, void *priv,
            int numkeys, int argc, const char **argv, const size_t *argvlen);

#endif

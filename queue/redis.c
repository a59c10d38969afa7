/*
 * The asynchronous Redis client (see redis.h): the hiredis context and its state machine,
 * the connect and per-command deadline timers, reconnect with backoff and jitter, and the
 * script loading that gates READY. The command record's `answered` flag carries the
 * exactly-once rule: the reply callback always comes last and frees.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "redis.h"

#define RQ_BACKOFF_MIN_MS 100
#define RQ_BACKOFF_MAX_MS 5000
#define RQ_MAX_SCRIPTS 16

struct rq_client {
    struct event_base *base;
    struct rq_config cfg;
    char *host, *unix_path, *user, *password;
    char aof[16];          /* rq_aof */
    int auth_failed;       /* rq_auth_failed */
    redisAsyncContext *ac; /* NULL whenever hiredis may have freed it */
    enum rq_state state;
    rq_state_cb on_state;
    void *ud;
    struct event *connect_timer;   /* connect deadline */
    struct event *reconnect_timer; /* backoff before the next attempt */
    int64_t backoff_ms;
    char shas[RQ_MAX_SCRIPTS][41];
    size_t scripts_loaded;
    size_t inflight;
    int freeing;
};

/* One command in flight. Two events race to finish it (the reply and our deadline); the
 * reply callback always comes last (hiredis runs it exactly once, with NULL when the
 * connection goes), so it is the one that frees. */
struct rq_cmd {
    struct rq_client *client;
    rq_reply_cb cb;
    void *priv;
    struct event *timer;
    int answered;
    /* For the NOSCRIPT retry of rq_eval. */
    size_t script;
    int retried_eval;
    int argc;
    char **argv;       /* owned copies */
    const char **view; /* the same pointers, as hiredis takes them */
    size_t *argvlen;
    int64_t timeout_ms;
};

static void rq_connect(struct rq_client *c);

static void set_state(struct rq_client *c, enum rq_state s, const char *why)
{
    if (c->state == s)
        return;
    c->state = s;
    if (c->on_state)
        c->on_state(c, s, why, c->ud);
}

static void schedule_reconnect(struct rq_client *c)
{
    if (c->freeing)
        return;
    /* Jitter keeps several journeyd instances from reconnecting in lockstep. */
    unsigned char r = 0;
    (void)RAND_bytes(&r, 1);
    int64_t delay = c->backoff_ms / 2 + (c->backoff_ms / 2) * r / 255;
    struct timeval tv = {(time_t)(delay / 1000), (suseconds_t)((delay % 1000) * 1000)};
    evtimer_add(c->reconnect_timer, &tv);
    c->backoff_ms *= 2;
    if (c->backoff_ms > RQ_BACKOFF_MAX_MS)
        c->backoff_ms = RQ_BACKOFF_MAX_MS;
}

/* Drops the connection on our initiative (a deadline passed): clear our pointer first so
 * the callbacks hiredis runs while freeing see a client that is already disconnected. */
static void rq_drop(struct rq_client *c, const char *why)
{
    redisAsyncContext *ac = c->ac;
    c->ac = NULL;
    evtimer_del(c->connect_timer);
    /* State first: the NULL replies hiredis delivers while freeing must find the client
     * closed, so nothing is re-sent on a dying context. */
    set_state(c, RQ_CLOSED, why);
    if (ac) {
        ac->data = NULL;
        redisAsyncFree(ac);
    }
    schedule_reconnect(c);
}

static void cmd_free(struct rq_cmd *cmd)
{
    if (!cmd)
        return;
    if (cmd->timer)
        event_free(cmd->timer);
    if (cmd->argv) {
        for (int i = 0; i < cmd->argc; i++)
            free(cmd->argv[i]);
        free(cmd->argv);
    }
    free(cmd->view);
    free(cmd->argvlen);
    free(cmd);
}

static int send_cmd(struct rq_client *c, struct rq_cmd *cmd, int argc, const char **argv,
                    const size_t *argvlen);

static int is_noscript(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_ERROR && r->len >= 8 && memcmp(r->str, "NOSCRIPT", 8) == 0;
}

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct rq_cmd *cmd = privdata;
    struct rq_client *c = cmd->client;
    (void)ac;
    c->inflight--;
    if (!cmd->answered && is_noscript(reply) && cmd->argv && !cmd->retried_eval && c->ac &&
        !c->freeing) {
        /* The server lost its script cache (restart, SCRIPT FLUSH): send the body once. */
        cmd->retried_eval = 1;
        free(cmd->argv[0]);
        free(cmd->argv[1]);
        cmd->argv[0] = strdup("EVAL");
        cmd->argvlen[0] = 4;
        cmd->argv[1] = malloc(c->cfg.scripts[cmd->script].len + 1);
        if (cmd->argv[0] && cmd->argv[1]) {
            memcpy(cmd->argv[1], c->cfg.scripts[cmd->script].body, c->cfg.scripts[cmd->script].len);
            cmd->argvlen[1] = c->cfg.scripts[cmd->script].len;
            cmd->view[0] = cmd->argv[0];
            cmd->view[1] = cmd->argv[1];
            if (send_cmd(c, cmd, cmd->argc, cmd->view, cmd->argvlen) == 0)
                return;
        }
        reply = NULL;
    }
    if (!cmd->answered) {
        cmd->answered = 1;
        cmd->cb(c, reply, cmd->priv);
    }
    cmd_free(cmd);
}

static void on_cmd_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct rq_cmd *cmd = arg;
    struct rq_client *c = cmd->client;
    (void)fd;
    (void)what;
    cmd->answered = 1;
    cmd->cb(c, NULL, cmd->priv);
    /* A server that does not answer within the deadline is treated as gone: replies on
     * this connection can no longer be trusted to arrive in time. Dropping runs on_reply
     * for every pending command (this one included, which frees it). */
    if (c->ac)
        rq_drop(c, "command timeout");
}

static int send_cmd(struct rq_client *c, struct rq_cmd *cmd, int argc, const char **argv,
                    const size_t *argvlen)
{
    if (!c->ac)
        return -1;
    if (redisAsyncCommandArgv(c->ac, on_reply, cmd, argc, argv, argvlen) != REDIS_OK)
        return -1;
    c->inflight++;
    int64_t ms = cmd->timeout_ms > 0 ? cmd->timeout_ms : c->cfg.command_timeout_ms;
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    if (evtimer_add(cmd->timer, &tv) != 0) {
        /* Without a deadline the command may wait forever; it is already queued, so let the
         * connection drop fail it. */
        rq_drop(c, "timer failure");
    }
    return 0;
}

static struct rq_cmd *cmd_new(struct rq_client *c, int64_t timeout_ms, rq_reply_cb cb, void *priv)
{
    struct rq_cmd *cmd = calloc(1, sizeof(*cmd));
    if (!cmd)
        return NULL;
    cmd->client = c;
    cmd->cb = cb;
    cmd->priv = priv;
    cmd->timeout_ms = timeout_ms;
    cmd->timer = evtimer_new(c->base, on_cmd_timeout, cmd);
    if (!cmd->timer) {
        free(cmd);
        return NULL;
    }
    return cmd;
}

static int command_internal(struct rq_client *c, int64_t timeout_ms, rq_reply_cb cb, void *priv,
                            int argc, const char **argv, const size_t *argvlen)
{
    struct rq_cmd *cmd = cmd_new(c, timeout_ms, cb, priv);
    if (!cmd)
        return -1;
    if (send_cmd(c, cmd, argc, argv, argvlen) != 0) {
        cmd_free(cmd);
        return -1;
    }
    return 0;
}

int rq_command(struct rq_client *c, int64_t timeout_ms, rq_reply_cb cb, void *priv, int argc,
               const char **argv, const size_t *argvlen)
{
    if (c->state != RQ_READY)
        return -1;
    return command_internal(c, timeout_ms, cb, priv, argc, argv, argvlen);
}

int rq_eval(struct rq_client *c, size_t script, int64_t timeout_ms, rq_reply_cb cb, void *priv,
            int numkeys, int argc, const char **argv, const size_t *argvlen)
{
    if (c->state != RQ_READY || script >= c->cfg.nscripts)
        return -1;
    struct rq_cmd *cmd = cmd_new(c, timeout_ms, cb, priv);
    if (!cmd)
        return -1;
    /* Keep a private copy of the arguments for the one NOSCRIPT retry. */
    char numkeys_s[16];
    int nk = snprintf(numkeys_s, sizeof(numkeys_s), "%d", numkeys);
    cmd->argc = argc + 3;
    cmd->script = script;
    cmd->argv = calloc((size_t)cmd->argc, sizeof(char *));
    cmd->view = calloc((size_t)cmd->argc, sizeof(char *));
    cmd->argvlen = calloc((size_t)cmd->argc, sizeof(size_t));
    if (!cmd->argv || !cmd->view || !cmd->argvlen)
        goto fail;
    const char *heads[3] = {"EVALSHA", c->shas[script], numkeys_s};
    size_t headlens[3] = {7, 40, (size_t)nk};
    for (int i = 0; i < cmd->argc; i++) {
        const char *src = i < 3 ? heads[i] : argv[i - 3];
        size_t len = i < 3 ? headlens[i] : argvlen[i - 3];
        cmd->argv[i] = malloc(len + 1);
        if (!cmd->argv[i])
            goto fail;
        memcpy(cmd->argv[i], src, len);
        cmd->argv[i][len] = '\0';
        cmd->view[i] = cmd->argv[i];
        cmd->argvlen[i] = len;
    }
    if (send_cmd(c, cmd, cmd->argc, cmd->view, cmd->argvlen) != 0)
        goto fail;
    return 0;
fail:
    cmd_free(cmd);
    return -1;
}

static void load_next_script(struct rq_client *c);

static void on_script_loaded(struct rq_client *c, const redisReply *r, void *priv)
{
    (void)priv;
    if (!r || r->type != REDIS_REPLY_STRING || r->len != 40) {
        if (c->ac)
            rq_drop(c, r && r->type == REDIS_REPLY_ERROR ? r->str : "SCRIPT LOAD failed");
        return;
    }
    memcpy(c->shas[c->scripts_loaded], r->str, 40);
    c->shas[c->scripts_loaded][40] = '\0';
    c->scripts_loaded++;
    load_next_script(c);
}

static void load_next_script(struct rq_client *c)
{
    if (c->scripts_loaded == c->cfg.nscripts) {
        c->backoff_ms = RQ_BACKOFF_MIN_MS;
        c->auth_failed = 0;
        set_state(c, RQ_READY, NULL);
        return;
    }
    const struct rq_script *s = &c->cfg.scripts[c->scripts_loaded];
    const char *argv[3] = {"SCRIPT", "LOAD", s->body};
    size_t lens[3] = {6, 4, s->len};
    if (command_internal(c, 0, on_script_loaded, NULL, 3, argv, lens) != 0)
        rq_drop(c, "SCRIPT LOAD could not be sent");
}

/* The connect handshake, in order: AUTH, SELECT, the AOF probe, then the scripts. Each
 * step runs on every (re)connect: a restarted or failed-over server knows none of it. */
static void probe_aof(struct rq_client *c);

static void on_info_persistence(struct rq_client *c, const redisReply *r, void *priv)
{
    (void)priv;
    if (!r) {
        if (c->ac)
            rq_drop(c, "INFO failed");
        return;
    }
    /* INFO gives AOF on or off but not the fsync policy. */
    snprintf(c->aof, sizeof(c->aof), "unknown");
    if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) {
        const char *p = strstr(r->str, "aof_enabled:");
        if (p && p[12] == '0')
            snprintf(c->aof, sizeof(c->aof), "off");
    }
    load_next_script(c);
}

static void on_config_get(struct rq_client *c, const redisReply *r, void *priv)
{
    (void)priv;
    if (!r) {
        if (c->ac)
            rq_drop(c, "CONFIG GET failed");
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY) {
        /* Managed services often rename or refuse CONFIG: ask INFO instead. */
        const char *argv[2] = {"INFO", "persistence"};
        size_t lens[2] = {4, 11};
        if (command_internal(c, 0, on_info_persistence, NULL, 2, argv, lens) != 0)
            rq_drop(c, "INFO could not be sent");
        return;
    }
    const char *on = NULL, *fsync = NULL;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *k = r->element[i], *v = r->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        if (strcmp(k->str, "appendonly") == 0)
            on = v->str;
        else if (strcmp(k->str, "appendfsync") == 0)
            fsync = v->str;
    }
    if (on && strcmp(on, "no") == 0)
        snprintf(c->aof, sizeof(c->aof), "off");
    else if (on && fsync &&
             (strcmp(fsync, "always") == 0 || strcmp(fsync, "everysec") == 0 ||
              strcmp(fsync, "no") == 0))
        snprintf(c->aof, sizeof(c->aof), "%s", fsync);
    else
        snprintf(c->aof, sizeof(c->aof), "unknown");
    load_next_script(c);
}

static void probe_aof(struct rq_client *c)
{
    const char *argv[3] = {"CONFIG", "GET", "append*"};
    size_t lens[3] = {6, 3, 7};
    c->scripts_loaded = 0;
    if (command_internal(c, 0, on_config_get, NULL, 3, argv, lens) != 0)
        rq_drop(c, "CONFIG GET could not be sent");
}

/* A refused AUTH or SELECT: the reason is the server's error text, which never holds the
 * password (only we sent it). */
static int handshake_refused(struct rq_client *c, const redisReply *r, const char *what)
{
    if (!r) {
        if (c->ac)
            rq_drop(c, what);
        return 1;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        c->auth_failed = 1;
        if (c->ac)
            rq_drop(c, r->str);
        return 1;
    }
    return 0;
}

static void on_select(struct rq_client *c, const redisReply *r, void *priv)
{
    (void)priv;
    if (!handshake_refused(c, r, "SELECT failed"))
        probe_aof(c);
}

static void send_select(struct rq_client *c)
{
    if (c->cfg.db == 0) {
        probe_aof(c);
        return;
    }
    char db[16];
    int n = snprintf(db, sizeof(db), "%d", c->cfg.db);
    const char *argv[2] = {"SELECT", db};
    size_t lens[2] = {6, (size_t)n};
    if (command_internal(c, 0, on_select, NULL, 2, argv, lens) != 0)
        rq_drop(c, "SELECT could not be sent");
}

static void on_auth(struct rq_client *c, const redisReply *r, void *priv)
{
    (void)priv;
    if (!handshake_refused(c, r, "AUTH failed"))
        send_select(c);
}

static void send_auth(struct rq_client *c)
{
    if (!c->password) {
        send_select(c);
        return;
    }
    const char *argv[3] = {"AUTH", c->user ? c->user : c->password, c->password};
    size_t lens[3] = {4, strlen(argv[1]), strlen(c->password)};
    if (command_internal(c, 0, on_auth, NULL, c->user ? 3 : 2, argv, lens) != 0)
        rq_drop(c, "AUTH could not be sent");
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct rq_client *c = ac->data;
    if (!c)
        return;
    evtimer_del(c->connect_timer);
    if (status != REDIS_OK) {
        /* hiredis frees the context after this callback. */
        c->ac = NULL;
        set_state(c, RQ_CLOSED, ac->errstr[0] ? ac->errstr : "connect failed");
        schedule_reconnect(c);
        return;
    }
    c->scripts_loaded = 0;
    set_state(c, RQ_LOADING, NULL);
    send_auth(c);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct rq_client *c = ac->data;
    (void)status;
    if (!c)
        return; /* dropped by us: already handled */
    c->ac = NULL;
    evtimer_del(c->connect_timer);
    set_state(c, RQ_CLOSED, ac->errstr[0] ? ac->errstr : "disconnected");
    schedule_reconnect(c);
}

static void on_connect_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    rq_drop(arg, "connect timeout");
}

static void on_reconnect(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    rq_connect(arg);
}

static void rq_connect(struct rq_client *c)
{
    redisAsyncContext *ac = c->unix_path ? redisAsyncConnectUnix(c->unix_path)
                                         : redisAsyncConnect(c->host, c->cfg.port);
    set_state(c, RQ_CONNECTING, NULL);
    if (!ac || ac->err) {
        set_state(c, RQ_CLOSED, ac ? ac->errstr : "out of memory");
        if (ac)
            redisAsyncFree(ac);
        schedule_reconnect(c);
        return;
    }
    ac->data = c;
    if (redisLibeventAttach(ac, c->base) != REDIS_OK ||
        redisAsyncSetConnectCallback(ac, on_connect) != REDIS_OK ||
        redisAsyncSetDisconnectCallback(ac, on_disconnect) != REDIS_OK) {
        ac->data = NULL;
        redisAsyncFree(ac);
        set_state(c, RQ_CLOSED, "attach failed");
        schedule_reconnect(c);
        return;
    }
    c->ac = ac;
    int64_t ms = c->cfg.connect_timeout_ms;
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    evtimer_add(c->connect_timer, &tv);
}

struct rq_client *rq_new(struct event_base *base, const struct rq_config *cfg, rq_state_cb on_state,
                         void *ud)
{
    if (cfg->nscripts > RQ_MAX_SCRIPTS)
        return NULL;
    struct rq_client *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->base = base;
    c->cfg = *cfg;
    c->on_state = on_state;
    c->ud = ud;
    c->backoff_ms = RQ_BACKOFF_MIN_MS;
    c->host = cfg->host ? strdup(cfg->host) : NULL;
    c->unix_path = cfg->unix_path ? strdup(cfg->unix_path) : NULL;
    c->user = cfg->user ? strdup(cfg->user) : NULL;
    c->password = cfg->password ? strdup(cfg->password) : NULL;
    snprintf(c->aof, sizeof(c->aof), "unknown");
    c->connect_timer = evtimer_new(base, on_connect_timeout, c);
    c->reconnect_timer = evtimer_new(base, on_reconnect, c);
    if ((cfg->host && !c->host) || (cfg->unix_path && !c->unix_path) || (cfg->user && !c->user) ||
        (cfg->password && !c->password) || !c->connect_timer || !c->reconnect_timer) {
        rq_free(c);
        return NULL;
    }
    c->cfg.host = c->host;
    c->cfg.unix_path = c->unix_path;
    c->cfg.user = c->user;
    c->cfg.password = c->password;
    rq_connect(c);
    return c;
}

void rq_free(struct rq_client *c)
{
    if (!c)
        return;
    c->freeing = 1;
    if (c->ac) {
        redisAsyncContext *ac = c->ac;
        c->ac = NULL;
        ac->data = NULL;
        redisAsyncFree(ac);
    }
    if (c->connect_timer)
        event_free(c->connect_timer);
    if (c->reconnect_timer)
        event_free(c->reconnect_timer);
    free(c->host);
    free(c->unix_path);
    free(c->user);
    if (c->password) /* a secret: not left behind in freed memory */
        OPENSSL_cleanse(c->password, strlen(c->password));
    free(c->password);
    free(c);
}

enum rq_state rq_get_state(const struct rq_client *c)
{
    return c->state;
}

int rq_is_ready(const struct rq_client *c)
{
    return c && c->state == RQ_READY;
}

const char *rq_name(const struct rq_client *c)
{
    return c->cfg.name;
}

size_t rq_inflight(const struct rq_client *c)
{
    return c->inflight;
}

const char *rq_aof(const struct rq_client *c)
{
    return c->aof;
}

int rq_auth_failed(const struct rq_client *c)
{
    return c->auth_failed;
}

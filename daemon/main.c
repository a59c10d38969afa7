/*
 * journeyd: receives webhooks, queues them durably in Redis, stitches identities and
 * serves customer journeys. One process, one libevent loop (DESIGN §1).
 *
 * Startup (STYLE B4): config → logging → event base → signals → Redis clients → worker →
 * HTTP → READY. Any failure before READY exits non-zero with a clear message; after
 * READY nothing exits but a signal. A graceful stop ends when the drain timer finds
 * ingest, the worker and the HTTP server idle: this file asks, no module calls back.
 */
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <event2/http.h>

#include "http.h"
#include "backfill.h"
#include "init.h"
#include "ingest.h"
#include "jd.h"
#include "log.h"
#include "notify.h"
#include "outbound.h"
#include "reconcile.h"
#include "outbox.h"
#include "retention.h"
#include "routes.h"
#include "ui.h"
#include "sources.h"
#include "util.h"
#include "worker.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: journeyd -c FILE            run\n"
                 "       journeyd --check-config -c FILE\n"
                 "       journeyd init [--dir DIR]    a config with fresh secrets\n"
                 "       journeyd backfill -c FILE --source NAME --since 90d\n"
                 "       journeyd --help-config       every config key, its default and use\n"
                 "       journeyd --version\n");
}

static void on_libevent_log(int severity, const char *msg)
{
    enum jlog_level l = severity >= EVENT_LOG_ERR    ? JLOG_ERROR
                        : severity >= EVENT_LOG_WARN ? JLOG_WARNING
                                                     : JLOG_DEBUG;
    char q[256];
    jlog(l, "msg=libevent detail=\"%s\"", jlog_quote(msg, strlen(msg), q, sizeof(q)));
}

static int all_ready(const struct jd *jd)
{
    return (!jd->rq_ingest || rq_is_ready(jd->rq_ingest)) &&
           (!jd->rq_worker || rq_is_ready(jd->rq_worker)) &&
           (!jd->rq_api || rq_is_ready(jd->rq_api));
}

static void on_redis_state(struct rq_client *c, enum rq_state s, const char *why, void *ud)
{
    struct jd *jd = ud;
    static const char *const names[] = {"closed", "connecting", "loading", "ready"};
    /* Up and down are logged once each, not on every failed reconnect attempt. */
    int *down = c == jd->rq_ingest   ? &jd->down_logged[0]
                : c == jd->rq_worker ? &jd->down_logged[1]
                                     : &jd->down_logged[2];
    if (s == RQ_CLOSED && !jd->ready_notified && rq_auth_failed(c)) {
        /* A wrong password, user or db does not heal by retrying: at start it is a
         * configuration error, said once with a non-zero exit, like any other. After READY
         * (the password changed under us) the loss is logged once below, requests get 503,
         * and the reconnects go on until someone fixes one side. */
        char q[256];
        fprintf(stderr, "journeyd: redis refused the connection set-up (AUTH or SELECT): \"%s\"\n",
                jlog_quote(why ? why : "", why ? strlen(why) : 0, q, sizeof(q)));
        jd->fatal = 1;
        event_base_loopbreak(jd->base);
        return;
    }
    int *refused = c == jd->rq_ingest   ? &jd->refused_logged[0]
                   : c == jd->rq_worker ? &jd->refused_logged[1]
                                        : &jd->refused_logged[2];
    if (s == RQ_CLOSED && rq_auth_failed(c) && !*refused) {
        /* The password changed under us: said once, however often the reconnect is refused. */
        char q[256];
        *refused = 1;
        jlog(JLOG_ERROR, "msg=\"redis refused AUTH or SELECT\" connection=%s reason=\"%s\"",
             rq_name(c), jlog_quote(why ? why : "", why ? strlen(why) : 0, q, sizeof(q)));
    }
    if (s == RQ_READY) {
        jlog(JLOG_NOTICE, "msg=\"redis ready\" connection=%s aof=%s", rq_name(c), rq_aof(c));
        *down = 0;
        *refused = 0;
        if (strcmp(rq_aof(c), "off") != 0)
            jd->aof_off_warned = 0;
        else if (!jd->aof_off_warned) {
            jd->aof_off_warned = 1;
            jlog(JLOG_WARNING,
                 "msg=\"redis append-only file is off: an acknowledged event is "
                 "lost if redis restarts\" connection=%s",
                 rq_name(c));
        }
    } else if (s == RQ_CLOSED && !*down) {
        /* why may be the server's own error text (a refused AUTH): quoted. */
        char q[256];
        *down = 1;
        jlog(JLOG_NOTICE, "msg=\"redis unavailable\" connection=%s reason=\"%s\"", rq_name(c),
             jlog_quote(why ? why : "", why ? strlen(why) : 0, q, sizeof(q)));
    } else
        jlog(JLOG_DEBUG, "msg=\"redis state\" connection=%s state=%s", rq_name(c), names[s]);
    if (c == jd->rq_worker && jd->worker)
        worker_on_redis_state(jd->worker, s);
    if (s == RQ_READY && !jd->ready_notified && all_ready(jd)) {
        jd->ready_notified = 1;
        notify_ready();
        jlog(JLOG_NOTICE, "msg=ready");
    }
}

/* A graceful stop is over when no webhook waits for Redis, the worker has no entry in
 * hand and no connection is mid-request. Polled on the drain timer (pgbouncer's janitor):
 * the modules never call up here to say they are done. */
static void exit_if_drained(struct jd *jd)
{
    if (ingest_is_idle(jd) && worker_is_idle(jd->worker) &&
        (!jd->http || http_busy_connections(jd->http) == 0))
        event_base_loopexit(jd->base, NULL);
}

static void on_drain_timer(evutil_socket_t fd, short what, void *arg)
{
    struct jd *jd = arg;
    (void)fd;
    (void)what;
    if (jd_mono_ms() >= jd->drain_deadline_ms) {
        jlog(JLOG_WARNING, "msg=\"drain deadline passed, stopping anyway\" inflight=%zu",
             jd->ingest_inflight);
        event_base_loopexit(jd->base, NULL);
        return;
    }
    exit_if_drained(jd);
}

static void on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
    struct jd *jd = arg;
    (void)what;
    if (jd->stopping) {
        /* A second TERM: stop at once (pgbouncer's two-stage stop). */
        jlog(JLOG_NOTICE, "msg=\"second stop signal, exiting now\"");
        event_base_loopbreak(jd->base);
        return;
    }
    jlog(JLOG_NOTICE, "msg=stopping signal=%d", (int)sig);
    jd->stopping = 1;
    notify_stopping();
    http_stop_accepting(jd->http);
    if (jd->worker)
        worker_stop(jd->worker);
    jd->drain_deadline_ms = jd_mono_ms() + jd->cfg->drain_timeout_ms;
    jd->drain_timer = event_new(jd->base, -1, EV_PERSIST, on_drain_timer, jd);
    struct timeval tv = {0, 50 * 1000};
    if (!jd->drain_timer || event_add(jd->drain_timer, &tv) != 0)
        event_base_loopexit(jd->base, NULL);
    exit_if_drained(jd);
}

static void setup_builtin_sources(struct jd *jd);

/* Report periods and business hours follow the configured zone (DESIGN §6b): the libc
 * local time is that zone, so localtime_r/mktime handle DST. Logs carry no local times. */
static void apply_timezone(const struct cfg *c)
{
    if (setenv("TZ", c->timezone && c->timezone[0] ? c->timezone : "UTC", 1) == 0)
        tzset();
}

/* SIGHUP: parse the file into a new config; on any error keep the old one (nginx's cycle
 * rule, pgbouncer's reload). Nothing in flight borrows from the old config across a
 * callback, so it is freed at once. */
static void on_hup(evutil_socket_t sig, short what, void *arg)
{
    struct jd *jd = arg;
    (void)sig;
    (void)what;
    struct cfg_err err = {{0}};
    struct cfg *fresh = cfg_load(jd->config_path, &err);
    if (!fresh) {
        char q[300];
        jlog(JLOG_ERROR, "msg=\"reload refused, keeping the running config\" error=\"%s\"",
             jlog_quote(err.msg, strlen(err.msg), q, sizeof(q)));
        jd->metrics.n.reload_failures++;
        return;
    }
    notify_reloading();
    struct cfg *old = jd->cfg;
    char restart[256];
    if (cfg_restart_changes(old, fresh, restart, sizeof(restart)) > 0)
        jlog(JLOG_WARNING, "msg=\"changed keys take effect only on restart\" keys=\"%s\"", restart);
    jd->cfg = fresh;
    setup_builtin_sources(jd);
    http_apply_limits(jd->http, fresh);
    jlog_set_level((enum jlog_level)jlog_parse_level(fresh->log_level));
    apply_timezone(fresh);
    cfg_free(old);
    jd->metrics.n.reloads++;
    jlog(JLOG_NOTICE, "msg=reloaded sources=%zu", fresh->nsources);
    notify_ready();
}

/* hiredis resolves names with a blocking call on every reconnect: resolve once here. */
static int resolve_redis_host(struct cfg *c, char *out, size_t cap)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(c->redis_host, NULL, &hints, &res) != 0 || !res)
        return -1;
    int rc =
        getnameinfo(res->ai_addr, res->ai_addrlen, out, (socklen_t)cap, NULL, 0, NI_NUMERICHOST);
    freeaddrinfo(res);
    return rc == 0 ? 0 : -1;
}

static struct rq_client *new_redis(struct jd *jd, const char *name, const char *host)
{
    struct rq_config rc = {
        .name = name,
        .host = jd->cfg->redis_unix ? NULL : host,
        .port = jd->cfg->redis_port,
        .unix_path = jd->cfg->redis_unix,
        .user = jd->cfg->redis_user,
        .password = jd->cfg->redis_password,
        .db = jd->cfg->redis_db,
        .connect_timeout_ms = jd->cfg->redis_connect_timeout_ms,
        .command_timeout_ms = jd->cfg->redis_timeout_ms,
        .scripts = jd_scripts,
        .nscripts = JD_NSCRIPTS,
    };
    return rq_new(jd->base, &rc, on_redis_state, jd);
}

static void setup_builtin_sources(struct jd *jd)
{
    struct cfg *c = jd->cfg;
    memset(&jd->events_source, 0, sizeof(jd->events_source));
    memset(&jd->click_source, 0, sizeof(jd->click_source));
    jd->events_source.name = "events";
    jd->events_source.type = "events";
    /* Its bearer token is the API's, checked with its scope by the route (routes.c): a
     * copy here held only the first CX_MAX_SECRETS of CFG_MAX_TOKENS. */
    jd->events_source.authenticated_by_door = 1;
    jd->events_source.default_country_code = c->default_country_code;
    jd->events_source.channels = &c->channels;
    jd->click_source.name = "click";
    jd->click_source.type = "click";
    jd->click_source.default_country_code = c->default_country_code;
    jd->click_source.channels = &c->channels;
}

/* Which Graph API version each Meta source calls: Meta retires versions on a schedule, and
 * the operator should see the one in use before a look-up starts failing. */
static void log_graph_versions(const struct cfg *c)
{
    for (size_t i = 0; i < c->nsources; i++) {
        const struct cfg_source *s = &c->sources[i];
        if (strcmp(s->type, "meta_leads") != 0)
            continue;
        if (s->api_base && s->api_base[0])
            jlog(JLOG_NOTICE, "msg=\"graph api\" source=%s api_base=set", s->name);
        else
            jlog(JLOG_NOTICE, "msg=\"graph api\" source=%s graph_version=%s", s->name,
                 s->graph_version && s->graph_version[0] ? s->graph_version
                                                         : CX_META_GRAPH_VERSION);
    }
}

static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void jd_free(struct jd *jd)
{
    ingest_free(jd);
    /* Callers before callees: failing the pending look-ups and Redis commands calls back
     * into the worker and answers the requests still waiting (503), so the worker and the
     * HTTP server (which owns those requests) go last. */
    outbound_free(jd->outbound);
    rq_free(jd->rq_ingest);
    rq_free(jd->rq_worker);
    rq_free(jd->rq_api);
    /* After the Redis clients: failing a slice in flight calls back into it. */
    RETENTION_FREE(jd->retention);
    RECONCILE_FREE(jd->reconcile);
    OUTBOX_FREE(jd->outbox);
    worker_free(jd->worker);
    http_free(jd->http);
    sources_free(jd->sources); /* after the Redis clients: a failed write puts back into it */
    ui_free(jd->ui);
    if (jd->drain_timer)
        event_free(jd->drain_timer);
    if (jd->sig_term)
        event_free(jd->sig_term);
    if (jd->sig_int)
        event_free(jd->sig_int);
    if (jd->sig_hup)
        event_free(jd->sig_hup);
    notify_free();
    if (jd->base)
        event_base_free(jd->base);
    CFG_FREE(jd->cfg);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"check-config", no_argument, NULL, 'k'},
        {"help-config", no_argument, NULL, 'r'},  {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    /* A subcommand, not an option: it writes files and never runs the daemon. */
    if (argc >= 2 && strcmp(argv[1], "init") == 0)
        return jd_init_main(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "backfill") == 0)
        return jd_backfill_main(argc - 1, argv + 1);
    const char *path = NULL;
    int check_only = 0, opt;
    while ((opt = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            path = optarg;
            break;
        case 'k':
            check_only = 1;
            break;
        case 'r':
            cfg_print_reference(stdout);
            return 0;
        case 'V':
            printf("journeyd 0.1.0\n");
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!path || optind != argc) {
        usage(stderr);
        return 2;
    }

    struct cfg_err cerr = {{0}};
    struct jd jd = {0};
    jd.cfg = cfg_load(path, &cerr);
    if (!jd.cfg) {
        fprintf(stderr, "journeyd: %s\n", cerr.msg);
        return 1;
    }
    jd.config_path = path;
    jd.started_ms = jd_now_ms();
    if (check_only) {
        printf("journeyd: %s: OK (%zu sources)\n", path, jd.cfg->nsources);
        CFG_FREE(jd.cfg);
        return 0;
    }
    jlog_set_level((enum jlog_level)jlog_parse_level(jd.cfg->log_level));
    apply_timezone(jd.cfg);
    event_set_log_callback(on_libevent_log);
    /* Once, before any other libcurl call and before any thread could exist. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "journeyd: libcurl failed to initialize\n");
        CFG_FREE(jd.cfg);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();

    const char *roles = jd.cfg->roles;
    jd.roles_ingest = strstr(roles, "ingest") != NULL;
    jd.roles_worker = strstr(roles, "worker") != NULL;
    jd.roles_api = strstr(roles, "api") != NULL;
    setup_builtin_sources(&jd);

    char host[NI_MAXHOST] = "";
    int rc = 1;
    if (!jd.cfg->redis_unix && resolve_redis_host(jd.cfg, host, sizeof(host)) != 0) {
        fprintf(stderr, "journeyd: cannot resolve redis host '%s'\n", jd.cfg->redis_host);
        goto out;
    }
    jd.base = event_base_new();
    if (!jd.base) {
        fprintf(stderr, "journeyd: cannot create the event loop\n");
        goto out;
    }
    jd.sig_term = evsignal_new(jd.base, SIGTERM, on_stop_signal, &jd);
    jd.sig_int = evsignal_new(jd.base, SIGINT, on_stop_signal, &jd);
    jd.sig_hup = evsignal_new(jd.base, SIGHUP, on_hup, &jd);
    if (!jd.sig_term || !jd.sig_int || !jd.sig_hup || evsignal_add(jd.sig_term, NULL) != 0 ||
        evsignal_add(jd.sig_int, NULL) != 0 || evsignal_add(jd.sig_hup, NULL) != 0) {
        fprintf(stderr, "journeyd: cannot install signal handlers\n");
        goto out;
    }
    if (jd.roles_worker && !(jd.worker = worker_new(&jd)))
        goto oom;
    if (jd.roles_worker) {
        struct outbound_config oc = {
            .max_transfers = jd.cfg->outbound_max_transfers,
            .max_queued = jd.cfg->outbound_max_queued,
            .timeout_ms = jd.cfg->outbound_timeout_ms,
            .connect_timeout_ms =
                jd.cfg->outbound_timeout_ms < 5000 ? jd.cfg->outbound_timeout_ms : 5000,
            .max_attempts = (int)jd.cfg->outbound_attempts,
            .backoff_ms = jd.cfg->outbound_backoff_ms,
            .max_backoff_ms = 60000,
        };
        if (!(jd.outbound = outbound_new(jd.base, &oc)))
            goto out;
    }
    if (jd.roles_ingest && !(jd.rq_ingest = new_redis(&jd, "ingest", host)))
        goto oom;
    if (jd.roles_worker && !(jd.rq_worker = new_redis(&jd, "worker", host)))
        goto oom;
    if (jd.roles_api && !(jd.rq_api = new_redis(&jd, "api", host)))
        goto oom;
    if (jd.roles_api && !(jd.ui = ui_new()))
        goto oom;
    if (jd.roles_ingest && !(jd.sources = sources_new()))
        goto oom;
    if (jd.roles_ingest && ingest_start(&jd) != 0)
        goto oom;
    /* Retention runs where events are written; it does nothing while `retention` is 0. */
    if (jd.roles_worker && !(jd.retention = retention_new(&jd)))
        goto oom;
    /* Reconciliation reads providers through the look-ups' outbound handle. */
    if (jd.roles_worker && !(jd.reconcile = reconcile_new(&jd)))
        goto oom;
    if (jd.roles_worker && !(jd.outbox = outbox_new(&jd)))
        goto oom;
    if ((jd.roles_ingest || jd.roles_api) &&
        !(jd.http = http_start(jd.base, jd.cfg, routes_dispatch, &jd))) {
        fprintf(stderr, "journeyd: cannot start the HTTP listener on %s:%d\n", jd.cfg->listen_host,
                jd.cfg->listen_port);
        goto out;
    }
    if (notify_watchdog_start(jd.base) != 0)
        goto oom;
    log_graph_versions(jd.cfg);
    jlog(JLOG_NOTICE, "msg=started version=0.1.0 sources=%zu roles=\"%s\"", jd.cfg->nsources,
         roles);
    if (event_base_dispatch(jd.base) < 0) {
        jlog(JLOG_ERROR, "msg=\"event loop failed\"");
        goto out;
    }
    if (jd.fatal)
        goto out;
    jlog(JLOG_NOTICE, "msg=stopped accepted=%llu applied=%llu duplicates=%llu",
         (unsigned long long)jd.metrics.n.accepted, (unsigned long long)jd.metrics.n.applied,
         (unsigned long long)jd.metrics.n.duplicates);
    rc = 0;
    goto out;
oom:
    fprintf(stderr, "journeyd: out of memory at startup\n");
out:
    jd_free(&jd);
    curl_global_cleanup();
    return rc;
}

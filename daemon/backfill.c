/*
 * `journeyd backfill -c FILE --source NAME --since 90d`: reads a source's history back
 * from the provider's API (daemon/reconcile.c, one walk) and queues it on the raw stream,
 * where the running journeyd applies it like any webhook: the event ids' dedup keeps what
 * is already there untouched. A progress line per page on stderr; the cursor is in Redis
 * (jd:backfill:<source>), so running the same command again after an interruption goes on
 * where it stopped, and once a backfill is done the next one starts over.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "backfill.h"
#include "common.h"
#include "jd.h"
#include "listing.h"
#include "log.h"
#include "outbound.h"
#include "reconcile.h"
#include "util.h"

static void usage(FILE *out)
{
    fputs("usage: journeyd backfill -c FILE --source NAME --since AGE|DATE\n"
          "       AGE: 90d, 12w, 36h; DATE: 2026-09-01 or an RFC 3339 instant\n",
          out);
}

struct bf {
    struct event_base *base;
    int rc;
    int said; /* a progress line was printed */
};

static void on_progress(const struct reconcile_progress *p, void *ud)
{
    struct bf *bf = ud;
    char since[32];
    cx_format_rfc3339(p->since_s * 1000, since);
    if (p->done < 0) {
        fprintf(stderr, "backfill %s: failed: %s (run it again to resume)\n", p->source,
                p->why ? p->why : "");
        bf->rc = 1;
    } else if (!bf->said && !p->done && p->pages > 0)
        fprintf(stderr,
                "backfill %s: resuming the backfill since %s: %llu pages, %llu events "
                "queued before, at %s\n",
                p->source, since, (unsigned long long)p->pages, (unsigned long long)p->fetched,
                p->after ? p->after : "");
    else
        fprintf(stderr, "backfill %s: since %s: %llu pages, %llu events queued%s%s\n", p->source,
                since, (unsigned long long)p->pages, (unsigned long long)p->fetched,
                p->done                   ? ", done"
                : p->after && p->after[0] ? ", at "
                                          : "",
                p->done    ? ""
                : p->after ? p->after
                           : "");
    bf->said = 1;
    if (p->done) {
        if (p->done > 0)
            fprintf(stderr,
                    "backfill %s: the running journeyd applies them; "
                    "journeyd_reconciled_total counts the new ones\n",
                    p->source);
        event_base_loopexit(bf->base, NULL);
    }
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct bf *bf = arg;
    (void)sig;
    (void)what;
    fprintf(stderr, "backfill: interrupted; the cursor is saved, run it again to resume\n");
    bf->rc = 1;
    event_base_loopbreak(bf->base);
}

int jd_backfill_main(int argc, char **argv)
{
    const char *path = NULL, *source = NULL, *since = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
            path = argv[++i];
        else if (strcmp(argv[i], "--source") == 0 && i + 1 < argc)
            source = argv[++i];
        else if (strcmp(argv[i], "--since") == 0 && i + 1 < argc)
            since = argv[++i];
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    int64_t since_s;
    if (!path || !source || !since) {
        usage(stderr);
        return 2;
    }
    if (reconcile_parse_since(since, jd_now_ms() / 1000, &since_s) != 0) {
        fprintf(stderr, "journeyd backfill: --since wants an age (90d, 12w, 36h) or a date\n");
        return 2;
    }
    struct cfg_err cerr = {{0}};
    struct jd jd = {0};
    struct bf bf = {NULL, 0, 0};
    struct reconcile *r = NULL;
    struct event *sig_int = NULL, *sig_term = NULL;
    int rc = 1;
    jd.cfg = cfg_load(path, &cerr);
    if (!jd.cfg) {
        fprintf(stderr, "journeyd backfill: %s\n", cerr.msg);
        return 1;
    }
    const struct cfg_source *s = cfg_find_source(jd.cfg, source);
    if (!s || !cx_list_supported(s->type) || !s->api_token || !s->api_token[0] ||
        cx_list_nforms(&s->cx) == 0) {
        fprintf(stderr, "journeyd backfill: [source %s] %s\n", source,
                !s ? "is not in the config"
                : !cx_list_supported(s->type)
                    ? "has no list API to read (stripe, shopify, meta_leads, pipedrive, "
                      "hubspot)"
                : !s->api_token || !s->api_token[0] ? "needs api_token"
                                                    : "needs forms (the lead form ids to read)");
        CFG_FREE(jd.cfg);
        return 1;
    }
    jlog_set_level((enum jlog_level)jlog_parse_level(jd.cfg->log_level));
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "journeyd backfill: libcurl failed to initialize\n");
        CFG_FREE(jd.cfg);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    jd.base = bf.base = event_base_new();
    if (!jd.base)
        goto out;
    struct outbound_config oc = {
        .max_transfers = 1,
        .max_queued = 4,
        .timeout_ms = jd.cfg->outbound_timeout_ms,
        .connect_timeout_ms =
            jd.cfg->outbound_timeout_ms < 5000 ? jd.cfg->outbound_timeout_ms : 5000,
        .max_attempts = (int)jd.cfg->outbound_attempts,
        .backoff_ms = jd.cfg->outbound_backoff_ms,
        .max_backoff_ms = 60000,
    };
    if (!(jd.outbound = outbound_new(jd.base, &oc)))
        goto out;
    struct rq_config rqc = {
        .name = "backfill",
        .host = jd.cfg->redis_unix ? NULL : jd.cfg->redis_host,
        .port = jd.cfg->redis_port,
        .unix_path = jd.cfg->redis_unix,
        .user = jd.cfg->redis_user,
        .password = jd.cfg->redis_password,
        .db = jd.cfg->redis_db,
        .connect_timeout_ms = jd.cfg->redis_connect_timeout_ms,
        .command_timeout_ms = jd.cfg->redis_timeout_ms,
        .scripts = jd_scripts,
        .nscripts = JD_NSCRIPTS,
    };
    if (!(jd.rq_api = rq_new(jd.base, &rqc, NULL, NULL)))
        goto out;
    sig_int = evsignal_new(jd.base, SIGINT, on_signal, &bf);
    sig_term = evsignal_new(jd.base, SIGTERM, on_signal, &bf);
    if (!sig_int || !sig_term || evsignal_add(sig_int, NULL) != 0 ||
        evsignal_add(sig_term, NULL) != 0)
        goto out;
    if (!(r = reconcile_backfill_new(&jd, source, since_s, on_progress, &bf)))
        goto out;
    if (event_base_dispatch(jd.base) < 0)
        goto out;
    rc = bf.rc;
out:
    if (rc && !bf.rc)
        fprintf(stderr, "journeyd backfill: could not start (out of memory or no event loop)\n");
    outbound_free(jd.outbound);
    rq_free(jd.rq_api);
    RECONCILE_FREE(r);
    if (sig_int)
        event_free(sig_int);
    if (sig_term)
        event_free(sig_term);
    if (jd.base)
        event_base_free(jd.base);
    CFG_FREE(jd.cfg);
    curl_global_cleanup();
    return rc;
}

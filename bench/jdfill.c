/*
 * jdfill: the stitching benchmark's Redis side (hiredis, pipelined).
 *
 *   jdfill fill  --port P [--contacts N] [--seed S] [--heavy H] [--paths FILE]
 *       writes a synthetic month straight into the raw stream, in the exact record format
 *       of daemon/ingest.c (XADD jd:raw * src <name> type <type> recv <ms>
 *       [h:<header> <value>]... body <bytes>): ad clicks, events API batches, website forms
 *       and Stripe events, shuffled, with ~10% provider retries; the first H contacts get
 *       100-event journeys, and --paths lists their /v1/journey URLs (for the query test)
 *   jdfill drain --port P [--timeout S]
 *       waits until the raw stream is empty and nothing is pending; prints the events
 *       applied (HLEN jd:ev) per second
 *   jdfill lag   --port P --seconds D [--settle S]
 *       samples the raw stream length every second for D seconds, then until it is back
 *       to zero (at most S more seconds); prints the samples and a summary
 *   jdfill stats --port P
 *       used_memory, stored events, contacts, raw stream length
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "synth.h"

#define PIPELINE 1000

struct opts {
    const char *host;
    int port, contacts, heavy, timeout, seconds, settle;
    uint64_t seed;
    const char *paths, *form_source, *stripe_source;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static redisContext *connect_redis(const struct opts *o)
{
    struct timeval tv = {5, 0};
    redisContext *c = redisConnectWithTimeout(o->host, o->port, tv);
    if (!c || c->err) {
        fprintf(stderr, "jdfill: cannot connect to %s:%d: %s\n", o->host, o->port,
                c ? c->errstr : "out of memory");
        exit(1);
    }
    return c;
}

static redisReply *cmd(redisContext *c, int argc, const char **argv)
{
    redisReply *r = redisCommandArgv(c, argc, argv, NULL);
    if (!r) {
        fprintf(stderr, "jdfill: redis: %s\n", c->errstr);
        exit(1);
    }
    return r;
}

static long long int_cmd(redisContext *c, int argc, const char **argv)
{
    redisReply *r = cmd(c, argc, argv);
    long long v = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    return v;
}

static long long xlen(redisContext *c)
{
    const char *a[] = {"XLEN", "jd:raw"};
    return int_cmd(c, 2, a);
}

static long long pending(redisContext *c)
{
    const char *a[] = {"XPENDING", "jd:raw", "jd"};
    redisReply *r = cmd(c, 3, a);
    long long v = 0; /* no group yet: nothing pending */
    if (r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
        r->element[0]->type == REDIS_REPLY_INTEGER)
        v = r->element[0]->integer;
    freeReplyObject(r);
    return v;
}

static long long stored_events(redisContext *c)
{
    const char *a[] = {"HLEN", "jd:ev"};
    return int_cmd(c, 2, a);
}

static int fill(const struct opts *o)
{
    redisContext *c = connect_redis(o);
    struct sy_month m = {0};
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    int64_t now_ms = (int64_t)rt.tv_sec * 1000 + rt.tv_nsec / 1000000;
    struct sy_opts so = {
        .seed = o->seed,
        .contacts = o->contacts,
        .heavy = o->heavy,
        .types = SY_CORE,
        .month_start_ms = now_ms - 31LL * 86400 * 1000,
        .raw_clicks = 1,
        .dup_rate = 0.10,
    };
    double t0 = now_s();
    if (sy_month_build(&so, &m) != 0)
        return 2;
    sy_month_shuffle(&m, o->seed);
    double t1 = now_s();
    char recv[24];
    snprintf(recv, sizeof(recv), "%" PRId64, now_ms);
    size_t queued = 0, bytes = 0;
    for (size_t i = 0; i < m.n; i++) {
        const struct sy_delivery *d = &m.v[i];
        const char *src = d->type == SY_FORM     ? o->form_source
                          : d->type == SY_STRIPE ? o->stripe_source
                                                 : sy_type_names[d->type];
        const char *argv[13];
        size_t lens[13];
        int n = 0;
#define ARG(s, l)                                                                                  \
    do {                                                                                           \
        argv[n] = (s);                                                                             \
        lens[n] = (l);                                                                             \
        n++;                                                                                       \
    } while (0)
        ARG("XADD", 4);
        ARG("jd:raw", 6);
        ARG("*", 1);
        ARG("src", 3);
        ARG(src, strlen(src));
        ARG("type", 4);
        ARG(sy_type_names[d->type], strlen(sy_type_names[d->type]));
        ARG("recv", 4);
        ARG(recv, strlen(recv));
        if (d->type == SY_FORM) {
            /* The form connector keeps its Content-Type (cx_form.keep_headers). */
            ARG("h:content-type", 14);
            ARG("application/json", 16);
        }
        ARG("body", 4);
        ARG(d->body, d->len);
#undef ARG
        if (redisAppendCommandArgv(c, n, argv, lens) != REDIS_OK) {
            fprintf(stderr, "jdfill: %s\n", c->errstr);
            return 1;
        }
        bytes += d->len;
        if (++queued == PIPELINE || i + 1 == m.n) {
            for (size_t k = 0; k < queued; k++) {
                void *r = NULL;
                if (redisGetReply(c, &r) != REDIS_OK) {
                    fprintf(stderr, "jdfill: %s\n", c->errstr);
                    return 1;
                }
                if (((redisReply *)r)->type == REDIS_REPLY_ERROR) {
                    fprintf(stderr, "jdfill: XADD: %s\n", ((redisReply *)r)->str);
                    return 1;
                }
                freeReplyObject(r);
            }
            queued = 0;
        }
    }
    double t2 = now_s();
    size_t dups = 0;
    for (size_t i = 0; i < m.n; i++)
        dups += m.v[i].duplicate;
    printf("fill entries=%zu retries=%zu events=%" PRId64
           " contacts=%d heavy=%d body_bytes=%zu generate_s=%.1f write_s=%.1f\n",
           m.n, dups, m.events, o->contacts, o->heavy, bytes, t1 - t0, t2 - t1);
    if (o->paths) {
        FILE *f = fopen(o->paths, "w");
        if (!f) {
            perror(o->paths);
            return 1;
        }
        for (int i = 0; i < o->heavy; i++) {
            char email[128];
            sy_contact_email(o->seed, i, email, sizeof(email));
            char *at = strchr(email, '@');
            if (at)
                *at = '\0';
            fprintf(f, "/v1/journey?email=%s%%40%s\n", email, at ? at + 1 : "");
        }
        fclose(f);
    }
    sy_month_free(&m);
    redisFree(c);
    return 0;
}

static int drain(const struct opts *o)
{
    redisContext *c = connect_redis(o);
    long long ev0 = stored_events(c), raw0 = xlen(c);
    double t0 = now_s(), last = t0;
    long long last_ev = ev0;
    for (;;) {
        long long len = xlen(c), pend = pending(c);
        double t = now_s();
        if (len == 0 && pend == 0)
            break;
        if (t - t0 > o->timeout) {
            long long ev = stored_events(c);
            printf("drain timeout=1 seconds=%.2f events=%lld events_per_s=%.0f raw_left=%lld\n",
                   t - t0, ev - ev0, (double)(ev - ev0) / (t - t0), len);
            redisFree(c);
            return 1;
        }
        if (t - last >= 10) {
            long long ev = stored_events(c);
            fprintf(stderr, "  drain: %.0f s, raw %lld, pending %lld, %.0f events/s lately\n",
                    t - t0, len, pend, (double)(ev - last_ev) / (t - last));
            last = t;
            last_ev = ev;
        }
        usleep(50000);
    }
    double secs = now_s() - t0;
    long long ev = stored_events(c);
    printf("drain seconds=%.2f entries=%lld events=%lld events_per_s=%.0f\n", secs, raw0, ev - ev0,
           secs > 0 ? (double)(ev - ev0) / secs : 0.0);
    redisFree(c);
    return 0;
}

static int lag(const struct opts *o)
{
    redisContext *c = connect_redis(o);
    double t0 = now_s();
    long long max = 0, at_end = -1, len = 0;
    int k = 0;
    fprintf(stderr, "  lag (raw stream length + pending) each second:");
    for (;; k++) {
        double target = t0 + k;
        while (now_s() < target)
            usleep(20000);
        len = xlen(c) + pending(c);
        if (len > max)
            max = len;
        fprintf(stderr, " %lld", len);
        if (k == o->seconds)
            at_end = len;
        if (k >= o->seconds && len == 0)
            break;
        if (k >= o->seconds + o->settle)
            break;
    }
    fprintf(stderr, "\n");
    if (len == 0)
        printf("lag max=%lld at_load_end=%lld zero_after_s=%d\n", max, at_end, k - o->seconds);
    else
        printf("lag max=%lld at_load_end=%lld zero_after_s=-1 left=%lld\n", max, at_end, len);
    redisFree(c);
    return 0;
}

static int stats(const struct opts *o)
{
    redisContext *c = connect_redis(o);
    const char *info[] = {"INFO", "memory"};
    redisReply *r = cmd(c, 2, info);
    long long used = -1;
    const char *p = r->type == REDIS_REPLY_STRING ? strstr(r->str, "used_memory:") : NULL;
    if (p)
        used = strtoll(p + 12, NULL, 10);
    freeReplyObject(r);
    /* Contacts: the jd:c:<id> hashes (their :ids, :j, ... companions have a third colon). */
    long long contacts = 0;
    char cursor[32] = "0";
    do {
        const char *a[] = {"SCAN", cursor, "MATCH", "jd:c:*", "COUNT", "10000"};
        r = cmd(c, 6, a);
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2)
            break;
        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        for (size_t i = 0; i < r->element[1]->elements; i++)
            if (!strchr(r->element[1]->element[i]->str + 5, ':'))
                contacts++;
        freeReplyObject(r);
        r = NULL;
    } while (strcmp(cursor, "0") != 0);
    if (r)
        freeReplyObject(r);
    printf("stats used_memory=%lld events=%lld contacts=%lld raw=%lld\n", used, stored_events(c),
           contacts, xlen(c));
    redisFree(c);
    return 0;
}

int main(int argc, char **argv)
{
    struct opts o = {
        .host = "127.0.0.1",
        .port = 6379,
        .contacts = 100000,
        .heavy = -1,
        .timeout = 1800,
        .seconds = 30,
        .settle = 120,
        .seed = 1,
        .form_source = "site",
        .stripe_source = "stripe",
    };
    static const struct option lo[] = {{"host", required_argument, NULL, 'h'},
                                       {"port", required_argument, NULL, 'p'},
                                       {"contacts", required_argument, NULL, 'n'},
                                       {"heavy", required_argument, NULL, 'H'},
                                       {"seed", required_argument, NULL, 's'},
                                       {"paths", required_argument, NULL, 'P'},
                                       {"timeout", required_argument, NULL, 't'},
                                       {"seconds", required_argument, NULL, 'd'},
                                       {"settle", required_argument, NULL, 'S'},
                                       {"form-source", required_argument, NULL, 'f'},
                                       {"stripe-source", required_argument, NULL, 'r'},
                                       {NULL, 0, NULL, 0}};
    if (argc < 2) {
        fprintf(stderr, "usage: jdfill fill|drain|lag|stats --port P [options]\n");
        return 2;
    }
    const char *what = argv[1];
    optind = 2;
    int ch;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (ch) {
        case 'h':
            o.host = optarg;
            break;
        case 'p':
            o.port = (int)strtol(optarg, NULL, 10);
            break;
        case 'n':
            o.contacts = (int)strtol(optarg, NULL, 10);
            break;
        case 'H':
            o.heavy = (int)strtol(optarg, NULL, 10);
            break;
        case 's':
            o.seed = strtoull(optarg, NULL, 10);
            break;
        case 'P':
            o.paths = optarg;
            break;
        case 't':
            o.timeout = (int)strtol(optarg, NULL, 10);
            break;
        case 'd':
            o.seconds = (int)strtol(optarg, NULL, 10);
            break;
        case 'S':
            o.settle = (int)strtol(optarg, NULL, 10);
            break;
        case 'f':
            o.form_source = optarg;
            break;
        case 'r':
            o.stripe_source = optarg;
            break;
        default:
            return 2;
        }
    }
    if (o.heavy < 0)
        o.heavy = o.contacts / 100;
    if (strcmp(what, "fill") == 0)
        return fill(&o);
    if (strcmp(what, "drain") == 0)
        return drain(&o);
    if (strcmp(what, "lag") == 0)
        return lag(&o);
    if (strcmp(what, "stats") == 0)
        return stats(&o);
    fprintf(stderr, "jdfill: unknown command %s\n", what);
    return 2;
}

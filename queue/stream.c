/*
 * The raw stream: encodes a webhook as a stream record and decodes it back, and sends the
 * stream commands (add, group create, read, pending, claim, dead-letter, discard, replay,
 * status) with their exact argument lists, so the wire format is written in this one
 * file. Arguments always go binary-safe through rq_command / rq_eval: bodies may hold '%'
 * and NULs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scripts.h"
#include "stream.h"

/* Fills the lengths of argc NUL-terminated arguments. */
static void set_lens(const char *const *argv, size_t *lens, int argc)
{
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
}

void stream_encode(const struct stream_record *rec, struct stream_xadd *out)
{
    int argc = 0;
#define ARG(s, l)                                                                                  \
    do {                                                                                           \
        out->argv[argc] = (s);                                                                     \
        out->lens[argc] = (l);                                                                     \
        argc++;                                                                                    \
    } while (0)
    snprintf(out->recv, sizeof(out->recv), "%lld", (long long)rec->recv_ms);
    ARG("XADD", 4);
    ARG(JD_RAW_STREAM, strlen(JD_RAW_STREAM));
    ARG("*", 1);
    ARG("src", 3);
    ARG(rec->src, strlen(rec->src));
    ARG("type", 4);
    ARG(rec->type, strlen(rec->type));
    ARG("recv", 4);
    ARG(out->recv, strlen(out->recv));
    for (size_t k = 0; k < rec->nheaders && k < STREAM_MAX_HEADERS; k++) {
        snprintf(out->hnames[k], sizeof(out->hnames[k]), "h:%s", rec->headers[k].name);
        ARG(out->hnames[k], strlen(out->hnames[k]));
        ARG(rec->headers[k].value, strlen(rec->headers[k].value));
    }
    ARG("body", 4);
    ARG(rec->body, rec->body_len);
#undef ARG
    out->argc = argc;
}

int stream_add(struct rq_client *c, const struct stream_record *rec, rq_reply_cb cb, void *priv)
{
    struct stream_xadd x;
    stream_encode(rec, &x);
    return rq_command(c, 0, cb, priv, x.argc, x.argv, x.lens);
}

/* Finds the known fields among rec->items (NUL-terminated strings). */
static int index_fields(struct stream_record *rec)
{
    for (int i = 0; i + 1 < rec->nitems; i += 2) {
        const char *k = rec->items[i], *v = rec->items[i + 1];
        if (strcmp(k, "src") == 0)
            rec->src = v;
        else if (strcmp(k, "type") == 0)
            rec->type = v;
        else if (strcmp(k, "recv") == 0)
            rec->recv_ms = strtoll(v, NULL, 10);
        else if (strcmp(k, "body") == 0) {
            rec->body = v;
            rec->body_len = rec->lens[i + 1];
        } else if (strncmp(k, "h:", 2) == 0 && rec->nheaders < STREAM_MAX_HEADERS) {
            rec->headers[rec->nheaders].name = k + 2;
            rec->headers[rec->nheaders].value = v;
            rec->nheaders++;
        }
    }
    return rec->src && rec->type && rec->body ? 0 : -1;
}

int stream_parse(const redisReply *fields, struct stream_record *out)
{
    memset(out, 0, sizeof(*out));
    if (!fields || fields->type != REDIS_REPLY_ARRAY || fields->elements % 2 ||
        fields->elements > STREAM_MAX_FIELDS)
        return -1;
    for (size_t i = 0; i < fields->elements; i++) {
        const redisReply *e = fields->element[i];
        if (!e || e->type != REDIS_REPLY_STRING)
            return -1;
        out->items[out->nitems] = e->str;
        out->lens[out->nitems++] = e->len;
    }
    return index_fields(out);
}

enum stream_entry_kind stream_parse_entry(const redisReply *e, const char **id,
                                          struct stream_record *out)
{
    *id = NULL;
    if (!e || e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
        e->element[0]->type != REDIS_REPLY_STRING)
        return STREAM_ENTRY_GONE;
    *id = e->element[0]->str;
    return stream_parse(e->element[1], out) == 0 ? STREAM_ENTRY_OK : STREAM_ENTRY_MALFORMED;
}

const redisReply *stream_read_entries(const redisReply *r)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 1 ||
        r->element[0]->type != REDIS_REPLY_ARRAY || r->element[0]->elements != 2)
        return NULL;
    return r->element[0]->element[1];
}

int stream_record_copy(const struct stream_record *rec, struct stream_record *out, char **blob)
{
    size_t total = 0;
    for (int i = 0; i < rec->nitems; i++)
        total += rec->lens[i] + 1;
    char *p = malloc(total ? total : 1);
    *blob = p;
    memset(out, 0, sizeof(*out));
    if (!p)
        return -1;
    for (int i = 0; i < rec->nitems; i++) {
        memcpy(p, rec->items[i], rec->lens[i]);
        p[rec->lens[i]] = '\0';
        out->items[i] = p;
        out->lens[i] = rec->lens[i];
        p += rec->lens[i] + 1;
    }
    out->nitems = rec->nitems;
    (void)index_fields(out);
    return 0;
}

int stream_group_create(struct rq_client *c, rq_reply_cb cb, void *priv)
{
    const char *argv[6] = {"XGROUP", "CREATE", JD_RAW_STREAM, JD_GROUP, "0", "MKSTREAM"};
    size_t lens[6];
    set_lens(argv, lens, 6);
    return rq_command(c, 0, cb, priv, 6, argv, lens);
}

int stream_read(struct rq_client *c, const char *consumer, const char *from, long long count,
                int block_ms, int64_t timeout_ms, rq_reply_cb cb, void *priv)
{
    char count_s[24], block_s[24];
    snprintf(count_s, sizeof(count_s), "%lld", count);
    snprintf(block_s, sizeof(block_s), "%d", block_ms);
    const char *all[11] = {"XREADGROUP", "GROUP", JD_GROUP,  consumer,      "COUNT", count_s,
                           "BLOCK",      block_s, "STREAMS", JD_RAW_STREAM, from};
    const char *argv[11];
    size_t lens[11];
    int argc = 0;
    /* Without BLOCK the server answers at once, with what is there. */
    for (int i = 0; i < 11; i++) {
        if (block_ms <= 0 && (i == 6 || i == 7))
            continue;
        argv[argc++] = all[i];
    }
    set_lens(argv, lens, argc);
    return rq_command(c, block_ms > 0 ? block_ms + timeout_ms : 0, cb, priv, argc, argv, lens);
}

int stream_pending(struct rq_client *c, int64_t idle_ms, int count, rq_reply_cb cb, void *priv)
{
    char idle[24], count_s[24];
    snprintf(idle, sizeof(idle), "%lld", (long long)idle_ms);
    snprintf(count_s, sizeof(count_s), "%d", count);
    const char *argv[8] = {"XPENDING", JD_RAW_STREAM, JD_GROUP, "IDLE", idle, "-", "+", count_s};
    size_t lens[8];
    set_lens(argv, lens, 8);
    return rq_command(c, 0, cb, priv, 8, argv, lens);
}

int stream_pending_row(const redisReply *row, const char **id, long long *deliveries)
{
    if (!row || row->type != REDIS_REPLY_ARRAY || row->elements != 4 ||
        row->element[0]->type != REDIS_REPLY_STRING || row->element[3]->type != REDIS_REPLY_INTEGER)
        return -1;
    *id = row->element[0]->str;
    *deliveries = row->element[3]->integer;
    return 0;
}

/* XCLAIM jd:raw jd <consumer> <min idle> <ids>... [JUSTID] */
static int claim(struct rq_client *c, const char *consumer, int64_t min_idle_ms,
                 const char *const *ids, int n, int justid, rq_reply_cb cb, void *priv)
{
    const char *argv[6 + STREAM_CLAIM_MAX];
    size_t lens[6 + STREAM_CLAIM_MAX];
    char idle[24];
    int argc = 0;
    if (n <= 0)
        return -1;
    if (n > STREAM_CLAIM_MAX)
        n = STREAM_CLAIM_MAX;
    snprintf(idle, sizeof(idle), "%lld", (long long)min_idle_ms);
    argv[argc++] = "XCLAIM";
    argv[argc++] = JD_RAW_STREAM;
    argv[argc++] = JD_GROUP;
    argv[argc++] = consumer;
    argv[argc++] = idle;
    for (int i = 0; i < n; i++)
        argv[argc++] = ids[i];
    if (justid)
        argv[argc++] = "JUSTID";
    set_lens(argv, lens, argc);
    return rq_command(c, 0, cb, priv, argc, argv, lens);
}

int stream_claim(struct rq_client *c, const char *consumer, int64_t min_idle_ms,
                 const char *const *ids, int n, rq_reply_cb cb, void *priv)
{
    return claim(c, consumer, min_idle_ms, ids, n, 0, cb, priv);
}

static void on_ignore(struct rq_client *c, const redisReply *r, void *priv)
{
    (void)c;
    (void)r;
    (void)priv;
}

/* The lease scripts are short and sent as EVAL text: they run once a start or once every
 * few seconds, so the script cache buys nothing. Keys are built from the prefix inside
 * (every consumer's lease is looked at), as dead.lua does with its per-source keys. */
static const char lease_take_lua[] =
    "local key = ARGV[1] .. ARGV[2]\n"
    "local cur = redis.call('GET', key)\n"
    "if (ARGV[3] == '' and cur) or (ARGV[3] ~= '' and cur ~= ARGV[3]) then return -1 end\n"
    "redis.call('SET', key, ARGV[4], 'PX', ARGV[5])\n"
    "local removed = 0\n"
    "local consumers = redis.pcall('XINFO', 'CONSUMERS', ARGV[6], ARGV[7])\n"
    "if type(consumers) ~= 'table' or consumers.err then return 0 end\n"
    "for _, c in ipairs(consumers) do\n"
    "  local name, pending\n"
    "  for i = 1, #c - 1, 2 do\n"
    "    if c[i] == 'name' then name = c[i + 1] elseif c[i] == 'pending' then pending = c[i + 1] "
    "end\n"
    "  end\n"
    "  if name and name ~= ARGV[2] and pending == 0 and\n"
    "     redis.call('EXISTS', ARGV[1] .. name) == 0 then\n"
    "    redis.call('XGROUP', 'DELCONSUMER', ARGV[6], ARGV[7], name)\n"
    "    removed = removed + 1\n"
    "  end\n"
    "end\n"
    "return removed\n";

static const char lease_renew_lua[] = "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
                                      "  return redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
                                      "end\n"
                                      "return 0\n";

static const char lease_release_lua[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end\n"
    "return 0\n";

int stream_lease_peek(struct rq_client *c, const char *const *names, int n, rq_reply_cb cb,
                      void *priv)
{
    enum { MAX = 64 };
    const char *argv[1 + MAX];
    size_t lens[1 + MAX];
    char keys[MAX][160];
    if (n <= 0 || n > MAX)
        return -1;
    argv[0] = "MGET";
    for (int i = 0; i < n; i++) {
        int k = snprintf(keys[i], sizeof(keys[i]), "%s%s", JD_LEASE_PREFIX, names[i]);
        if (k < 0 || (size_t)k >= sizeof(keys[i]))
            return -1;
        argv[1 + i] = keys[i];
    }
    set_lens(argv, lens, 1 + n);
    return rq_command(c, 0, cb, priv, 1 + n, argv, lens);
}

int stream_lease_take(struct rq_client *c, const char *name, const char *expect, const char *token,
                      int64_t lease_ms, rq_reply_cb cb, void *priv)
{
    char ms[24];
    snprintf(ms, sizeof(ms), "%lld", (long long)lease_ms);
    const char *argv[10] = {"EVAL", lease_take_lua, "0", JD_LEASE_PREFIX, name,
                            expect, token,          ms,  JD_RAW_STREAM,   JD_GROUP};
    size_t lens[10];
    set_lens(argv, lens, 10);
    return rq_command(c, 0, cb, priv, 10, argv, lens);
}

int stream_lease_renew(struct rq_client *c, const char *name, const char *token, int64_t lease_ms,
                       rq_reply_cb cb, void *priv)
{
    char ms[24], key[160];
    snprintf(ms, sizeof(ms), "%lld", (long long)lease_ms);
    int k = snprintf(key, sizeof(key), "%s%s", JD_LEASE_PREFIX, name);
    if (k < 0 || (size_t)k >= sizeof(key))
        return -1;
    const char *argv[6] = {"EVAL", lease_renew_lua, "1", key, token, ms};
    size_t lens[6];
    set_lens(argv, lens, 6);
    return rq_command(c, 0, cb, priv, 6, argv, lens);
}

void stream_lease_release(struct rq_client *c, const char *name, const char *token)
{
    char key[160];
    int k = snprintf(key, sizeof(key), "%s%s", JD_LEASE_PREFIX, name);
    if (k < 0 || (size_t)k >= sizeof(key))
        return;
    const char *argv[5] = {"EVAL", lease_release_lua, "1", key, token};
    size_t lens[5];
    set_lens(argv, lens, 5);
    (void)rq_command(c, 0, on_ignore, NULL, 5, argv, lens);
}

void stream_keep_claimed(struct rq_client *c, const char *consumer, const char *const *ids, int n)
{
    (void)claim(c, consumer, 0, ids, n, 1, on_ignore, NULL);
}

void stream_note_error(struct rq_client *c, const char *entry, const char *why)
{
    const char *argv[4] = {"HSET", "jd:lasterr", entry, why};
    size_t lens[4];
    set_lens(argv, lens, 4);
    (void)rq_command(c, 0, on_ignore, NULL, 4, argv, lens);
}

const char *stream_dead_source(const struct stream_record *rec)
{
    return rec && rec->src ? rec->src : STREAM_NO_SOURCE;
}

int stream_dead_letter(struct rq_client *c, const char *entry, const struct stream_record *rec,
                       const char *reason, long long deliveries, size_t max_bytes, rq_reply_cb cb,
                       void *priv)
{
    const char *argv[10 + STREAM_MAX_FIELDS];
    size_t lens[10 + STREAM_MAX_FIELDS];
    char dl[24], cap[24], ids[64 + sizeof(JD_DEAD_IDS_PREFIX)];
    const char *source = stream_dead_source(rec);
    snprintf(dl, sizeof(dl), "%lld", deliveries);
    snprintf(cap, sizeof(cap), "%zu", max_bytes);
    /* A source name longer than the key holds would share its cut prefix with another
     * source's: refuse rather than mix two sources' accounting. */
    int n = snprintf(ids, sizeof(ids), "%s%s", JD_DEAD_IDS_PREFIX, source);
    if (n < 0 || (size_t)n >= sizeof(ids))
        return -1;
    argv[0] = JD_RAW_STREAM;
    argv[1] = JD_DEAD_STREAM;
    argv[2] = JD_DEAD_BYTES;
    argv[3] = ids;
    argv[4] = JD_GROUP;
    argv[5] = entry;
    argv[6] = reason;
    argv[7] = dl;
    argv[8] = source;
    argv[9] = cap;
    set_lens(argv, lens, 10);
    int argc = 10;
    for (int i = 0; rec && i < rec->nitems; i++, argc++) {
        argv[argc] = rec->items[i];
        lens[argc] = rec->lens[i];
    }
    return rq_eval(c, JD_SCRIPT_DEAD, 0, cb, priv, 4, argc, argv, lens);
}

int stream_discard_dead(struct rq_client *c, const char *const *ids, int n, rq_reply_cb cb,
                        void *priv)
{
    const char *argv[4 + STREAM_DISCARD_MAX];
    size_t lens[4 + STREAM_DISCARD_MAX];
    if (n < 1 || n > STREAM_DISCARD_MAX)
        return -1;
    argv[0] = JD_DEAD_STREAM;
    argv[1] = JD_DEAD_BYTES;
    argv[2] = JD_DEAD_IDS_PREFIX;
    argv[3] = STREAM_NO_SOURCE;
    for (int i = 0; i < n; i++)
        argv[4 + i] = ids[i];
    set_lens(argv, lens, 4 + n);
    return rq_eval(c, JD_SCRIPT_DEAD_DISCARD, 0, cb, priv, 2, 4 + n, argv, lens);
}

int stream_discarded_row(const redisReply *row, const char **id, const char **source,
                         const char **reason)
{
    if (!row || row->type != REDIS_REPLY_ARRAY || row->elements != 3)
        return -1;
    for (size_t i = 0; i < 3; i++)
        if (!row->element[i] || row->element[i]->type != REDIS_REPLY_STRING)
            return -1;
    *id = row->element[0]->str;
    *source = row->element[1]->str;
    *reason = row->element[2]->str;
    return 0;
}

int stream_range(struct rq_client *c, const char *stream, const char *from, const char *to,
                 long count, rq_reply_cb cb, void *priv)
{
    char n[24];
    snprintf(n, sizeof(n), "%ld", count);
    const char *argv[6] = {"XRANGE", stream, from, to, "COUNT", n};
    size_t lens[6];
    set_lens(argv, lens, 6);
    return rq_command(c, 0, cb, priv, 6, argv, lens);
}

int stream_last(struct rq_client *c, const char *stream, rq_reply_cb cb, void *priv)
{
    const char *argv[6] = {"XREVRANGE", stream, "+", "-", "COUNT", "1"};
    size_t lens[6];
    set_lens(argv, lens, 6);
    return rq_command(c, 0, cb, priv, 6, argv, lens);
}

int stream_remove_raw(struct rq_client *c, const char *const *ids, int n, rq_reply_cb cb,
                      void *priv)
{
    const char *argv[3 + STREAM_REMOVE_MAX];
    size_t lens[3 + STREAM_REMOVE_MAX];
    if (n < 1 || n > STREAM_REMOVE_MAX)
        return -1;
    for (int i = 0; i < n; i++)
        argv[3 + i] = ids[i];
    /* Three commands on the one connection, answered in order: the XDEL's reply comes
     * last, so its callback runs when all three are done. */
    argv[0] = "XACK";
    argv[1] = JD_RAW_STREAM;
    argv[2] = JD_GROUP;
    set_lens(argv, lens, 3 + n);
    if (rq_command(c, 0, on_ignore, NULL, 3 + n, argv, lens) != 0)
        return -1;
    argv[1] = "HDEL";
    argv[2] = "jd:lasterr";
    set_lens(argv + 1, lens + 1, 2 + n);
    if (rq_command(c, 0, on_ignore, NULL, 2 + n, argv + 1, lens + 1) != 0)
        return -1;
    argv[1] = "XDEL";
    argv[2] = JD_RAW_STREAM;
    set_lens(argv + 1, lens + 1, 2 + n);
    return rq_command(c, 0, cb, priv, 2 + n, argv + 1, lens + 1);
}

/* The selection arguments dead_list.lua and replay.lua share (ARGV[1..7], then the
 * caller's ARGV[8], then the ids), after nkeys keys already in argv. Returns argc, or -1
 * when q is out of bounds. */
static int dead_query_args(const struct stream_dead_query *q, const char **argv, size_t *lens,
                           int nkeys, const char *arg8, char scan[24], char limit[24])
{
    if (q->scan < 1 || q->scan > STREAM_DEAD_SCAN_MAX || q->limit < 1 || q->nids < 0 ||
        q->nids > STREAM_DISCARD_MAX || !q->first || !q->last)
        return -1;
    snprintf(scan, 24, "%d", q->scan);
    snprintf(limit, 24, "%d", q->limit);
    int argc = nkeys;
    argv[argc++] = q->first;
    argv[argc++] = q->last;
    argv[argc++] = scan;
    argv[argc++] = limit;
    argv[argc++] = q->source ? q->source : "";
    argv[argc++] = q->reason ? q->reason : "";
    argv[argc++] = STREAM_NO_SOURCE;
    argv[argc++] = arg8;
    for (int i = 0; i < q->nids; i++)
        argv[argc++] = q->ids[i];
    set_lens(argv, lens, argc);
    return argc;
}

int stream_list_dead(struct rq_client *c, const struct stream_dead_query *q, int with_body,
                     rq_reply_cb cb, void *priv)
{
    const char *argv[9 + STREAM_DISCARD_MAX];
    size_t lens[9 + STREAM_DISCARD_MAX];
    char scan[24], limit[24];
    argv[0] = JD_DEAD_STREAM;
    int argc = dead_query_args(q, argv, lens, 1, with_body ? "1" : "0", scan, limit);
    if (argc < 0)
        return -1;
    return rq_eval(c, JD_SCRIPT_DEAD_LIST, 0, cb, priv, 1, argc, argv, lens);
}

int stream_replay_dead(struct rq_client *c, const struct stream_dead_query *q, rq_reply_cb cb,
                       void *priv)
{
    const char *argv[11 + STREAM_DISCARD_MAX];
    size_t lens[11 + STREAM_DISCARD_MAX];
    char scan[24], limit[24];
    argv[0] = JD_RAW_STREAM;
    argv[1] = JD_DEAD_STREAM;
    argv[2] = JD_DEAD_BYTES;
    int argc = dead_query_args(q, argv, lens, 3, JD_DEAD_IDS_PREFIX, scan, limit);
    if (argc < 0)
        return -1;
    return rq_eval(c, JD_SCRIPT_REPLAY, 0, cb, priv, 3, argc, argv, lens);
}

int stream_parse_dead_page(const redisReply *r, struct stream_dead_page *out)
{
    memset(out, 0, sizeof(*out));
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 4 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_STRING ||
        r->element[2]->type != REDIS_REPLY_INTEGER || r->element[3]->type != REDIS_REPLY_INTEGER)
        return -1;
    out->cursor = r->element[0]->str;
    out->last = r->element[1]->str;
    out->read = r->element[2]->integer;
    out->n = r->element[3]->integer;
    out->nentries = r->elements - 4;
    out->entries = (const redisReply *const *)r->element + 4;
    for (size_t i = 0; i < out->nentries; i++) {
        const redisReply *e = out->entries[i];
        if (!e || e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
            e->element[0]->type != REDIS_REPLY_STRING || e->element[1]->type != REDIS_REPLY_ARRAY ||
            e->element[1]->elements % 2)
            return -1;
        for (size_t k = 0; k < e->element[1]->elements; k++)
            if (e->element[1]->element[k]->type != REDIS_REPLY_STRING)
                return -1;
    }
    return 0;
}

int stream_status(struct rq_client *c, rq_reply_cb cb, void *priv)
{
    const char *argv[3] = {JD_RAW_STREAM, JD_DEAD_STREAM, JD_GROUP};
    size_t lens[3];
    set_lens(argv, lens, 3);
    return rq_eval(c, JD_SCRIPT_STATUS, 0, cb, priv, 2, 3, argv, lens);
}

int stream_parse_status(const redisReply *r, struct stream_status *out)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 4)
        return -1;
    out->length = r->element[0]->integer;
    out->pending = r->element[1]->integer;
    out->dead_letters = r->element[2]->integer;
    /* "<ms>-<seq>", or "" for an empty stream */
    const redisReply *id = r->element[3];
    out->oldest_ms = 0;
    if (id->type == REDIS_REPLY_STRING && id->len > 0)
        out->oldest_ms = strtoll(id->str, NULL, 10);
    return 0;
}

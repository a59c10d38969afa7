/*
 * The raw stream's wire format and the commands on it: the one place that knows how a
 * webhook is laid out in Redis. Ingest adds a record (XADD jd:raw * src <name> type <type>
 * recv <ms> [h:<header> <value>]... body <bytes>), the worker reads it back through the
 * consumer group (XREADGROUP, XPENDING, XCLAIM), parses it into borrowed fields, and
 * moves what it cannot apply to the dead-letter stream, which the API can replay. The
 * stream, group and key names live here too. Module prefix stream_; every command goes
 * through rq_command / rq_eval, so the rq_ contract holds (a callback runs exactly once
 * when the call returned 0; a reply is valid only inside its callback).
 */
#ifndef JD_QUEUE_STREAM_H
#define JD_QUEUE_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "redis.h"

#define JD_RAW_STREAM "jd:raw"
#define JD_DEAD_STREAM "jd:dead"
#define JD_GROUP "jd"
/* The dead letters' byte accounting (dead.lua, replay.lua): bytes per source, and each
 * source's dead letters oldest first as "<id> <bytes>", under this prefix + the source. */
#define JD_DEAD_BYTES "jd:dead:bytes"
#define JD_DEAD_IDS_PREFIX "jd:dead:ids:"
/* The source a dead letter counts against when its entry names none (a malformed one). */
#define STREAM_NO_SOURCE "(none)"

/* The header that marks a record fetched back from the provider's API (reconciliation,
 * backfill) rather than delivered as a webhook; its value says which ("reconcile",
 * "backfill"). No connector keeps a header of this name, so no webhook can carry it. */
#define STREAM_FETCHED_HEADER "jd-fetched"

/* Headers a record keeps (a connector's keep_headers), and the most field/value items a
 * record may have: src, type, recv, body and 8 headers, with room for unknown fields. */
#define STREAM_MAX_HEADERS 8
#define STREAM_MAX_FIELDS 32
/* The most ids one stream_claim takes. */
#define STREAM_CLAIM_MAX 256

struct stream_header {
    const char *name; /* without the "h:" prefix */
    const char *value;
};

/* One raw record. Encoding borrows every pointer; parsing fills them with pointers into
 * the reply (or the copy) they came from. body may hold any bytes, NULs and '%' included;
 * the other strings are NUL-terminated. */
struct stream_record {
    const char *src, *type;
    int64_t recv_ms;
    struct stream_header headers[STREAM_MAX_HEADERS];
    size_t nheaders;
    const char *body;
    size_t body_len;
    /* Parsing only: every field/value item in stream order (NUL-terminated, lens[] exact),
     * unknown fields included, so a dead letter keeps the entry whole. */
    const char *items[STREAM_MAX_FIELDS];
    size_t lens[STREAM_MAX_FIELDS];
    int nitems;
};

/* The XADD argument vector of a record, with the storage its numbers and header names
 * need. Valid while the record it was encoded from is. */
struct stream_xadd {
    const char *argv[4 + 2 * (4 + STREAM_MAX_HEADERS)];
    size_t lens[4 + 2 * (4 + STREAM_MAX_HEADERS)];
    int argc;
    char recv[24];
    char hnames[STREAM_MAX_HEADERS][64];
};

/* Builds XADD jd:raw * src type recv h:<name>... body. Headers past STREAM_MAX_HEADERS are
 * not kept; a header name is cut at 61 bytes. */
void stream_encode(const struct stream_record *rec, struct stream_xadd *out);
/* Encodes rec and sends the XADD; the reply is the new entry id (a string). */
int stream_add(struct rq_client *c, const struct stream_record *rec, rq_reply_cb cb, void *priv);

/* A record from its field/value array (the second element of an entry). Returns 0, or -1
 * when the reply is not a well-formed record (not an array of strings in pairs, more than
 * STREAM_MAX_FIELDS items, or src, type or body missing). out borrows from fields. */
int stream_parse(const redisReply *fields, struct stream_record *out);

enum stream_entry_kind {
    STREAM_ENTRY_OK,        /* *id and *out are filled */
    STREAM_ENTRY_GONE,      /* not an [id, fields] pair: an entry deleted while pending */
    STREAM_ENTRY_MALFORMED, /* *id is filled, the fields are not a record */
};
/* One [id, fields] entry as XREADGROUP or XCLAIM returns it. */
enum stream_entry_kind stream_parse_entry(const redisReply *e, const char **id,
                                          struct stream_record *out);
/* The entries of an XREADGROUP reply ([[stream, [[id, fields], ...]]]), or NULL when it
 * holds none (BLOCK ran out: nil). */
const redisReply *stream_read_entries(const redisReply *r);

/* Copies a parsed record into one allocation, so it outlives its reply. Returns 0 and
 * sets *blob (free it with free() once out is no longer used), or -1 out of memory. */
int stream_record_copy(const struct stream_record *rec, struct stream_record *out, char **blob);

/* XGROUP CREATE jd:raw jd 0 MKSTREAM. A BUSYGROUP error means it already exists. */
int stream_group_create(struct rq_client *c, rq_reply_cb cb, void *priv);
/* XREADGROUP of up to count entries for consumer after `from`: ">" for new entries, an id
 * ("0" first) for the consumer's own pending ones. block_ms > 0 waits on the server that
 * long (the command's deadline is then block_ms + timeout_ms, so it outlasts it). */
int stream_read(struct rq_client *c, const char *consumer, const char *from, long long count,
                int block_ms, int64_t timeout_ms, rq_reply_cb cb, void *priv);

/* Consumer names are leased (docs/internals.md "Consumer names"): the key
 * JD_LEASE_PREFIX + name holds its holder's token and expires unless renewed. */
#define JD_LEASE_PREFIX "jd:lease:"
/* MGET of the leases of n names: the reply holds each holder's token or nil. */
int stream_lease_peek(struct rq_client *c, const char *const *names, int n, rq_reply_cb cb,
                      void *priv);
/* Takes name's lease for token (lease_ms) when it holds expect ("" = when it is free), then
 * removes from the group every other consumer that owns no pending entry and holds no
 * lease. Reply: integer, how many were removed, or -1 when the lease was not as expected. */
int stream_lease_take(struct rq_client *c, const char *name, const char *expect, const char *token,
                      int64_t lease_ms, rq_reply_cb cb, void *priv);
/* Extends name's lease while it holds token. Reply: integer, 1 kept, 0 lost. */
int stream_lease_renew(struct rq_client *c, const char *name, const char *token, int64_t lease_ms,
                       rq_reply_cb cb, void *priv);
/* Gives name's lease up if it holds token; fire and forget. */
void stream_lease_release(struct rq_client *c, const char *name, const char *token);
/* XPENDING jd:raw jd IDLE idle_ms - + count: rows of [id, consumer, idle ms, deliveries]. */
int stream_pending(struct rq_client *c, int64_t idle_ms, int count, rq_reply_cb cb, void *priv);
/* The id and delivery count of one XPENDING row; -1 when the row is not one. */
int stream_pending_row(const redisReply *row, const char **id, long long *deliveries);
/* XCLAIM of n ids (at most STREAM_CLAIM_MAX) idle for min_idle_ms, for consumer: the
 * reply holds the claimed entries. n == 0 sends nothing and returns -1. */
int stream_claim(struct rq_client *c, const char *consumer, int64_t min_idle_ms,
                 const char *const *ids, int n, rq_reply_cb cb, void *priv);
/* XCLAIM ... JUSTID of ids already ours: resets their idle time without counting a
 * delivery, so no other consumer claims them meanwhile. Fire and forget. */
void stream_keep_claimed(struct rq_client *c, const char *consumer, const char *const *ids, int n);

/* Records an entry's last failure (the reason a later dead letter gives); fire and forget. */
void stream_note_error(struct rq_client *c, const char *entry, const char *why);
/* The source a dead letter of rec counts against: rec->src, or STREAM_NO_SOURCE. */
const char *stream_dead_source(const struct stream_record *rec);
/* dead.lua: moves entry with its fields (rec may be NULL: a malformed entry) to jd:dead
 * with the reason ("" = the last noted error) and acknowledges it. The source's dead
 * letters are kept within max_bytes (field names and values): the oldest of that source,
 * and only of that source, are dropped to make room (the newest always stays). Reply:
 * integer, how many were dropped. */
int stream_dead_letter(struct rq_client *c, const char *entry, const struct stream_record *rec,
                       const char *reason, long long deliveries, size_t max_bytes, rq_reply_cb cb,
                       void *priv);
/* The most ids one stream_discard_dead takes (each is one XRANGE inside the script). */
#define STREAM_DISCARD_MAX 256
/* dead_discard.lua: removes the dead letters ids[0..n) (at most STREAM_DISCARD_MAX) from
 * jd:dead for good; each one's bytes stop counting against its source (the rule replay
 * uses, so the per-source accounting stays exact). Ids not in the stream, or not stream
 * ids at all, are skipped. Reply: an array with one [id, source, reason] per dead letter
 * removed, in the order given (read them with stream_discarded_row). n outside
 * 1..STREAM_DISCARD_MAX sends nothing and returns -1. */
int stream_discard_dead(struct rq_client *c, const char *const *ids, int n, rq_reply_cb cb,
                        void *priv);
/* The id, source and reason of one row of stream_discard_dead's reply (borrowed from it);
 * -1 when the row is not one. */
int stream_discarded_row(const redisReply *row, const char **id, const char **source,
                         const char **reason);
/* Which dead letters a list or replay slice looks at (docs/api.md "Dead letters"). */
struct stream_dead_query {
    const char *first, *last; /* stream ids, both inclusive; "-" and "+" for the ends */
    int scan;                 /* at most this many entries read (1..STREAM_DEAD_SCAN_MAX) */
    int limit;                /* at most this many listed or replayed (>= 1) */
    const char *source;       /* exact source name; NULL or "" = any */
    const char *reason;       /* plain, case-sensitive substring of the reason; NULL = any */
    const char *const *ids;   /* when nids > 0: only these (first, last, scan unused) */
    int nids;                 /* at most STREAM_DISCARD_MAX */
};
/* Entries one list or replay slice reads at most: small, so a slice (an XRANGE copied into
 * Lua, bodies included) never holds Redis long; callers chain slices from the cursor. */
#define STREAM_DEAD_SCAN_MAX 200
/* dead_list.lua: one slice of the dead letters q selects, oldest first. with_body: each
 * entry's fields as stored; else without the body (a body_bytes field gives its length)
 * and without the kept headers. Read with stream_parse_dead_page. */
int stream_list_dead(struct rq_client *c, const struct stream_dead_query *q, int with_body,
                     rq_reply_cb cb, void *priv);
/* replay.lua: one slice of the dead letters q selects back to jd:raw with a fresh delivery
 * count, their bytes no longer counted against their source. Read with
 * stream_parse_dead_page (n = how many were replayed, no entries). */
int stream_replay_dead(struct rq_client *c, const struct stream_dead_query *q, rq_reply_cb cb,
                       void *priv);

/* A list or replay slice's reply, borrowed from it. */
struct stream_dead_page {
    const char *cursor; /* "" when the selection was read to its end, else the last id read */
    const char *last;   /* the range's end, resolved: pass it as the next slice's q.last */
    long long read, n;  /* entries read; listed (or replayed) */
    const redisReply *const *entries; /* n entries [id, [field, value, ...]] (list only) */
    size_t nentries;
};
/* -1 when r is not such a reply. */
int stream_parse_dead_page(const redisReply *r, struct stream_dead_page *out);
/* XRANGE stream (JD_RAW_STREAM or JD_DEAD_STREAM) from `from` ("-", or "(" + an id: after
 * it) to `to` (an id, or "+"), at most count entries: the reply holds [id, fields] pairs as
 * XREADGROUP's do (stream_parse_entry). */
int stream_range(struct rq_client *c, const char *stream, const char *from, const char *to,
                 long count, rq_reply_cb cb, void *priv);
/* The newest entry of a stream (XREVRANGE stream + - COUNT 1): an array of zero or one
 * [id, fields]. */
int stream_last(struct rq_client *c, const char *stream, rq_reply_cb cb, void *priv);
/* The most ids one stream_remove_raw takes. */
#define STREAM_REMOVE_MAX 256
/* Removes raw entries ids[0..n) for good, delivered or not: acknowledged (so no consumer
 * keeps them pending), their last errors forgotten, deleted. A worker that still holds
 * one in memory applies it without effect (the erasure tombstones) or finds it gone.
 * Reply (the last command's): integer, how many were deleted. n outside
 * 1..STREAM_REMOVE_MAX sends nothing and returns -1. */
int stream_remove_raw(struct rq_client *c, const char *const *ids, int n, rq_reply_cb cb,
                      void *priv);

struct stream_status {
    long long length, pending, dead_letters;
    long long oldest_ms; /* arrival of the oldest raw entry (its id's time); 0 when none */
};
/* status.lua: queue length, entries pending in the group, dead letters, and the oldest
 * raw entry. */
int stream_status(struct rq_client *c, rq_reply_cb cb, void *priv);
/* The status reply; -1 when it is not one. */
int stream_parse_status(const redisReply *r, struct stream_status *out);

#endif

/*
 * The contact table of a report (ctab): the members of the index pages a funnel or SLA
 * report reads, joined by contact id, with each contact's stage entries and flags, laid
 * out so rp_funnel_entries reads the entries as they are. And the bump allocator (arena)
 * an SLA batch keeps its ids and records in, freed together. No Redis, no HTTP.
 */
#ifndef JD_CTAB_H
#define JD_CTAB_H

#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>

#include "report.h"

#define REPORT_MAX_CONTACTS 1000000 /* contacts of one report */

#define CT_LEAD 1    /* SLA: entered lead in range */
#define CT_CONV 2    /* SLA: has a conversion in range */
#define CT_INDEXED 4 /* SLA: counted from the index jd:sla:f, its journey not read */

/* Open addressing over entries kept in parallel arrays, so rp_funnel_entries reads `ent`
 * as it is. Ids are stored back to back, NUL-terminated, and found by offset. */
struct ctab {
    char *ids;
    size_t ilen, icap;
    size_t *off;
    struct rp_entries *ent;
    unsigned char *flags;
    size_t n, cap;
    uint32_t *slot; /* entry + 1, 0 = empty */
    size_t nslot;   /* a power of two, more than twice n */
};

void ctab_free(struct ctab *t);
/* The entry of contact `id` (len bytes, no NUL) in *out, or SIZE_MAX when it is absent
 * and !create; a new entry has no stage entered and no flag. 0, -1 on allocation
 * failure, -2 when the table already holds REPORT_MAX_CONTACTS contacts. */
int ctab_get(struct ctab *t, const char *id, size_t len, int create, size_t *out);
/* One command over contacts: argv[0] cmd, argv[1] key, then the ids of the n entries;
 * argv and lens hold 2 + n. The ids stay the table's (valid until ctab_free). */
void ctab_id_command(const struct ctab *t, const char *cmd, const char *key, const size_t *entry,
                     size_t n, const char **argv, size_t *lens);

/* Chunks of at least 64 KiB; every allocation aligned for any type. */
struct chunk {
    struct chunk *next;
    size_t used, cap;
    max_align_t data[];
};

struct arena {
    struct chunk *head;
};

/* n bytes that live until arena_free; NULL on allocation failure. */
void *arena_alloc(struct arena *a, size_t n);
/* A NUL-terminated copy of s[0 … len) in the arena; NULL on allocation failure. */
char *arena_dup(struct arena *a, const char *s, size_t len);
void arena_free(struct arena *a);

#endif

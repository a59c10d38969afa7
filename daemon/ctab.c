/*
 * The contact table and the arena of the report readers (see ctab.h).
 */
#include "ctab.h"

#include <stdlib.h>
#include <string.h>

static uint64_t id_hash(const char *s, size_t len)
{
    uint64_t h = UINT64_C(14695981039346656037); /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= UINT64_C(1099511628211);
    }
    return h;
}

void ctab_free(struct ctab *t)
{
    free(t->ids);
    free(t->off);
    free(t->ent);
    free(t->flags);
    free(t->slot);
    memset(t, 0, sizeof(*t));
}

static int ctab_rehash(struct ctab *t, size_t nslot)
{
    uint32_t *slot = calloc(nslot, sizeof(*slot));
    if (!slot)
        return -1;
    for (size_t i = 0; i < t->n; i++) {
        const char *id = t->ids + t->off[i];
        size_t h = (size_t)id_hash(id, strlen(id)) & (nslot - 1);
        while (slot[h])
            h = (h + 1) & (nslot - 1);
        slot[h] = (uint32_t)(i + 1);
    }
    free(t->slot);
    t->slot = slot;
    t->nslot = nslot;
    return 0;
}

static int ctab_reserve(struct ctab *t, size_t idlen)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 1024;
        size_t *off = realloc(t->off, cap * sizeof(*off));
        if (off)
            t->off = off;
        struct rp_entries *ent = off ? realloc(t->ent, cap * sizeof(*ent)) : NULL;
        if (ent)
            t->ent = ent;
        unsigned char *flags = ent ? realloc(t->flags, cap) : NULL;
        if (!flags)
            return -1;
        t->flags = flags;
        t->cap = cap;
    }
    if (t->ilen + idlen + 1 > t->icap) {
        size_t cap = t->icap ? t->icap * 2 : 32768;
        while (cap < t->ilen + idlen + 1)
            cap *= 2;
        char *ids = realloc(t->ids, cap);
        if (!ids)
            return -1;
        t->ids = ids;
        t->icap = cap;
    }
    return 0;
}

/* The entry of contact `id` (len bytes, no NUL) in *out, or SIZE_MAX when it is absent
 * and !create; a new entry has no stage entered and no flag. 0, -1 on allocation
 * failure, -2 when the table already holds REPORT_MAX_CONTACTS contacts. */
int ctab_get(struct ctab *t, const char *id, size_t len, int create, size_t *out)
{
    *out = SIZE_MAX;
    if (!t->nslot && ctab_rehash(t, 4096))
        return -1;
    size_t mask = t->nslot - 1, h = (size_t)id_hash(id, len) & mask;
    for (uint32_t e; (e = t->slot[h]) != 0; h = (h + 1) & mask) {
        const char *s = t->ids + t->off[e - 1];
        if (strncmp(s, id, len) == 0 && s[len] == '\0') {
            *out = e - 1;
            return 0;
        }
    }
    if (!create)
        return 0;
    if (t->n >= REPORT_MAX_CONTACTS)
        return -2;
    if (ctab_reserve(t, len))
        return -1;
    size_t i = t->n++;
    t->off[i] = t->ilen;
    memcpy(t->ids + t->ilen, id, len);
    t->ids[t->ilen + len] = '\0';
    t->ilen += len + 1;
    for (int s = 0; s <= 6; s++)
        t->ent[i].at[s] = RP_NEVER;
    t->flags[i] = 0;
    t->slot[h] = (uint32_t)(i + 1);
    *out = i;
    if (t->n * 2 > t->nslot && ctab_rehash(t, t->nslot * 2))
        return -1;
    return 0;
}

/* ---- a bump allocator ---- */

void ctab_id_command(const struct ctab *t, const char *cmd, const char *key, const size_t *entry,
                     size_t n, const char **argv, size_t *lens)
{
    argv[0] = cmd;
    argv[1] = key;
    lens[0] = strlen(cmd);
    lens[1] = strlen(key);
    for (size_t i = 0; i < n; i++) {
        argv[2 + i] = t->ids + t->off[entry[i]];
        lens[2 + i] = strlen(argv[2 + i]);
    }
}

void *arena_alloc(struct arena *a, size_t n)
{
    size_t al = alignof(max_align_t);
    n = (n + al - 1) / al * al;
    if (!a->head || a->head->cap - a->head->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        struct chunk *c = malloc(sizeof(*c) + cap);
        if (!c)
            return NULL;
        c->next = a->head;
        c->used = 0;
        c->cap = cap;
        a->head = c;
    }
    void *p = (char *)a->head->data + a->head->used;
    a->head->used += n;
    return p;
}

char *arena_dup(struct arena *a, const char *s, size_t len)
{
    char *p = arena_alloc(a, len + 1);
    if (p) {
        memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}

void arena_free(struct arena *a)
{
    while (a->head) {
        struct chunk *c = a->head;
        a->head = c->next;
        free(c);
    }
}

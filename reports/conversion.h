/*
 * Conversions (§3 payment_key, §6) and their split over touches (§6 models, the
 * largest-remainder rule): which payments and refunds of a journey count, and the credit
 * rows of one conversion, whose parts always sum to its amount. Shared by the journey
 * answer (rp_contact_conversions), attribution and the SLA revenue. Internal to jd_reports.
 */
#ifndef JD_RP_CONVERSION_H
#define JD_RP_CONVERSION_H

#include <stddef.h>
#include <stdint.h>

#include "journey.h"
#include "report.h"

struct rp_conv {
    const struct rp_event *ev;
    int64_t amount; /* signed: negative for a refund */
};

struct rp_rem_item {
    uint64_t rem;
    size_t i;
};

/* Scratch space for one contact, sized by its event count: the credit rows of the
 * conversion being split and the work arrays of the split. */
struct rp_split {
    const struct rp_event **touch; /* row i credits touch[i]; NULL = (direct) */
    int64_t *minor;
    size_t n;
    uint64_t *w, *part;
    struct rp_rem_item *rem;
    double *dw, *drem;
    unsigned char *given;
};

/* The conversions of a journey with at in [from, to). Payments count once per payment
 * key: the first payment with an amount in journey order is the conversion, over the
 * whole journey (a repeat inside the range of a payment made before it adds nothing).
 * A payment without a key is its own conversion. Each refund is a negative conversion. */
int rp_list_conversions(const struct rp_jview *v, int64_t from, int64_t to, struct rp_conv **out,
                        size_t *nout);

void rp_split_free(struct rp_split *s);

int rp_split_init(struct rp_split *s, size_t nevents);

/* The credit rows of one conversion under p (§6) into s->touch / s->minor / s->n. */
int rp_split_conversion(const struct rp_jview *v, const struct rp_conv *c,
                        const struct rp_attr_params *p, struct rp_split *s);

#endif

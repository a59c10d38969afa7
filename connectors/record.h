/*
 * The compact record the report indexes keep per event (DESIGN §6, §6b): the worker writes
 * one beside each stored event (cx_event_record) and the report readers decode it instead
 * of parsing the event's JSON. Its fields, their order and the separator are defined here
 * and nowhere else, the encoder and the decoder side by side, so a field added to one
 * cannot be missed by the other. Pure: no allocation, no globals.
 */
#ifndef JD_RECORD_H
#define JD_RECORD_H

#include <stddef.h>
#include <stdint.h>

#define CX_RECORD_SEP '\x1f' /* ASCII unit separator: never in a normalized field */
#define CX_RECORD_MAX 2048

/* One record's fields, in record order. Strings are borrowed; "" = absent (encode also
 * takes NULL as ""). The amount and currency are written only when has_amount. */
struct cx_record {
    const char *kind;
    int stage;                                    /* rank: 0 none, visit 1 … paid 6 */
    const char *type;                             /* the source's connector type */
    int touch;                                    /* the event carries a touch */
    const char *channel, *source, *campaign, *ad; /* of the touch */
    int has_amount;
    int64_t amount_minor;
    char currency[4];
    const char *payment_key;
    /* Appended later, so records written before them read as "" (no campaign id). */
    const char *platform, *campaign_id; /* of the touch */
    /* Appended later still: records written before it read as "" (no owner). */
    const char *owner; /* the CRM user (connector.h cx_event.owner) */
};

/* The record's text into out: the fields in order, CX_RECORD_SEP between them, control
 * bytes inside a field written as spaces (a separator inside provider text would shift the
 * fields). 0, or -1 when it does not fit in cap bytes. */
int cx_record_encode(const struct cx_record *r, char *out, size_t cap);

/* The fields of a record text into r. rec is cut in place and r's strings point into it;
 * missing trailing fields read as "". has_amount is set only when the record has an amount
 * and a three-letter currency. */
void cx_record_decode(char *rec, struct cx_record *r);

#endif

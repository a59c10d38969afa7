/*
 * CSV (RFC 4180) for the report tables (DESIGN §7 "Every report table also answers CSV"):
 * a bounded writer, and each report's answer rendered as one table from its JSON answer,
 * so every number in the CSV is the number the JSON gives, printed the same way. The
 * columns of each table are documented in docs/api.md.
 *
 * The files are opened in spreadsheets, so a text cell that a spreadsheet would run as a
 * formula (its first character = + - @, a tab or a carriage return: OWASP "CSV
 * injection") is written with a leading apostrophe. Text comes from webhooks (campaign
 * names, ad names), that is from anyone who can make a visitor click a link. Number
 * cells are written by us and keep their sign (a refund is negative).
 */
#ifndef JD_RP_CSV_H
#define JD_RP_CSV_H

#include <stddef.h>

#include <cjson/cJSON.h>

/* A CSV text being written: cells separated by ',', lines ended by CRLF. A failure (no
 * memory, or the text would pass max bytes) is sticky: later calls do nothing and
 * rp_csv_take gives NULL. */
struct rp_csv {
    char *p;
    size_t len, cap, max;
    int cells; /* cells on the current line */
    int failed;
};

void rp_csv_init(struct rp_csv *c, size_t max);
/* A text cell: quoted when it holds , " CR or LF (quotes doubled), with a leading
 * apostrophe when a spreadsheet would take it for a formula. NULL writes an empty cell. */
void rp_csv_text(struct rp_csv *c, const char *text);
/* A JSON scalar as the JSON answer prints it: a number exactly (integers, fixed
 * decimals, raw big numbers), true/false, null as an empty cell, a string as
 * rp_csv_text. Anything else (objects, arrays, NULL) is an empty cell. */
void rp_csv_value(struct rp_csv *c, const cJSON *v);
void rp_csv_end_line(struct rp_csv *c);
/* The text, NUL-terminated, for the caller to free(); NULL after a failure. The writer
 * is left empty (rp_csv_free not needed, but harmless). */
char *rp_csv_take(struct rp_csv *c);
void rp_csv_free(struct rp_csv *c);

/* The report answers as tables. Each returns the text (free()) or NULL when the answer
 * is not the report's shape, memory runs out or the text would pass max bytes.
 *   attribution: key,currency,revenue_minor,spend_minor,roas,conversions,touches
 *     — a line per key and currency (revenue's and spend's); conversions and touches
 *     are the key's, over all its currencies, repeated on each of its lines.
 *     A model=all answer ("models"): model,key,currency,… — each model's lines as its
 *     own table has them, with the model in front, the models in the answer's order.
 *   funnel: series,period,stage,contacts,rate,median_seconds — series "range" for the
 *     periods of the range, "compare" for the compared period (compare=).
 *   SLA figures: side,figure,value,currency — side sales, marketing, revenue or range;
 *     revenue a line per currency in minor units; "waiting" counts the waiting list.
 *   SLA waiting list: contact,name,email,lead_at,waited_seconds, oldest lead first.
 *   SLA by owner: owner,answered,within_sla,median_seconds,p90_seconds. */
char *rp_csv_attribution(const cJSON *answer, size_t max);
char *rp_csv_funnel(const cJSON *answer, size_t max);
char *rp_csv_sla(const cJSON *answer, size_t max);
char *rp_csv_sla_waiting(const cJSON *answer, size_t max);
/* The SLA's sales.by_owner (table=by_owner): owner,answered,within_sla,median_seconds,
 * p90_seconds, a line per owner in the answer's order. NULL as rp_csv_sla_waiting. */
char *rp_csv_sla_by_owner(const cJSON *answer, size_t max);

/* 1 when an Accept header asks for CSV: it names text/csv with a q above 0, and names
 * application/json (if at all) with a lower q. Wildcards express no preference; a tie
 * keeps JSON, the API's own format. NULL → 0. */
int rp_csv_accepted(const char *accept);

#endif

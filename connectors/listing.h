/*
 * Reading a provider's own list API back (reconciliation and backfill, DESIGN §9
 * `reconcile`): which URL lists the events of a window, and how a page of the answer
 * becomes raw records the worker normalizes exactly as it would the webhooks (the same
 * connector, the same dedup key). Pure like every connector: the daemon runs the GETs
 * (daemon/reconcile.c) and stores the cursor. Module prefix cx_list_.
 *
 * A walk lists one window, page by page; `after` is the cursor inside it (the last item
 * of the page before), so an interrupted walk resumes where it stopped.
 *   stripe  GET /v1/events?types[]=<each type the connector reads>&created[gte]=<since>
 *           &limit=100[&delivery_success=false][&starting_after=<evt id>], newest first
 *           (docs.stripe.com/api/events/list).
 *   shopify GET /admin/api/<version>/orders.json?status=any&updated_at_min=<since>
 *           &limit=250&since_id=<order id>, oldest id first; each paid order is an
 *           orders/paid record and each of its refunds a refunds/create record
 *           (shopify.dev/docs/api/admin-rest/latest/resources/order).
 *   meta_leads GET <graph>/<form id>/leads?fields=id,created_time,form_id&limit=100
 *           &filtering=[{"field":"time_created","operator":"GREATER_THAN","value":<since>}]
 *           [&after=<paging cursor>], one form after the other (the source's `forms`;
 *           developers.facebook.com/docs/marketing-api/guides/lead-ads/retrieving); each
 *           lead becomes the leadgen webhook Meta would have sent, so the worker looks the
 *           lead up and normalizes it like the webhook.
 *   pipedrive GET /api/v2/<persons|deals>?limit=250&updated_since=<RFC 3339>
 *           &sort_by=update_time&sort_direction=asc[&cursor=<next_cursor>], persons then
 *           deals (developers.pipedrive.com API v2); each object becomes the v2 webhook of
 *           its creation and, when it changed since, of its last change, which the
 *           connector keys on the object (pipedrive.c) as it keys the webhooks.
 *   hubspot POST /crm/v3/objects/<contacts|deals>/search {filterGroups: [(hs_)lastmodifieddate
 *           GTE <since ms>], sorts: the same ascending, limit 100, properties: the stage and
 *           its dates, after: <paging offset>} (developers.hubspot.com "Search the CRM");
 *           contacts then deals; each object becomes the webhook batch of its creation
 *           and of its stage now, keyed on the object as the webhooks are (hubspot.c).
 */
#ifndef JD_CX_LISTING_H
#define JD_CX_LISTING_H

#include <stddef.h>
#include <stdint.h>

#include "connector.h"

/* The Shopify Admin API version read (Shopify supports each for a year). */
#define CX_SHOPIFY_API_VERSION "2025-01"
/* Items of one page at most (Shopify's largest page; Stripe's is 100). */
#define CX_LIST_PAGE_MAX 250

/* Which listing of a provider a walk reads. */
enum cx_list_feed {
    CX_FEED_RECENT, /* everything of the types journeyd reads, changed since the window start */
    CX_FEED_FAILED, /* Stripe only: events whose delivery failed (delivery_success=false) */
};

struct cx_list_query {
    enum cx_list_feed feed;
    const char *form;  /* meta_leads: the lead form read (one of the source's forms) */
    int64_t since_s;   /* window start (Unix seconds) */
    const char *after; /* the cursor: "" or NULL for the first page */
};

/* One item of a page: a raw record's body and the topic header it needs (NULL: none). */
struct cx_list_item {
    char id[CX_ID_MAX]; /* the provider's id, for the cursor */
    const char *topic;  /* static storage */
    char *body;         /* malloc'd JSON text */
    size_t len;
};

/* Owned by the caller: release with cx_list_page_free. */
struct cx_list_page {
    struct cx_list_item v[2 * CX_LIST_PAGE_MAX]; /* Shopify: an order and its refunds */
    size_t n;
    int more;              /* another page follows */
    char after[CX_ID_MAX]; /* the cursor of the next page (the page's last id) */
    size_t listed;         /* items the provider listed (some yield no record) */
};

/* 1 when reconciliation can read sources of this type. */
int cx_list_supported(const char *type);
/* How many forms a walk of src reads one after the other (meta_leads: its `forms`), 1 for
 * the other types; the i-th into out (""), 0 or -1 when i is out of range. */
size_t cx_list_nforms(const struct cx_source *src);
int cx_list_form(const struct cx_source *src, size_t i, char *out, size_t cap);
/* The GET of one page of q for src into out (url and headers); 0, or -1 with err. */
int cx_list_request(const struct cx_source *src, const struct cx_list_query *q,
                    struct cx_fetch *out, struct cx_err *err);
/* The body of that request when it is a POST (HubSpot's CRM search), into out (cap bytes)
 * with its length in *len; *len = 0 for a GET. 0, or -1 with err. */
#define CX_LIST_BODY_MAX 1024
int cx_list_body(const struct cx_source *src, const struct cx_list_query *q, char *out, size_t cap,
                 size_t *len, struct cx_err *err);
/* Parses one answer (status and body) into out (zeroed first). 0, or -1 with err: a
 * refused token, an answer that is not the provider's list. On -1 out holds nothing. */
int cx_list_parse(const struct cx_source *src, const struct cx_list_query *q, long status,
                  const unsigned char *body, size_t len, struct cx_list_page *out,
                  struct cx_err *err);
/* The i-th Stripe event type the connector reads, NULL past the last (stripe.c). */
const char *cx_stripe_type_at(size_t i);
/* NULL-safe; leaves the page empty. */
void cx_list_page_free(struct cx_list_page *p);

#endif

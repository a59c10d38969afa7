/*
 * The dead-letter endpoints: DELETE /v1/dead/<id> discards one through dead_discard.lua,
 * which keeps the per-source byte accounting of dead.lua exact. Each discard is logged
 * with the id, source and reason, never the body (it may hold personal data).
 */
#include <stdlib.h>
#include <string.h>

#include "api_dead.h"
#include "http.h"
#include "log.h"
#include "stream.h"

/* A stream id: "<ms>-<seq>", each at most 20 digits. */
#define DEAD_ID_MAX 42

struct dead_req {
    struct jd *jd;
    struct evhttp_request *req;
};

/* Only digits, one '-' between them: anything else cannot name a dead letter. */
static int is_stream_id(const char *s)
{
    size_t n = strlen(s), dash = 0, ndash = 0;
    if (n == 0 || n > DEAD_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '-') {
            dash = i;
            ndash++;
        } else if (s[i] < '0' || s[i] > '9') {
            return 0;
        }
    }
    return ndash == 1 && dash > 0 && dash + 1 < n;
}

static void on_discarded(struct rq_client *c, const redisReply *r, void *priv)
{
    struct dead_req *dr = priv;
    (void)c;
    const char *id, *source, *reason;
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        http_reply_unavailable(dr->jd, dr->req, "store unavailable");
    } else if (r->elements == 0 ||
               stream_discarded_row(r->element[0], &id, &source, &reason) != 0) {
        http_reply_error(dr->req, 404, "not_found", "no dead letter with that id");
    } else {
        /* The reason quotes payload ids: escaped, so it cannot forge another field. */
        char src[128], why[512];
        jlog(JLOG_NOTICE, "msg=\"dead letter discarded\" id=%s source=%s reason=\"%s\"", id,
             jlog_quote(source, strlen(source), src, sizeof(src)),
             jlog_quote(reason, strlen(reason), why, sizeof(why)));
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "discarded", id);
        http_reply_json(dr->req, 200, o);
    }
    free(dr);
}

void api_handle_dead_discard(struct jd *jd, struct evhttp_request *req, const char *id)
{
    if (!is_stream_id(id)) {
        http_reply_error(req, 404, "not_found", "no dead letter with that id");
        return;
    }
    struct dead_req *dr = rq_is_ready(jd->rq_api) ? calloc(1, sizeof(*dr)) : NULL;
    if (!dr) {
        http_reply_unavailable(jd, req, "store unavailable");
        return;
    }
    dr->jd = jd;
    dr->req = req;
    const char *ids[1] = {id};
    if (stream_discard_dead(jd->rq_api, ids, 1, on_discarded, dr) != 0) {
        free(dr);
        http_reply_unavailable(jd, req, "store unavailable");
    }
}

/* The simulator's month sent to journeyd (sim_send.h). */
#include "sim_send.h"

#include <stdio.h>

void jd_sim_send(const struct jd_daemon *d, const struct sy_delivery *dv)
{
    struct jd_http h = {0};
    char url[4096], cookie[96];
    int rc;
    switch (dv->type) {
    case SY_CLICK: {
        const char *hdrs[2] = {cookie, NULL};
        snprintf(cookie, sizeof cookie, "Cookie: jd_aid=%s", dv->aid);
        snprintf(url, sizeof url, "%s/c?%s", d->base, dv->body);
        rc = jd_http(&h, "GET", url, hdrs, NULL, 0);
        JD_EXPECT(rc == 0 && h.status == 302, "click: status %ld", h.status);
        break;
    }
    case SY_FORM:
        rc = jd_post_form(d, dv->body, "application/json", &h);
        JD_EXPECT(rc == 0 && h.status == 200, "form: status %ld %.200s", h.status,
                  h.body ? h.body : "");
        break;
    case SY_EVENTS:
        rc = jd_post_events(d, dv->body, &h);
        JD_EXPECT(rc == 0 && h.status == 200, "events: status %ld %.200s", h.status,
                  h.body ? h.body : "");
        break;
    case SY_STRIPE:
        rc = jd_post_stripe(d, dv->body, &h);
        JD_EXPECT(rc == 0 && h.status == 200, "stripe: status %ld %.200s", h.status,
                  h.body ? h.body : "");
        break;
    default:
        JD_REQUIRE(0, "the month holds a source this test has not: %d", (int)dv->type);
    }
    jd_http_free(&h);
}

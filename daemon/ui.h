/*
 * The dashboard's server side (DESIGN §7b): the static files under daemon/ui/, embedded in
 * the binary at build time (cmake/EmbedUi.cmake), served at GET /ui/ with a
 * Content-Security-Policy that allows nothing but this origin; and the login that trades
 * an API token for a session cookie, which routes.c's token check accepts in the token's
 * place with the token's scope. The dashboard itself reads only the public /v1 API.
 *
 * Sessions live in this process's memory: bounded in number (the oldest gives way) and in
 * lifetime, and each is tied to a digest of its token, so a token taken out of the config
 * (SIGHUP) ends its sessions and a changed scope applies at once.
 */
#ifndef JD_UI_H
#define JD_UI_H

#include <stddef.h>

#include <event2/http.h>

#include "config.h"

struct jd;
struct ui;

#define UI_MAX_SESSIONS 256
#define UI_SESSION_LIFETIME_S (12 * 3600)
#define UI_COOKIE "jd_session"
/* Non-GET requests made with the cookie must carry this header (any value): a form on
 * another site cannot set it, so SameSite=Strict is not the only thing between a
 * logged-in browser and a forged POST. */
#define UI_CSRF_HEADER "X-Journeyd-UI"

/* One embedded file (generated/ui_assets.c, from daemon/ui/). */
struct ui_asset {
    const char *name; /* "app.js": the path below /ui/ */
    const char *type; /* Content-Type */
    const char *etag; /* a quoted digest of the contents */
    const unsigned char *data;
    size_t len;
};
extern const struct ui_asset ui_assets[];
extern const size_t ui_nassets;
/* The site script's files (generated/site_assets.c, from daemon/site/), served by
 * ingest.c at GET /j.js. */
extern const struct ui_asset site_assets[];
extern const size_t site_nassets;

/* Answers with embedded file a (ui_assets or site_assets) and its ETag: 304 when the
 * request's If-None-Match names it, else 200 with its Content-Type. The caller has set
 * the caching and security headers. */
void ui_send_asset(struct jd *jd, struct evhttp_request *req, const struct ui_asset *a);

struct ui *ui_new(void);
void ui_free(struct ui *u);

/* The session the request's cookie names, if it is live and its token still configured:
 * 1 with *scope set; 0 when there is none (no cookie, unknown, expired, token gone).
 * *csrf_ok says whether the request carries UI_CSRF_HEADER. */
int ui_session_scope(struct jd *jd, struct evhttp_request *req, enum cfg_scope *scope,
                     int *csrf_ok);

/* GET /ui and GET /ui/<file> (the app for "" and any path without a dot). */
void ui_handle_static(struct jd *jd, struct evhttp_request *req, const char *rest);
/* POST /ui/login {"token": "…"}: a session cookie and {"scope", "expires"}. */
void ui_handle_login(struct jd *jd, struct evhttp_request *req, const char *rest);
/* POST /ui/logout: the session ends and the cookie is cleared. */
void ui_handle_logout(struct jd *jd, struct evhttp_request *req, const char *rest);
/* GET /ui/session: {"scope", "expires"} of the caller's session; {"scope": null} without. */
void ui_handle_session(struct jd *jd, struct evhttp_request *req, const char *rest);

#endif

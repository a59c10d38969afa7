/*
 * A fake provider API for integration tests: a small HTTP/1.1 server on a free loopback
 * port, served by its own threads (one accept thread, one thread per connection, so that
 * a delayed answer does not hold up the others and concurrency is real).
 *
 * The test fills a route table: (method, path) → a list of replies. The n-th request that
 * matches a route gets its n-th reply; the last reply repeats. A reply is a status, extra
 * header lines ("Retry-After: 1\r\n"), a body and a delay before answering. Requests that
 * match no route get 404 {"error":"no route"} (and are recorded with route -1).
 *
 * Every request is recorded (method, target with query, header block, arrival time, route,
 * status answered), requests are counted per route, and the server tracks the largest
 * number of requests it was answering at the same time (a request counts from the end of
 * its headers until its answer is written, or until the client went away during the delay).
 *
 * All functions are thread-safe; they are called from the test's main thread. Errors at
 * start are fatal through the harness (jd_fatal).
 */
#ifndef JD_FAKE_API_H
#define JD_FAKE_API_H

#include <stddef.h>
#include <stdint.h>

enum fake_match {
    FAKE_EXACT,  /* the whole request target (path and query) equals the route's */
    FAKE_PREFIX, /* the request target starts with the route's */
};

struct fake_api;

/* One recorded request, copied out (the caller owns nothing: fixed buffers). */
struct fake_request {
    char method[16];
    char target[2048];  /* path and query as sent */
    char headers[4096]; /* the raw header lines after the request line, "\r\n"-separated */
    int64_t at_ms;      /* jd_mono_ms() when the headers were complete */
    int64_t end_ms;     /* when the answer was sent or the client left; 0 while pending */
    int route;          /* index returned by fake_api_route, -1 when none matched */
    int status;         /* status answered (0 when the client left before the answer) */
    int aborted;        /* the client closed the connection before the answer was sent */
    char body[8192];    /* the request body's first bytes, NUL-terminated */
    size_t body_len;    /* the whole body's length (Content-Length) */
};

/* Starts the server on 127.0.0.1 and a free port. */
struct fake_api *fake_api_start(void);
/* Stops accepting, closes every connection (delayed answers are cut short), joins every
 * thread and frees. NULL-safe. */
void fake_api_stop(struct fake_api *fa);

int fake_api_port(const struct fake_api *fa);
/* "http://127.0.0.1:<port>" */
const char *fake_api_base(const struct fake_api *fa);

/* Adds a route; returns its index. method NULL matches any method. Exact routes are tried
 * before prefix routes; among prefix routes the longest wins; among equals the first added.
 * A route without replies answers 500 {"error":"no reply configured"}. */
int fake_api_route(struct fake_api *fa, const char *method, const char *target,
                   enum fake_match match);
/* Appends a reply to a route. headers: extra header lines, each ending in "\r\n" (NULL for
 * none); body may be NULL (empty); Content-Type is application/json unless headers say
 * otherwise. delay_ms: how long to wait before answering. */
void fake_api_reply(struct fake_api *fa, int route, int status, const char *headers,
                    const char *body, int delay_ms);
/* Forgets a route's replies (the hit count is kept, and the next request gets the first
 * reply added after this call). */
void fake_api_clear_replies(struct fake_api *fa, int route);

/* Requests that matched the route so far. */
size_t fake_api_hits(struct fake_api *fa, int route);
/* Requests recorded so far (all routes, unmatched ones included). */
size_t fake_api_nrequests(struct fake_api *fa);
/* Copies the i-th recorded request (arrival order); 0, or -1 when i is out of range. */
int fake_api_request(struct fake_api *fa, size_t i, struct fake_request *out);
/* Number of recorded requests whose target starts with prefix (method NULL: any). */
size_t fake_api_count(struct fake_api *fa, const char *method, const char *prefix);
/* The largest number of requests answered at the same time since start or the last
 * reset. */
int fake_api_max_concurrent(struct fake_api *fa);
/* Requests being answered right now. */
int fake_api_in_flight(struct fake_api *fa);
/* Resets the maximum concurrency to the current level. */
void fake_api_reset_max_concurrent(struct fake_api *fa);

/* Value of header `name` (case-insensitive) in a recorded request, copied into out; NULL
 * when absent. */
const char *fake_request_header(const struct fake_request *r, const char *name, char *out,
                                size_t outlen);

#endif

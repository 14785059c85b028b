/*
 * srv_http.c - the libmicrohttpd side of `steme serve`: collect a request's
 * body (at most --max-body bytes), dispatch it through the route table,
 * turn the srv_resp into an MHD response, count it in the metrics.
 *
 * Oversized bodies: a body past the limit is read and thrown away, then
 * answered 413. Answering before the body is read would make the server
 * close a socket with unread data, which on Linux sends a RST that can
 * destroy the 413 before the client reads it. A Content-Length beyond
 * SRV_DRAIN_FACTOR x the limit is not worth reading: that one is answered
 * at once and the connection closed.
 *
 * Queries go through the committer (srv_query.h): the connection may be
 * suspended after dispatch, and MHD calls the access handler once more
 * when the committer resumes it; the context's job then holds the query.
 */
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

#include "server/srv_http.h"
#include "server/srv_int.h"
#include "server/srv_query.h"

#define SRV_DRAIN_FACTOR 16

typedef struct srv_conn_ctx {
    uint64_t start_us;
    uint8_t *body;
    size_t len, cap;
    int too_big;
    srv_qjob *job;     /* a query handed to the committer (srv_query.h) */
} srv_conn_ctx;

static void resp_free(srv_resp *r)
{
    if (r->json)
        json_decref(r->json);
    free(r->text);
}

/* Send r and count it; returns MHD's verdict. */
static enum MHD_Result send_resp(struct MHD_Connection *conn, srv *s, srv_route_id route,
                                 uint64_t start_us, srv_resp *r, int close_conn)
{
    char *body = NULL;
    size_t len = 0;
    const char *ctype = "application/json";
    if (r->text) {
        body = r->text;
        len = r->text_len;
        r->text = NULL;
        ctype = r->content_type ? r->content_type : "text/plain; charset=utf-8";
    } else {
        if (!r->json) {
            r->status = 500;
            r->json = json_pack("{s:{s:s,s:s}}", "error", "code", "HTTP_INTERNAL", "message",
                                "out of memory building the answer");
        }
        body = r->json ? json_dumps(r->json, JSON_COMPACT) : NULL;
        if (!body) {
            static const char oom[] =
                "{\"error\":{\"code\":\"HTTP_INTERNAL\",\"message\":\"out of memory\"}}";
            body = strdup(oom);
            r->status = 500;
        }
        len = body ? strlen(body) : 0;
    }
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, body, body ? MHD_RESPMEM_MUST_FREE
                                                        : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(body);
        resp_free(r);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    for (int i = 0; i < r->nheaders; i++)
        MHD_add_response_header(resp, r->headers[i].name, r->headers[i].value);
    if (close_conn)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    srv_metrics_observe(&s->metrics, route, r->status, srv_mono_us() - start_us);
    resp_free(r);
    return ret;
}

/* A query through the committer: 1 if its connection is suspended until
 * the committer has written it, else 0 with the answer in out. */
static int query_async(srv *s, srv_req *req, srv_conn_ctx *cx, srv_resp *out)
{
    srv_qjob *job = malloc(sizeof *job);
    if (!job) {
        srv_json(out, 500, NULL);
        return 0;
    }
    if (!srv_query_begin(req, out, job)) {
        free(job);
        return 0;
    }
    cx->job = job;   /* before the submit: the committer may resume at once */
    if (!srv_committer_submit(s->committer, job))
        return 1;
    cx->job = NULL;
    srv_query_end(s, job, out);
    free(job);
    return 0;
}

/* Route and run the request; 1 if it was suspended (no answer yet). */
static int dispatch(srv *s, struct MHD_Connection *conn, const char *url, const char *method,
                    srv_conn_ctx *cx, srv_resp *out, srv_route_id *route)
{
    srv_req req;
    memset(&req, 0, sizeof req);
    req.s = s;
    req.conn = conn;
    req.method = method;
    req.body = cx->body ? cx->body : (const uint8_t *)"";
    req.body_len = cx->len;
    int is_write = 0, status = 0;
    const char *allow = NULL;
    srv_handler h = srv_route_match(method, url, route, req.params, &is_write, &status, &allow);
    if (!h) {
        if (status == 405) {
            srv_error(out, 405, "HTTP_METHOD_NOT_ALLOWED", "%s is not allowed on %s (allowed: %s)",
                      method, url, allow);
            srv_header(out, "Allow", "%s", allow);
        } else {
            srv_error(out, 404, "HTTP_NOT_FOUND", "no route %s %s (see /v1/openapi.json)", method,
                      url);
        }
        return 0;
    }
    if (cx->too_big) {
        srv_error(out, 413, "HTTP_BODY_TOO_LARGE", "the body is larger than %zu bytes",
                  s->max_body);
        return 0;
    }
    if (is_write && !srv_auth_check(&req, out))
        return 0;
    if (*route == SRV_R_QUERY && s->committer)
        return query_async(s, &req, cx, out);
    h(&req, out);
    return 0;
}

enum MHD_Result srv_access(void *cls, struct MHD_Connection *conn, const char *url,
                           const char *method, const char *version, const char *upload_data,
                           size_t *upload_data_size, void **con_cls)
{
    srv *s = cls;
    srv_conn_ctx *cx = *con_cls;
    if (!cx) {
        cx = calloc(1, sizeof *cx);
        if (!cx)
            return MHD_NO;
        cx->start_us = srv_mono_us();
        *con_cls = cx;
        atomic_fetch_add(&s->inflight, 1);
        srv_resp out;
        memset(&out, 0, sizeof out);
        if (atomic_load(&s->draining)) {
            srv_error(&out, 503, "HTTP_SHUTTING_DOWN", "the server is shutting down");
            return send_resp(conn, s, SRV_R_UNMATCHED, cx->start_us, &out, 1);
        }
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
        uint64_t n;
        if (cl && srv_parse_u64(cl, &n) && n > s->max_body) {
            cx->too_big = 1;
            if (n / SRV_DRAIN_FACTOR > s->max_body) {
                srv_error(&out, 413, "HTTP_BODY_TOO_LARGE", "the body is larger than %zu bytes",
                          s->max_body);
                return send_resp(conn, s, SRV_R_UNMATCHED, cx->start_us, &out, 1);
            }
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        atomic_fetch_add(&s->metrics.bytes_in, n);
        if (cx->too_big || n > s->max_body - cx->len) {
            cx->too_big = 1;   /* keep reading, keep nothing */
            free(cx->body);
            cx->body = NULL;
            cx->len = cx->cap = 0;
            return MHD_YES;
        }
        if (cx->len + n > cx->cap) {
            size_t cap = cx->cap ? cx->cap : 1024;
            while (cap < cx->len + n)
                cap *= 2;
            uint8_t *b = realloc(cx->body, cap);
            if (!b)
                return MHD_NO;
            cx->body = b;
            cx->cap = cap;
        }
        memcpy(cx->body + cx->len, upload_data, n);
        cx->len += n;
        return MHD_YES;
    }
    srv_resp out;
    memset(&out, 0, sizeof out);
    if (cx->job) {
        /* Called again after the committer resumed the connection. */
        if (!cx->job->done)
            return MHD_YES;
        srv_query_end(s, cx->job, &out);
        free(cx->job);
        cx->job = NULL;
        return send_resp(conn, s, SRV_R_QUERY, cx->start_us, &out, 0);
    }
    srv_route_id route = SRV_R_UNMATCHED;
    const char *m = strcmp(method, "HEAD") == 0 ? "GET" : method;
    if (dispatch(s, conn, url, m, cx, &out, &route))
        return MHD_YES;   /* suspended: answered when resumed */
    return send_resp(conn, s, route, cx->start_us, &out, cx->too_big);
}

void srv_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                   enum MHD_RequestTerminationCode toe)
{
    srv *s = cls;
    srv_conn_ctx *cx = *con_cls;
    if (!cx)
        return;
    if (cx->job) {   /* never resumed: only when MHD gives up on the connection */
        steme_resolution_free(&cx->job->res);
        free(cx->job);
    }
    free(cx->body);
    free(cx);
    *con_cls = NULL;
    atomic_fetch_sub(&s->inflight, 1);
}

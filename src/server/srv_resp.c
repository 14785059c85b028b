/*
 * srv_resp.c - building answers (JSON bodies, errors with stable codes,
 * headers), request accessors, clocks, and the Meter charge of a request.
 *
 * Error codes: a failure reported by the library carries its status name
 * (steme_errname, e.g. "STEME_E_NOTFOUND"); failures found by the HTTP
 * layer itself use "HTTP_*" names (docs/api.md lists them all).
 */
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "server/srv_int.h"
#include "steme/status.h"

uint64_t srv_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t srv_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void srv_json(srv_resp *out, int status, json_t *j)
{
    if (out->json)
        json_decref(out->json);
    out->json = j;
    out->status = j ? status : 500;
}

void srv_error(srv_resp *out, int status, const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* json_string refuses invalid UTF-8 (a message may quote client bytes). */
    json_t *m = json_string(msg);
    if (!m)
        m = json_string("(message not valid UTF-8)");
    json_t *e = json_pack("{s:{s:s,s:o}}", "error", "code", code, "message", m);
    srv_json(out, status, e);
}

static int http_status_for(int rc)
{
    switch (rc) {
    case STEME_E_BAD_SIGNATURE: return 401;
    case STEME_E_EXISTS: return 409;
    case STEME_E_FULL: return 409;
    case STEME_E_QUOTA: return 429;
    case STEME_E_NOMEM: case STEME_E_BUSY: case STEME_E_CLOSED: return 503;
    default: break;
    }
    switch (steme_status_family_of(rc)) {
    case STEME_FAMILY_NOTFOUND: return 404;
    case STEME_FAMILY_INVALID: return 400;
    case STEME_FAMILY_BUSY: return 503;
    default: return 500;
    }
}

void srv_error_status(srv_resp *out, int rc, const char *what, const char *detail)
{
    srv_error(out, http_status_for(rc), steme_errname(rc), "%s: %s", what,
              detail && *detail ? detail : steme_strerror(rc));
}

void srv_error_db(srv_resp *out, srv *s, int rc, const char *what)
{
    srv_error_status(out, rc, what, steme_db_errmsg(s->db));
}

void srv_header(srv_resp *out, const char *name, const char *fmt, ...)
{
    if (out->nheaders >= SRV_MAX_HEADERS)
        return;
    out->headers[out->nheaders].name = name;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->headers[out->nheaders].value, sizeof out->headers[0].value, fmt, ap);
    va_end(ap);
    out->nheaders++;
}

void srv_header_u64(srv_resp *out, const char *name, uint64_t v)
{
    if (out->nheaders >= SRV_MAX_HEADERS)
        return;
    char b[24], *p = b + sizeof b;   /* 20 digits at most */
    *--p = 0;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    out->headers[out->nheaders].name = name;
    memcpy(out->headers[out->nheaders].value, p, (size_t)(b + sizeof b - p));
    out->nheaders++;
}

void srv_quota_refused(srv_resp *out, uint64_t limit, uint64_t remaining, uint64_t reset_at)
{
    srv_error(out, 429, "HTTP_QUOTA_EXCEEDED",
              "the agent's hourly token budget (%llu) does not cover this operation; "
              "%llu tokens left until %llu (Unix ms)",
              (unsigned long long)limit, (unsigned long long)remaining,
              (unsigned long long)reset_at);
    out->nheaders = 0;
    srv_header(out, "X-Quota-Limit", "%llu", (unsigned long long)limit);
    srv_header(out, "X-Quota-Remaining", "%llu", (unsigned long long)remaining);
    /* Seconds until the window resets, as the common RateLimit-Reset does;
     * the absolute time is in the message. */
    uint64_t now = srv_now_ms();
    uint64_t secs = reset_at > now ? (reset_at - now + 999) / 1000 : 0;
    srv_header(out, "X-Quota-Reset", "%llu", (unsigned long long)secs);
    srv_header(out, "Retry-After", "%llu", (unsigned long long)secs);
}

const char *srv_arg(srv_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *srv_hdr(srv_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

int srv_body_object(srv_req *r, srv_resp *out, json_t **obj)
{
    json_error_t je;
    if (r->body_len == 0) {
        srv_error(out, 400, "HTTP_BAD_JSON", "the request needs a JSON object body");
        return 0;
    }
    /* Duplicate keys are refused: a signed body must mean one thing. */
    json_t *j = json_loadb((const char *)r->body, r->body_len, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        srv_error(out, 400, "HTTP_BAD_JSON", "malformed JSON at line %d column %d: %s", je.line,
                  je.column, je.text);
        return 0;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        srv_error(out, 400, "HTTP_BAD_JSON", "the body must be a JSON object");
        return 0;
    }
    *obj = j;
    return 1;
}

int srv_parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s)
        return 0;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return 0;
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    *out = v;
    return 1;
}

int srv_arg_limit(srv_req *r, srv_resp *out, size_t dflt, size_t max, size_t *limit)
{
    const char *s = srv_arg(r, "limit");
    uint64_t v = dflt;
    if (s && (!srv_parse_u64(s, &v) || v == 0)) {
        srv_error(out, 400, "HTTP_BAD_PARAM", "limit must be a positive integer (at most %zu)",
                  max);
        return 0;
    }
    *limit = v > max ? max : (size_t)v;
    return 1;
}

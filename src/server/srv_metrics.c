/*
 * srv_metrics.c - GET /v1/metrics (Prometheus text format 0.0.4) and
 * GET /v1/health.
 *
 * Counters are relaxed atomics in the server context, bumped once per
 * answer (no lock on the request path). Exposed series:
 *   steme_http_requests_total{route,code}          counter
 *   steme_http_request_duration_seconds{route}     histogram
 *   steme_http_in_flight_requests                  gauge
 *   steme_assertions_created_total, steme_votes_cast_total,
 *   steme_queries_total, steme_quota_refused_total, steme_http_request_bytes_total
 *   steme_db_disk_bytes                            gauge (walk of --db at scrape time)
 *   steme_uptime_seconds                           gauge
 * The library has no public statistics call yet (WAL appends, syncs, engine
 * sizes): the disk size is measured by walking the directory per scrape,
 * which is cheap next to a scrape interval.
 */
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "server/srv_int.h"

static const int status_codes[] = SRV_STATUS_CODES;
static const double bounds[] = SRV_LATENCY_BOUNDS;

void srv_metrics_observe(srv_metrics *m, srv_route_id route, int status, uint64_t micros)
{
    int si = SRV_NSTATUS - 1;
    for (int i = 0; i < SRV_NSTATUS - 1; i++)
        if (status_codes[i] == status)
            si = i;
    int bi = SRV_NBUCKETS - 1;
    for (int i = 0; i < SRV_NBUCKETS - 1; i++)
        if ((double)micros <= bounds[i] * 1e6) {
            bi = i;
            break;
        }
    atomic_fetch_add_explicit(&m->requests[route][si], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->latency_bucket[route][bi], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->latency_sum_us[route], micros, memory_order_relaxed);
}

/* A growable text buffer; on OOM it stops growing and is reported failed. */
typedef struct text {
    char *p;
    size_t len, cap;
    int failed;
} text;

__attribute__((format(printf, 2, 3))) static void put(text *t, const char *fmt, ...)
{
    for (int attempt = 0; attempt < 2 && !t->failed; attempt++) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->p ? t->p + t->len : NULL, t->p ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = 1;
            return;
        }
        if (t->p && (size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap ? t->cap : 16384;
        while (cap < t->len + (size_t)n + 1)
            cap *= 2;
        char *p = realloc(t->p, cap);
        if (!p) {
            t->failed = 1;
            return;
        }
        t->p = p;
        t->cap = cap;
    }
}

/* nftw has no context argument; a thread-local sum keeps it reentrant
 * across concurrent scrapes on different worker threads. */
static _Thread_local unsigned long long walk_bytes;

static int add_size(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    if (flag == FTW_F)
        walk_bytes += (unsigned long long)st->st_size;
    return 0;
}

void srv_h_metrics(srv_req *r, srv_resp *out)
{
    srv_metrics *m = &r->s->metrics;
    text t = {NULL, 0, 0, 0};
    put(&t, "# HELP steme_http_requests_total HTTP requests answered, by route and status.\n"
            "# TYPE steme_http_requests_total counter\n");
    for (int rt = 0; rt < SRV_R_COUNT; rt++)
        for (int si = 0; si < SRV_NSTATUS; si++) {
            unsigned long long n = atomic_load_explicit(&m->requests[rt][si], memory_order_relaxed);
            if (!n)
                continue;
            char code[8];
            if (si < SRV_NSTATUS - 1)
                snprintf(code, sizeof code, "%d", status_codes[si]);
            else
                snprintf(code, sizeof code, "other");
            put(&t, "steme_http_requests_total{route=\"%s\",code=\"%s\"} %llu\n",
                srv_route_name((srv_route_id)rt), code, n);
        }
    put(&t, "# HELP steme_http_request_duration_seconds Time from first byte to answer queued.\n"
            "# TYPE steme_http_request_duration_seconds histogram\n");
    for (int rt = 0; rt < SRV_R_COUNT; rt++) {
        unsigned long long cum = 0, b[SRV_NBUCKETS];
        for (int i = 0; i < SRV_NBUCKETS; i++)
            cum += b[i] = atomic_load_explicit(&m->latency_bucket[rt][i], memory_order_relaxed);
        if (!cum)
            continue;
        const char *name = srv_route_name((srv_route_id)rt);
        unsigned long long c = 0;
        for (int i = 0; i < SRV_NBUCKETS; i++) {
            c += b[i];
            if (i < SRV_NBUCKETS - 1)
                put(&t, "steme_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
                    name, bounds[i], c);
            else
                put(&t, "steme_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n",
                    name, c);
        }
        put(&t, "steme_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n", name,
            (double)atomic_load_explicit(&m->latency_sum_us[rt], memory_order_relaxed) / 1e6);
        put(&t, "steme_http_request_duration_seconds_count{route=\"%s\"} %llu\n", name, c);
    }
    walk_bytes = 0;
    nftw(r->s->db_dir, add_size, 16, FTW_PHYS);
    put(&t,
        "# TYPE steme_http_in_flight_requests gauge\nsteme_http_in_flight_requests %ld\n"
        "# TYPE steme_assertions_created_total counter\nsteme_assertions_created_total %llu\n"
        "# TYPE steme_votes_cast_total counter\nsteme_votes_cast_total %llu\n"
        "# TYPE steme_queries_total counter\nsteme_queries_total %llu\n"
        "# TYPE steme_quota_refused_total counter\nsteme_quota_refused_total %llu\n"
        "# TYPE steme_http_request_bytes_total counter\nsteme_http_request_bytes_total %llu\n"
        "# HELP steme_db_disk_bytes Bytes of the files under the database directory.\n"
        "# TYPE steme_db_disk_bytes gauge\nsteme_db_disk_bytes %llu\n"
        "# TYPE steme_uptime_seconds gauge\nsteme_uptime_seconds %.3f\n"
        "# TYPE steme_http_worker_threads gauge\nsteme_http_worker_threads %u\n",
        atomic_load(&r->s->inflight), (unsigned long long)atomic_load(&m->assertions_created),
        (unsigned long long)atomic_load(&m->votes_cast), (unsigned long long)atomic_load(&m->queries),
        (unsigned long long)atomic_load(&m->quota_refused),
        (unsigned long long)atomic_load(&m->bytes_in), walk_bytes,
        (double)(srv_now_ms() - r->s->started_ms) / 1000.0, r->s->threads);
    if (t.failed) {
        free(t.p);
        srv_json(out, 500, NULL);
        return;
    }
    out->status = 200;
    out->text = t.p;
    out->text_len = t.len;
    out->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

void srv_h_health(srv_req *r, srv_resp *out)
{
    srv_json(out, 200,
             json_pack("{s:s,s:s,s:f,s:I}", "status",
                       atomic_load(&r->s->draining) ? "draining" : "ok", "version", "0.1.0",
                       "uptime_s", (double)(srv_now_ms() - r->s->started_ms) / 1000.0,
                       "in_flight", (json_int_t)atomic_load(&r->s->inflight)));
}

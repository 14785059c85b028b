/*
 * srv_charge.c - the Meter charges of signed writes (votes, assertions,
 * index adds), made together: the requests that want a charge at the same
 * moment are charged in one engine write (steme_quota_check_and_record_
 * many) by whichever of their workers comes first.
 *
 * Why: a charge is a read-modify-write of the agent's usage record and one
 * engine write. Made by every worker at once (bench/server's vote case: 16
 * workers), the writes met in RocksDB's write group, where the writers
 * spin, yield and wake each other: perf showed the charge at a fifth of a
 * vote's CPU, two thirds of it in that write path. In one write, the
 * records are read and inserted by one thread and the log is appended once.
 *
 * Group commit, leader and followers: a worker queues its charge; if no
 * charge is being written it becomes the leader, takes everything queued
 * (at most SRV_CHARGE_MAX), writes it, marks those done and wakes their
 * workers, then wakes the next queued worker to lead the next write.
 * Meanwhile the others wait on their own condition variable. The worker
 * blocks, as it does afterwards for the write's own log sync: a charge is
 * one engine write, much shorter than that sync.
 *
 * Nothing about the Meter changes: each charge is checked and recorded
 * under its agent's meter lock, in queue order, exactly as alone (the bulk
 * call applies the charges of one agent in order and refuses the ones its
 * budget does not cover); a refusal or an error is the charge's own.
 * Charges of different operations (or payload costs) in one write go in
 * one bulk call per kind, each its own engine write.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/srv_int.h"

#define SRV_CHARGE_MAX 128

typedef struct srv_charge_job {
    struct srv_charge_job *next;
    pthread_cond_t cv;
    steme_agent_id agent;
    steme_quota_op op;
    size_t payload;
    uint64_t now_ms;
    steme_quota_result res;
    int rc;
    int done;
    char msg[160];        /* the engine's message when rc is an error */
} srv_charge_job;

struct srv_charger {
    steme_db *db;
    pthread_mutex_t mu;
    srv_charge_job *head, *tail;
    int busy;             /* a leader is writing */
};

int srv_charger_new(steme_db *db, srv_charger **out)
{
    *out = NULL;
    srv_charger *g = calloc(1, sizeof *g);
    if (!g)
        return STEME_E_NOMEM;
    if (pthread_mutex_init(&g->mu, NULL) != 0) {
        free(g);
        return STEME_E_INTERNAL;
    }
    g->db = db;
    *out = g;
    return STEME_OK;
}

void srv_charger_free(srv_charger *g)
{
    if (!g)
        return;
    pthread_mutex_destroy(&g->mu);
    free(g);
}

/* Same bulk call: the cost depends on the operation and payload / 1 KiB. */
static int same_kind(const srv_charge_job *a, const srv_charge_job *b)
{
    return a->op == b->op && a->payload / 1024u == b->payload / 1024u;
}

/* Charge jobs[0..n): one bulk call per kind, in queue order within each. */
static void charge_batch(steme_db *db, srv_charge_job **jobs, size_t n)
{
    steme_agent_id agents[SRV_CHARGE_MAX];
    uint64_t now[SRV_CHARGE_MAX];
    steme_quota_result res[SRV_CHARGE_MAX];
    int rcs[SRV_CHARGE_MAX];
    srv_charge_job *kind[SRV_CHARGE_MAX];
    unsigned char taken[SRV_CHARGE_MAX] = {0};
    for (size_t first = 0; first < n; first++) {
        if (taken[first])
            continue;
        size_t m = 0;
        for (size_t i = first; i < n; i++) {
            if (taken[i] || !same_kind(jobs[first], jobs[i]))
                continue;
            taken[i] = 1;
            kind[m] = jobs[i];
            agents[m] = jobs[i]->agent;
            now[m] = jobs[i]->now_ms;
            m++;
        }
        int rc = steme_quota_check_and_record_many(steme_db_quota(db), m, agents, kind[0]->op,
                                                   0, kind[0]->payload, now, NULL, NULL, res,
                                                   rcs);
        for (size_t k = 0; k < m; k++) {
            kind[k]->res = res[k];
            kind[k]->rc = rc != STEME_OK ? rc : rcs[k];
            if (kind[k]->rc != STEME_OK)
                snprintf(kind[k]->msg, sizeof kind[k]->msg, "%s", steme_db_errmsg(db));
        }
    }
}

/* Charge job, as leader or follower (see the file's comment). */
static void charge_grouped(srv_charger *g, srv_charge_job *job)
{
    pthread_mutex_lock(&g->mu);
    if (g->tail)
        g->tail->next = job;
    else
        g->head = job;
    g->tail = job;
    while (!job->done) {
        if (g->busy) {
            pthread_cond_wait(&job->cv, &g->mu);
            continue;
        }
        srv_charge_job *batch[SRV_CHARGE_MAX];
        size_t n = 0;
        while (g->head && n < SRV_CHARGE_MAX) {
            batch[n++] = g->head;
            g->head = g->head->next;
        }
        if (!g->head)
            g->tail = NULL;
        g->busy = 1;
        pthread_mutex_unlock(&g->mu);
        charge_batch(g->db, batch, n);
        pthread_mutex_lock(&g->mu);
        g->busy = 0;
        for (size_t i = 0; i < n; i++) {
            batch[i]->done = 1;
            if (batch[i] != job)
                pthread_cond_signal(&batch[i]->cv);
        }
        if (g->head)   /* the next write's leader */
            pthread_cond_signal(&g->head->cv);
    }
    pthread_mutex_unlock(&g->mu);
}

int srv_charge(srv_req *r, srv_resp *out, steme_quota_op op)
{
    srv_charge_job job;
    memset(&job, 0, sizeof job);
    job.agent = r->agent;
    job.op = op;
    job.payload = r->body_len;
    job.now_ms = srv_now_ms();
    if (r->s->charger) {
        if (pthread_cond_init(&job.cv, NULL) != 0) {
            srv_error(out, 500, "HTTP_INTERNAL", "quota check: cannot wait for the Meter");
            return 0;
        }
        charge_grouped(r->s->charger, &job);
        pthread_cond_destroy(&job.cv);
    } else {
        job.rc = steme_quota_check_and_record(steme_db_quota(r->s->db), &r->agent, op, 0,
                                              r->body_len, job.now_ms, &job.res);
        if (job.rc != STEME_OK)
            snprintf(job.msg, sizeof job.msg, "%s", steme_db_errmsg(r->s->db));
    }
    if (job.rc != STEME_OK) {
        srv_error_status(out, job.rc, "quota check", job.msg);
        return 0;
    }
    const steme_quota_result *res = &job.res;
    srv_hint_note(r->s->hints, &r->agent, res->reset_at, res->remaining);
    if (!res->allowed) {
        atomic_fetch_add(&r->s->metrics.quota_refused, 1);
        srv_quota_refused(out, res->limit, res->remaining, res->reset_at);
        return 0;
    }
    uint64_t secs = res->reset_at > job.now_ms ? (res->reset_at - job.now_ms + 999) / 1000 : 0;
    srv_header_u64(out, "X-Quota-Remaining", res->remaining);
    srv_header_u64(out, "X-Quota-Reset", secs);
    return 1;
}

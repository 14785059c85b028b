/*
 * srv_commit.c - the committer: one thread that writes the charges and
 * audit records of the queries waiting for it in one engine write
 * (steme_query_commit_many), then resumes their connections. See
 * srv_query.h for why.
 *
 * busy says a commit is being written, by the thread or by a worker that
 * found the committer idle and wrote its own query at once. A submit while
 * busy (or while others wait) queues the job and suspends its connection:
 * the queries that arrive during one write are the next write. The thread
 * takes at most SRV_COMMIT_MAX jobs per write, so one write's latency
 * stays bounded under any load.
 *
 * Order matters around MHD: the connection is suspended before its job is
 * visible to the thread (under mu), so the thread never resumes a
 * connection that is not suspended yet; the job is marked done before the
 * resume, and the thread touches it no more after, since the worker may
 * answer and free it at once.
 */
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "server/srv_query.h"

#define SRV_COMMIT_MAX 64

struct srv_committer {
    steme_db *db;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    srv_qjob *head, *tail;
    int busy;       /* a commit is being written */
    int stop;       /* srv_committer_stop: drain, then exit */
    pthread_t th;
};

/* Commit n jobs in one write; their rc fields receive the statuses. */
static void commit(steme_db *db, size_t n, srv_qjob **jobs)
{
    const steme_query_request *reqs[SRV_COMMIT_MAX] = {0};
    steme_resolution *outs[SRV_COMMIT_MAX] = {0};
    int rcs[SRV_COMMIT_MAX];
    for (size_t i = 0; i < n; i++) {
        reqs[i] = &jobs[i]->req;
        outs[i] = &jobs[i]->res;
    }
    steme_query_commit_many(db, n, reqs, outs, rcs);   /* per-query statuses in rcs */
    for (size_t i = 0; i < n; i++) {
        jobs[i]->rc = rcs[i];
        if (rcs[i] != STEME_OK)
            snprintf(jobs[i]->msg, sizeof jobs[i]->msg, "%s", steme_db_errmsg(db));
    }
}

static void *committer_main(void *arg)
{
    srv_committer *c = arg;
    srv_qjob *batch[SRV_COMMIT_MAX];
    pthread_mutex_lock(&c->mu);
    for (;;) {
        while ((!c->head || c->busy) && !(c->stop && !c->head))
            pthread_cond_wait(&c->cv, &c->mu);
        if (!c->head)
            break;   /* stopping, nothing left */
        size_t n = 0;
        while (c->head && n < SRV_COMMIT_MAX) {
            batch[n++] = c->head;
            c->head = c->head->next;
        }
        if (!c->head)
            c->tail = NULL;
        c->busy = 1;
        pthread_mutex_unlock(&c->mu);
        commit(c->db, n, batch);
        for (size_t i = 0; i < n; i++) {
            struct MHD_Connection *conn = batch[i]->conn;
            batch[i]->done = 1;   /* before the resume: the worker reads it then */
            MHD_resume_connection(conn);
        }
        pthread_mutex_lock(&c->mu);
        c->busy = 0;
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

int srv_committer_start(steme_db *db, srv_committer **out)
{
    *out = NULL;
    srv_committer *c = calloc(1, sizeof *c);
    if (!c)
        return STEME_E_NOMEM;
    c->db = db;
    if (pthread_mutex_init(&c->mu, NULL) != 0) {
        free(c);
        return STEME_E_INTERNAL;
    }
    if (pthread_cond_init(&c->cv, NULL) != 0) {
        pthread_mutex_destroy(&c->mu);
        free(c);
        return STEME_E_INTERNAL;
    }
    if (pthread_create(&c->th, NULL, committer_main, c) != 0) {
        pthread_cond_destroy(&c->cv);
        pthread_mutex_destroy(&c->mu);
        free(c);
        return STEME_E_INTERNAL;
    }
    *out = c;
    return STEME_OK;
}

void srv_committer_stop(srv_committer *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    int running = !c->stop;
    c->stop = 1;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    if (running)
        pthread_join(c->th, NULL);
}

void srv_committer_free(srv_committer *c)
{
    if (!c)
        return;
    srv_committer_stop(c);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

int srv_committer_submit(srv_committer *c, srv_qjob *job)
{
    job->next = NULL;
    job->done = 0;
    pthread_mutex_lock(&c->mu);
    if (c->stop) {
        /* No thread any more (a request that outlived the drain): write it
         * here, beside whatever else is being written. */
        pthread_mutex_unlock(&c->mu);
        commit(c->db, 1, &job);
        job->done = 1;
        return 1;
    }
    if (!c->busy && !c->head) {
        /* Idle: write it here, now; a job queued meanwhile wakes the thread. */
        c->busy = 1;
        pthread_mutex_unlock(&c->mu);
        srv_qjob *one = job;
        commit(c->db, 1, &one);
        job->done = 1;
        pthread_mutex_lock(&c->mu);
        c->busy = 0;
        if (c->head)
            pthread_cond_signal(&c->cv);
        pthread_mutex_unlock(&c->mu);
        return 1;
    }
    MHD_suspend_connection(job->conn);
    if (c->tail)
        c->tail->next = job;
    else
        c->head = job;
    c->tail = job;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    return 0;
}

/*
 * server/srv_query.h - GET /v1/query in two halves around one shared write.
 *
 * A query's charge and audit record are its only writes. Written one query
 * at a time by every worker at once, they were a third of the server's CPU
 * (RocksDB's concurrent write path: writers spinning and sleeping on each
 * other, one log append each). So a query is split (steme_query_prepare /
 * _commit_many / _finish): the worker prepares it (all the reads), then
 * hands it to the committer (srv_commit.c), which writes the charges and
 * audits of every query waiting in one engine write. The worker does not
 * wait: the connection is suspended (MHD) and the worker serves its other
 * connections; the committer resumes it once the write is made, and the
 * worker then answers. When nothing is being written, the worker commits
 * its query itself at once (no hand-off, no added latency).
 */
#ifndef STEME_SRV_QUERY_H
#define STEME_SRV_QUERY_H

#include "server/srv_int.h"
#include "steme/query.h"

/* One query between prepare and answer. Owned by its connection's context;
 * the committer uses it only from submit until it sets done. */
typedef struct srv_qjob {
    struct srv_qjob *next;          /* committer's queue */
    struct MHD_Connection *conn;
    steme_query_request req;        /* its strings live in the connection */
    steme_resolution res;
    int rc;                         /* the commit's status for this query */
    char msg[STEME_ERRMSG_MAX];     /* its message when rc is an error (error
                                     * slots are per thread: the committer's
                                     * would not reach the worker) */
    int done;                       /* committed (the connection may resume) */
} srv_qjob;

/* Parse the request and prepare the query (h_query.c). 1: job is ready to
 * commit; 0: out holds the answer (400, 401, 429, 5xx) and job owns nothing. */
int srv_query_begin(srv_req *r, srv_resp *out, srv_qjob *job);
/* Answer a committed job (finish, then 200 / 429 / error); frees its result. */
void srv_query_end(srv *s, srv_qjob *job, srv_resp *out);

/* The committer of a server (srv_commit.c). */
typedef struct srv_committer srv_committer;

/* Start its thread; STEME_OK or STEME_E_NOMEM / STEME_E_INTERNAL. */
int srv_committer_start(steme_db *db, srv_committer **out);
/* Write what is queued, resume those connections, stop the thread. Call
 * before MHD_stop_daemon (a suspended connection must be resumed first).
 * Submits after it commit in the caller. NULL is a no-op. */
void srv_committer_stop(srv_committer *c);
/* Stop (if not yet) and free: after MHD_stop_daemon (no submit can come). */
void srv_committer_free(srv_committer *c);
/* Commit job: 1 if it was committed here and now (answer at once), 0 if it
 * was queued and its connection suspended (MHD calls the access handler
 * again once the committer resumed it; job->done is then set). */
int srv_committer_submit(srv_committer *c, srv_qjob *job);

#endif

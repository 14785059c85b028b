/*
 * persist.c - steme_pvisual: the visual index made durable with its own
 * write-ahead log and snapshots (directory layout in steme/visual.h).
 *
 * Log record (41 bytes): [op u8: 1 insert, 2 remove][phash u64 LE][id 32 B].
 *
 * Write path. An insert/remove is appended to the log (durable on return,
 * group-committed with concurrent writers) and then applied to the
 * in-memory index, all while holding pv_gate in SHARED mode; writers do not
 * exclude each other. A checkpoint takes pv_gate EXCLUSIVELY just long
 * enough to read the log's end offset and copy the entries: at that moment
 * every record below the offset has been applied and none above it, so the
 * copy is exactly "the log up to offset". The file is written after the
 * gate is released.
 *
 * What "rebuilt" means when segments are gone. A checkpoint keeps the two
 * newest snapshots and cuts the log only below the OLDER one. At open the
 * newest snapshot that verifies is loaded and the log replayed from its
 * offset; if the newest is damaged, the older one still has its log suffix,
 * so no acknowledged operation is lost. If no valid snapshot reaches back to
 * the log's first retained segment, entries are gone for good and open
 * fails with STEME_E_CORRUPT rather than serve a silently partial index.
 * Damaged snapshots are renamed NAME.corrupt (kept as evidence, never read).
 */
#include <dirent.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "core/fsutil.h"
#include "index/visual/snapshot.h"
#include "index/visual/visual_int.h"
#include "steme/wal.h"

#define PV_REC_LEN 41u
#define PV_OP_INSERT 1u
#define PV_OP_REMOVE 2u
#define PV_SNAP_FMT "visual-%016" PRIx64 ".snap"
#define PV_MAX_SNAPS 64

struct steme_pvisual {
    char *pv_dir;
    steme_wal *pv_wal;
    steme_visual *pv_index;
    pthread_rwlock_t pv_gate;    /* writers shared, checkpoint's copy exclusive */
    pthread_mutex_t pv_ckpt;     /* one checkpoint at a time */
    steme_errslot pv_err;
    void (*pv_log)(void *ctx, int level, const char *msg);
    void *pv_log_ctx;
};

#define pv_fail(p, code, ...) steme_errslot_set(&(p)->pv_err, (code), __VA_ARGS__)

void steme_pvisual_options_init(steme_pvisual_options *o)
{
    if (!o)
        return;
    memset(o, 0, sizeof *o);
    steme_visual_options_init(&o->index);
}

static void pv_warn(const steme_pvisual *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void pv_warn(const steme_pvisual *p, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (p->pv_log)
        p->pv_log(p->pv_log_ctx, STEME_WAL_LOG_WARNING, msg);
    else
        fprintf(stderr, "steme visual: %s\n", msg);
}

/* Snapshot offsets found in the directory, newest first. */
static int pv_list_snaps(const char *dir, uint64_t *offs, size_t *n, steme_error *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return steme_err(err, STEME_E_IO, "visual: cannot list %s", dir);
    *n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        uint64_t off;
        char tail[8];
        /* Exactly visual-<16 hex>.snap: the %7s catches ".snap.tmp" etc. */
        if (strlen(e->d_name) != 28 ||
            sscanf(e->d_name, "visual-%16" SCNx64 "%7s", &off, tail) != 2 ||
            strcmp(tail, ".snap") != 0)
            continue;
        if (*n == PV_MAX_SNAPS)
            break;
        size_t i = (*n)++;
        while (i > 0 && offs[i - 1] < off) {
            offs[i] = offs[i - 1];
            i--;
        }
        offs[i] = off;
    }
    closedir(d);
    return STEME_OK;
}

static char *pv_snap_path(const char *dir, uint64_t off)
{
    char name[40];
    snprintf(name, sizeof name, PV_SNAP_FMT, off);
    return steme_path_join(dir, name);
}

static void pv_encode(uint8_t *rec, unsigned op, uint64_t phash, const steme_hash *id)
{
    rec[0] = (uint8_t)op;
    bytes_put_le(rec + 1, phash, 8);
    memcpy(rec + 9, id->bytes, STEME_HASH_LEN);
}

/* Apply log records from `from` to the end. */
static int pv_replay(steme_pvisual *p, uint64_t from, uint64_t *applied, steme_error *err)
{
    steme_wal_cursor *c;
    int rc = steme_wal_cursor_open(p->pv_wal, from, &c);
    if (rc == STEME_E_NOTFOUND)
        return STEME_CORRUPT(err, "visual %s: log before offset %" PRIu64 " was removed and no "
                             "valid snapshot covers it", p->pv_dir, from);
    if (rc != STEME_OK)
        return steme_err(err, rc, "visual %s: cannot read log at %" PRIu64 ": %s", p->pv_dir,
                         from, steme_wal_errmsg(p->pv_wal));
    const uint8_t *rec;
    size_t len;
    uint64_t off;
    while ((rc = steme_wal_cursor_next(c, &rec, &len, &off)) == STEME_OK) {
        if (len != PV_REC_LEN || (rec[0] != PV_OP_INSERT && rec[0] != PV_OP_REMOVE)) {
            rc = STEME_CORRUPT(err, "visual %s: malformed log record at %" PRIu64, p->pv_dir,
                               off);
            break;
        }
        uint64_t phash = bytes_get_le(rec + 1, 8);
        steme_hash id;
        memcpy(id.bytes, rec + 9, STEME_HASH_LEN);
        /* EXISTS / NOTFOUND cannot happen in a consistent log; replay is
         * idempotent anyway, so they are not errors. */
        int a = rec[0] == PV_OP_INSERT ? steme_visual_insert(p->pv_index, phash, &id)
                                       : steme_visual_remove(p->pv_index, phash, &id);
        if (a == STEME_E_NOMEM) {
            rc = steme_err(err, a, "visual %s: out of memory during replay", p->pv_dir);
            break;
        }
        (*applied)++;
    }
    if (rc == STEME_E_END)
        rc = STEME_OK;
    else if (rc != STEME_OK && err && err->code != rc)
        steme_err(err, rc, "visual %s: log replay stopped: %s", p->pv_dir,
                  steme_wal_errmsg(p->pv_wal));
    steme_wal_cursor_close(c);
    return rc;
}

/* Load the newest valid snapshot; *from receives its offset (0: none). */
static int pv_load(steme_pvisual *p, steme_pvisual_recovery *rec, uint64_t *from,
                   steme_error *err)
{
    uint64_t offs[PV_MAX_SNAPS];
    size_t n;
    int rc = pv_list_snaps(p->pv_dir, offs, &n, err);
    *from = 0;
    for (size_t i = 0; i < n && rc == STEME_OK; i++) {
        char *path = pv_snap_path(p->pv_dir, offs[i]);
        if (!path)
            return steme_err(err, STEME_E_NOMEM, "visual: out of memory");
        uint64_t *codes = NULL, woff = 0;
        steme_hash *ids = NULL;
        size_t cnt = 0;
        steme_error e;
        rc = vsnap_read(path, &codes, &ids, &cnt, &woff, &e);
        if (rc == STEME_OK && woff != offs[i])
            rc = STEME_CORRUPT(&e, "snapshot %s: covers offset %" PRIu64 ", name says %" PRIu64,
                               path, woff, offs[i]);
        if (rc == STEME_E_CORRUPT) {
            /* Refuse it, keep it as evidence, fall back to the older one. */
            char *bad = malloc(strlen(path) + 9);
            if (bad) {
                sprintf(bad, "%s.corrupt", path);
                if (rename(path, bad) != 0)
                    pv_warn(p, "cannot rename %s", path);
                free(bad);
            }
            pv_warn(p, "%s; using an older snapshot and the log", e.message);
            rec->damaged_snapshots++;
            rc = STEME_OK;
        } else if (rc == STEME_OK) {
            rc = steme_visual_insert_batch(p->pv_index, codes, ids, cnt, NULL);
            if (rc != STEME_OK)
                steme_err(err, rc, "visual: loading %s: %s", path, steme_strerror(rc));
            rec->snapshot_offset = woff;
            rec->snapshot_entries = cnt;
            *from = woff;
            free(codes);
            free(ids);
            free(path);
            return rc;
        } else {
            steme_err(err, rc, "%s", e.message);
        }
        free(path);
    }
    return rc;
}

static void pv_free(steme_pvisual *p)
{
    steme_wal_close(p->pv_wal);
    steme_visual_destroy(p->pv_index);
    pthread_rwlock_destroy(&p->pv_gate);
    pthread_mutex_destroy(&p->pv_ckpt);
    steme_errslot_destroy(&p->pv_err);
    free(p->pv_dir);
    free(p);
}

int steme_pvisual_open(const char *dir, const steme_pvisual_options *opts, steme_pvisual **out,
                       steme_pvisual_recovery *rec, steme_error *err)
{
    if (!dir || !*dir || !out)
        return steme_err(err, STEME_E_INVALID, "pvisual_open: NULL or empty argument");
    *out = NULL;
    steme_pvisual_recovery local;
    if (!rec)
        rec = &local;
    memset(rec, 0, sizeof *rec);
    steme_pvisual_options o;
    steme_pvisual_options_init(&o);
    if (opts)
        o = *opts;
    steme_pvisual *p = calloc(1, sizeof *p);
    if (!p)
        return steme_err(err, STEME_E_NOMEM, "pvisual_open: out of memory");
    p->pv_log = o.log;
    p->pv_log_ctx = o.log_ctx;
    /* Prefer the checkpoint's exclusive request over new writers, or a
     * steady stream of inserts would starve it (glibc favours readers). */
    pthread_rwlockattr_t ga;
    pthread_rwlockattr_init(&ga);
    pthread_rwlockattr_setkind_np(&ga, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&p->pv_gate, &ga);
    pthread_rwlockattr_destroy(&ga);
    pthread_mutex_init(&p->pv_ckpt, NULL);
    int rc = steme_errslot_init(&p->pv_err);
    p->pv_dir = strdup(dir);
    char *waldir = NULL;
    if (rc != STEME_OK || !p->pv_dir) {
        rc = steme_err(err, STEME_E_NOMEM, "pvisual_open: out of memory");
        goto fail;
    }
    if ((rc = steme_mkdirs(dir, 0, err)) != STEME_OK)
        goto fail;
    if ((rc = steme_visual_create(&o.index, &p->pv_index, err)) != STEME_OK)
        goto fail;
    steme_wal_options wo;
    steme_wal_options_init(&wo);
    if (o.wal_segment_bytes)
        wo.segment_bytes = o.wal_segment_bytes;
    wo.log = o.log;
    wo.log_ctx = o.log_ctx;
    if (!(waldir = steme_path_join(dir, "wal"))) {
        rc = steme_err(err, STEME_E_NOMEM, "pvisual_open: out of memory");
        goto fail;
    }
    if ((rc = steme_wal_open(waldir, &wo, &p->pv_wal, NULL, err)) != STEME_OK)
        goto fail;
    uint64_t from = 0;
    if ((rc = pv_load(p, rec, &from, err)) != STEME_OK)
        goto fail;
    if ((rc = pv_replay(p, from, &rec->replayed_records, err)) != STEME_OK)
        goto fail;
    steme_visual_rebuild(p->pv_index); /* tables now, not at the first inserts */
    free(waldir);
    *out = p;
    return STEME_OK;
fail:
    free(waldir);
    pv_free(p);
    return rc;
}

static int pv_apply(steme_pvisual *p, unsigned op, uint64_t phash, const steme_hash *id)
{
    if (!p || !id)
        return p ? pv_fail(p, STEME_E_INVALID, "pvisual: id is NULL") : STEME_E_INVALID;
    pthread_rwlock_rdlock(&p->pv_gate);
    int present = steme_visual_contains(p->pv_index, phash, id);
    int rc = STEME_OK;
    if (op == PV_OP_INSERT && present) {
        rc = pv_fail(p, STEME_E_EXISTS, "pvisual_insert: pair already present");
    } else if (op == PV_OP_REMOVE && !present) {
        rc = pv_fail(p, STEME_E_NOTFOUND, "pvisual_remove: no such pair");
    } else {
        uint8_t buf[PV_REC_LEN];
        pv_encode(buf, op, phash, id);
        rc = steme_wal_append(p->pv_wal, buf, sizeof buf, NULL);
        if (rc != STEME_OK) {
            pv_fail(p, rc, "pvisual: log append failed: %s", steme_wal_errmsg(p->pv_wal));
        } else {
            rc = op == PV_OP_INSERT ? steme_visual_insert(p->pv_index, phash, id)
                                    : steme_visual_remove(p->pv_index, phash, id);
            /* NOMEM here: logged, so it takes effect at the next open. */
            if (rc != STEME_OK)
                pv_fail(p, rc, "pvisual: logged but not applied in memory: %s",
                        steme_visual_errmsg(p->pv_index));
        }
    }
    pthread_rwlock_unlock(&p->pv_gate);
    return rc;
}

int steme_pvisual_insert(steme_pvisual *p, uint64_t phash, const steme_hash *id)
{
    return pv_apply(p, PV_OP_INSERT, phash, id);
}

int steme_pvisual_remove(steme_pvisual *p, uint64_t phash, const steme_hash *id)
{
    return pv_apply(p, PV_OP_REMOVE, phash, id);
}

/* Delete snapshots older than the two newest; cut the log below the older. */
static int pv_trim(steme_pvisual *p)
{
    uint64_t offs[PV_MAX_SNAPS];
    size_t n;
    steme_error e;
    int rc = pv_list_snaps(p->pv_dir, offs, &n, &e);
    if (rc != STEME_OK)
        return pv_fail(p, rc, "%s", e.message);
    for (size_t i = 2; i < n; i++) {
        char *path = pv_snap_path(p->pv_dir, offs[i]);
        if (path && remove(path) != 0)
            pv_warn(p, "cannot remove old snapshot %s", path);
        free(path);
    }
    if (n >= 3 && (rc = steme_fsync_dir(p->pv_dir, &e)) != STEME_OK)
        return pv_fail(p, rc, "%s", e.message);
    if (n >= 2 && (rc = steme_wal_checkpoint(p->pv_wal, offs[1])) != STEME_OK)
        return pv_fail(p, rc, "pvisual_checkpoint: %s", steme_wal_errmsg(p->pv_wal));
    return STEME_OK;
}

int steme_pvisual_checkpoint(steme_pvisual *p, uint64_t *offset)
{
    if (!p)
        return STEME_E_INVALID;
    pthread_mutex_lock(&p->pv_ckpt);
    uint64_t *codes = NULL;
    steme_hash *ids = NULL;
    size_t n = 0;
    pthread_rwlock_wrlock(&p->pv_gate);
    uint64_t off = steme_wal_end_offset(p->pv_wal);
    int rc = vs_export(p->pv_index, &codes, &ids, &n);
    pthread_rwlock_unlock(&p->pv_gate);
    char *path = NULL;
    if (rc != STEME_OK) {
        rc = pv_fail(p, rc, "pvisual_checkpoint: out of memory copying %zu entries", n);
        goto done;
    }
    if (!(path = pv_snap_path(p->pv_dir, off))) {
        rc = pv_fail(p, STEME_E_NOMEM, "pvisual_checkpoint: out of memory");
        goto done;
    }
    steme_error e;
    if ((rc = vsnap_write(path, codes, ids, n, off, &e)) != STEME_OK) {
        pv_fail(p, rc, "%s", e.message);
        goto done;
    }
    rc = pv_trim(p);
    if (offset)
        *offset = off;
done:
    free(path);
    free(codes);
    free(ids);
    pthread_mutex_unlock(&p->pv_ckpt);
    return rc;
}

steme_visual *steme_pvisual_index(steme_pvisual *p)
{
    return p ? p->pv_index : NULL;
}

void steme_pvisual_close(steme_pvisual *p)
{
    if (p)
        pv_free(p);
}

const char *steme_pvisual_errmsg(steme_pvisual *p)
{
    return p ? steme_errslot_message(&p->pv_err) : "no handle";
}

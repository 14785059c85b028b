/*
 * bench/wal.c - durable 128-byte appends: steme's WAL against raw RocksDB
 * puts with sync=1, at 1, 8 and 64 closed-loop writer threads, in one run.
 *
 * Each case runs for a fixed time (STEME_BENCH_SECONDS, default 2.5 s) on a
 * fresh directory under $TMPDIR (default /tmp); every writer loops: time,
 * one durable write, time. Output: one JSON object per line,
 *   {"bench":"wal","system":"steme","threads":T,"record_bytes":128,
 *    "ops_per_s":X,"records_per_sync":Y,"p50_us":..,"p99_us":..}
 * for steme, then RocksDB, then one ratio line per thread count.
 *
 * RocksDB setup (its fastest durable configuration we found here): WAL on,
 * WriteOptions.sync = 1, enable_pipelined_write = 1 (WAL writes of the
 * next group overlap the memtable inserts of the previous one),
 * allow_concurrent_memtable_write = 1 and enable_write_thread_adaptive_yield
 * = 1 (defaults, set explicitly), recycle_log_file_num = 4 (reused, fully
 * allocated log files), 64 MiB memtable so no flush runs during a case,
 * statistics on (to count WAL syncs: rocksdb.wal.synced). Keys are 16 bytes
 * (thread, sequence), values 128 bytes: the same payload size as steme's.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <ftw.h>

#include <rocksdb/c.h>
#include "steme/wal.h"

#define RECORD 128
#define HIST_US 65536   /* latency histogram: 1 us buckets up to 65 ms */

typedef struct bench_case {
    int system;             /* 0 steme, 1 rocksdb */
    int threads;
    double seconds;
    steme_wal *wal;
    rocksdb_t *db;
    rocksdb_writeoptions_t *wopts;
    _Atomic int go, stop;
    _Atomic int failed;
} bench_case;

typedef struct worker {
    bench_case *bc;
    int id;
    uint64_t ops;
    uint32_t *hist;         /* HIST_US + 1 buckets, last = overflow */
} worker;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *worker_main(void *p)
{
    worker *wk = p;
    bench_case *bc = wk->bc;
    uint8_t value[RECORD];
    uint8_t key[16];
    memset(value, 0x5a ^ wk->id, sizeof value);
    while (!atomic_load(&bc->go))
        ;
    for (uint64_t seq = 0; !atomic_load_explicit(&bc->stop, memory_order_relaxed); seq++) {
        memcpy(value, &seq, sizeof seq);
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        if (bc->system == 0) {
            if (steme_wal_append(bc->wal, value, sizeof value, NULL) != STEME_OK) {
                atomic_store(&bc->failed, 1);
                break;
            }
        } else {
            char *err = NULL;
            uint64_t id = (uint64_t)wk->id;
            memcpy(key, &id, 8);
            memcpy(key + 8, &seq, 8);
            rocksdb_put(bc->db, bc->wopts, (const char *)key, sizeof key, (const char *)value,
                        sizeof value, &err);
            if (err) {
                fprintf(stderr, "rocksdb put: %s\n", err);
                rocksdb_free(err);
                atomic_store(&bc->failed, 1);
                break;
            }
        }
        clock_gettime(CLOCK_MONOTONIC, &b);
        int64_t us = (b.tv_sec - a.tv_sec) * 1000000 + (b.tv_nsec - a.tv_nsec) / 1000;
        wk->hist[us < HIST_US ? us : HIST_US]++;
        wk->ops++;
    }
    return NULL;
}

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(path);
}

static char *make_dir(const char *tag)
{
    const char *base = getenv("TMPDIR");
    char *path = malloc(4096);
    snprintf(path, 4096, "%s/steme-bench-%s-XXXXXX", base && *base ? base : "/tmp", tag);
    if (!mkdtemp(path)) {
        perror("mkdtemp");
        exit(1);
    }
    return path;
}

/* Extract "NAME COUNT : N" from RocksDB's statistics dump. */
static uint64_t rocks_ticker(const char *stats, const char *name)
{
    const char *p = stats ? strstr(stats, name) : NULL;
    if (!p)
        return 0;
    p = strstr(p, "COUNT : ");
    return p ? strtoull(p + 8, NULL, 10) : 0;
}

typedef struct result {
    double ops_per_s, records_per_sync, p50, p99;
} result;

static result run_case(int system, int threads, double seconds)
{
    bench_case bc = { .system = system, .threads = threads, .seconds = seconds };
    char *dir = make_dir(system == 0 ? "steme" : "rocksdb");
    rocksdb_options_t *ro = NULL;
    if (system == 0) {
        steme_error e;
        steme_wal_options o;
        steme_wal_options_init(&o);
        const char *fl = getenv("STEME_WAL_FLUSHERS");
        if (fl)
            o.flushers = atoi(fl);
        const char *pa = getenv("STEME_WAL_PREALLOC");
        if (pa)
            o.preallocate = (steme_wal_prealloc)atoi(pa);
        if (steme_wal_open(dir, &o, &bc.wal, NULL, &e) != STEME_OK) {
            fprintf(stderr, "steme_wal_open: %s\n", e.message);
            exit(1);
        }
    } else {
        char *err = NULL;
        ro = rocksdb_options_create();
        rocksdb_options_set_create_if_missing(ro, 1);
        rocksdb_options_set_enable_pipelined_write(ro, 1);
        rocksdb_options_set_allow_concurrent_memtable_write(ro, 1);
        rocksdb_options_set_enable_write_thread_adaptive_yield(ro, 1);
        rocksdb_options_set_recycle_log_file_num(ro, 4);
        rocksdb_options_set_write_buffer_size(ro, 64u << 20);
        rocksdb_options_enable_statistics(ro);
        bc.db = rocksdb_open(ro, dir, &err);
        if (err) {
            fprintf(stderr, "rocksdb_open: %s\n", err);
            exit(1);
        }
        bc.wopts = rocksdb_writeoptions_create();
        rocksdb_writeoptions_set_sync(bc.wopts, 1);
        rocksdb_writeoptions_disable_WAL(bc.wopts, 0);
    }
    worker *wk = calloc((size_t)threads, sizeof *wk);
    pthread_t *tid = calloc((size_t)threads, sizeof *tid);
    for (int i = 0; i < threads; i++) {
        wk[i].bc = &bc;
        wk[i].id = i;
        wk[i].hist = calloc(HIST_US + 1, sizeof(uint32_t));
        pthread_create(&tid[i], NULL, worker_main, &wk[i]);
    }
    struct steme_wal_stats s0 = { 0 }, s1 = { 0 };
    if (system == 0)
        steme_wal_stats(bc.wal, &s0);
    uint64_t synced0 = 0;
    if (system == 1) {
        char *st = rocksdb_options_statistics_get_string(ro);
        synced0 = rocks_ticker(st, "rocksdb.wal.synced");
        rocksdb_free(st);
    }
    double t0 = now_s();
    atomic_store(&bc.go, 1);
    usleep((useconds_t)(seconds * 1e6));
    atomic_store(&bc.stop, 1);
    for (int i = 0; i < threads; i++)
        pthread_join(tid[i], NULL);
    double elapsed = now_s() - t0;
    uint64_t ops = 0;
    static uint64_t hist[HIST_US + 1];
    memset(hist, 0, sizeof hist);
    for (int i = 0; i < threads; i++) {
        ops += wk[i].ops;
        for (int b = 0; b <= HIST_US; b++)
            hist[b] += wk[i].hist[b];
        free(wk[i].hist);
    }
    result r = { .ops_per_s = (double)ops / elapsed };
    uint64_t acc = 0;
    int p50 = -1, p99 = -1;
    for (int b = 0; b <= HIST_US; b++) {
        acc += hist[b];
        if (p50 < 0 && acc * 2 >= ops)
            p50 = b;
        if (p99 < 0 && acc * 100 >= ops * 99)
            p99 = b;
    }
    r.p50 = p50;
    r.p99 = p99;
    if (system == 0) {
        steme_wal_stats(bc.wal, &s1);
        uint64_t syncs = s1.syncs - s0.syncs;
        r.records_per_sync = syncs ? (double)(s1.records - s0.records) / (double)syncs : 0;
        steme_wal_close(bc.wal);
    } else {
        char *st = rocksdb_options_statistics_get_string(ro);
        uint64_t synced = rocks_ticker(st, "rocksdb.wal.synced") - synced0;
        rocksdb_free(st);
        r.records_per_sync = synced ? (double)ops / (double)synced : 0;
        rocksdb_close(bc.db);
        rocksdb_writeoptions_destroy(bc.wopts);
        rocksdb_options_destroy(ro);
    }
    if (atomic_load(&bc.failed)) {
        fprintf(stderr, "a write failed\n");
        exit(1);
    }
    free(wk);
    free(tid);
    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
    return r;
}

int main(int argc, char **argv)
{
    double seconds = 2.5;
    const char *env = getenv("STEME_BENCH_SECONDS");
    if (env && atof(env) > 0)
        seconds = atof(env);
    int counts[3] = { 1, 8, 64 };
    /* Optional: argv[1] = 0 (steme only) or 1 (rocksdb only); argv[2] = one
     * thread count. Environment: STEME_WAL_FLUSHERS, STEME_WAL_PREALLOC. */
    int only_system = argc > 1 ? atoi(argv[1]) : -1;
    int only_threads = argc > 2 ? atoi(argv[2]) : 0;
    result res[2][3];
    static const char *names[2] = { "steme", "rocksdb" };
    for (int s = 0; s < 2; s++) {
        for (int k = 0; k < 3; k++) {
            if ((only_system >= 0 && s != only_system) ||
                (only_threads > 0 && counts[k] != only_threads))
                continue;
            result r = run_case(s, counts[k], seconds);
            res[s][k] = r;
            printf("{\"bench\":\"wal\",\"system\":\"%s\",\"threads\":%d,\"record_bytes\":%d,"
                   "\"ops_per_s\":%.0f,\"records_per_sync\":%.2f,\"p50_us\":%.0f,"
                   "\"p99_us\":%.0f}\n", names[s], counts[k], RECORD, r.ops_per_s,
                   r.records_per_sync, r.p50, r.p99);
            fflush(stdout);
        }
    }
    if (only_system < 0 && only_threads == 0)
        for (int k = 0; k < 3; k++)
            printf("{\"bench\":\"wal\",\"system\":\"ratio\",\"threads\":%d,"
                   "\"steme_over_rocksdb\":%.2f}\n", counts[k],
                   res[1][k].ops_per_s > 0 ? res[0][k].ops_per_s / res[1][k].ops_per_s : 0);
    return 0;
}

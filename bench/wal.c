/*
 * bench/wal.c - durable 128-byte appends: steme's WAL against raw RocksDB
 * puts with sync=1, at 1, 8 and 64 closed-loop writer threads, in one run.
 *
 * Each case runs for a fixed time (STEME_BENCH_SECONDS, default 2.5 s) on a
 * fresh directory under $TMPDIR (default /tmp); every writer loops: time,
 * one durable write, time. Output: one JSON object per line,
 *   {"bench":"wal","system":"steme","threads":T,"record_bytes":128,
 *    "ops_per_s":X,"records_per_sync":Y,"p50_us":..,"p99_us":..,
 *    "cpu_us_per_op":..}
 * for steme and RocksDB at each thread count, then one ratio line per
 * thread count. cpu_us_per_op is the process's user+system CPU time during
 * the case over the ops done: on this shared 2-vCPU VM ops/s swing with
 * other people's load, while the CPU an ack costs is steadier.
 *
 * RocksDB setup (its fastest durable configuration measured here, see
 * docs/wal.md), printed twice: "rocksdb" with its default ordered writes,
 * and "rocksdb-unordered" with unordered_write = 1 (memtable
 * inserts no longer wait for earlier write groups; the WAL stays ordered and
 * every put still returns after the fdatasync of its group: +50% here),
 * which needs enable_pipelined_write = 0, allow_concurrent_memtable_write =
 * 1, enable_write_thread_adaptive_yield = 0 (its spinning costs CPU that 64
 * threads on 2 vCPUs do not have: +10-15%), recycle_log_file_num = 4, 64 MiB
 * memtable so no flush runs during a case.
 * Statistics stay OFF: they cost CPU on every write; records per sync come
 * from the always-on internal counters instead (rocks_records_per_sync).
 * Keys are 16 bytes (thread, sequence), values 128 bytes: the same payload
 * size as steme's.
 * STEME_BENCH_ROCKS="unordered=0,pipelined=1,yield=1,stats=1,recycle=0,
 * recovery=3" overrides single settings, to check that the defaults above
 * are RocksDB's best here.
 *
 * Order: for each thread count, steme then RocksDB back to back, so both
 * see about the same machine load (this VM is shared; loads drift over
 * seconds) and the ratio line compares like with like.
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
#include <sys/resource.h>

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

/* Records per WAL sync since open: with sync=1 each write group ends with
 * one WAL fdatasync, and "Cumulative writes: ..., N commit groups, X writes
 * per commit group" in rocksdb.dbstats (internal counters, kept without
 * Statistics) gives X from exact counts (the counts themselves are printed
 * rounded, "13K"). The "M syncs" of "Cumulative WAL:" stays 0 under
 * unordered_write, while strace shows the fdatasyncs happen. The DB is
 * fresh per case, so "since open" is the case. */
static double rocks_records_per_sync(rocksdb_t *db)
{
    char *st = rocksdb_property_value(db, "rocksdb.dbstats");
    const char *p = st ? strstr(st, "Cumulative writes:") : NULL;
    double per = 0;
    if (p && (p = strstr(p, "commit groups, ")))
        per = strtod(p + 15, NULL);
    rocksdb_free(st);
    return per;
}

/* Which RocksDB peer runs: 0 = its default ordered writes ("rocksdb"),
 * 1 = unordered_write ("rocksdb-unordered"). Set by main before a case. */
static int g_rocks_unordered;

/* One RocksDB setting from STEME_BENCH_ROCKS ("name=0,name=1"), or dflt. */
static int rocks_opt(const char *name, int dflt)
{
    const char *env = getenv("STEME_BENCH_ROCKS");
    size_t n = strlen(name);
    for (const char *p = env; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
        if (strncmp(p, name, n) == 0 && p[n] == '=')
            return atoi(p + n + 1);
    return dflt;
}

typedef struct result {
    double ops_per_s, records_per_sync, p50, p99, cpu_us_per_op;
} result;

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

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
        const char *fi = getenv("STEME_WAL_INFLIGHT");
        if (fi)
            o.syncs_in_flight = atoi(fi);
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
        rocksdb_options_set_enable_pipelined_write(ro, (unsigned char)rocks_opt("pipelined", 0));
        rocksdb_options_set_allow_concurrent_memtable_write(ro, 1);
        rocksdb_options_set_enable_write_thread_adaptive_yield(ro,
                                                               (unsigned char)rocks_opt("yield", 0));
        rocksdb_options_set_unordered_write(ro, (unsigned char)rocks_opt("unordered",
                                                                     g_rocks_unordered));
        rocksdb_options_set_recycle_log_file_num(ro, (size_t)rocks_opt("recycle", 4));
        /* RocksDB 7.8 silently turns recycling off under its default
         * kPointInTimeRecovery (LOG: recycle_log_file_num: 0); only
         * kSkipAnyCorruptedRecords keeps it, which is unsafe, and measured
         * no faster here ("recovery=3"). Kept so newer RocksDB uses it. */
        rocksdb_options_set_wal_recovery_mode(ro, rocks_opt("recovery", 2));
        rocksdb_options_set_write_buffer_size(ro, 64u << 20);
        if (rocks_opt("stats", 0))
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
    double t0 = now_s(), c0 = cpu_s();
    atomic_store(&bc.go, 1);
    usleep((useconds_t)(seconds * 1e6));
    atomic_store(&bc.stop, 1);
    for (int i = 0; i < threads; i++)
        pthread_join(tid[i], NULL);
    double elapsed = now_s() - t0, cpu = cpu_s() - c0;
    uint64_t ops = 0;
    static uint64_t hist[HIST_US + 1];
    memset(hist, 0, sizeof hist);
    for (int i = 0; i < threads; i++) {
        ops += wk[i].ops;
        for (int b = 0; b <= HIST_US; b++)
            hist[b] += wk[i].hist[b];
        free(wk[i].hist);
    }
    result r = { .ops_per_s = (double)ops / elapsed,
                 .cpu_us_per_op = ops ? cpu * 1e6 / (double)ops : 0 };
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
        r.records_per_sync = rocks_records_per_sync(bc.db);
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
    /* Optional: argv[1] = 0 (steme only), 1 (rocksdb only) or -1 (both);
     * argv[2] = one thread count. Environment: STEME_WAL_FLUSHERS,
     * STEME_WAL_INFLIGHT, STEME_WAL_PREALLOC, STEME_BENCH_ROCKS (see the top of this file). */
    int only_system = argc > 1 ? atoi(argv[1]) : -1;
    int only_threads = argc > 2 ? atoi(argv[2]) : 0;
    /* Two RocksDB peers: its default ordered write path (the same guarantees
     * as steme: acknowledged in order, reads never see a later write before
     * an earlier one) and unordered_write, its fastest durable mode, which
     * gives up that read ordering. Both are printed; ratios against both. */
    result res[3][3];
    memset(res, 0, sizeof res);
    static const char *names[3] = { "steme", "rocksdb", "rocksdb-unordered" };
    for (int k = 0; k < 3; k++) {
        for (int s = 0; s < 3; s++) {
            int sys = s == 0 ? 0 : 1;
            if ((only_system >= 0 && sys != only_system) ||
                (only_threads > 0 && counts[k] != only_threads))
                continue;
            g_rocks_unordered = s == 2;
            result r = run_case(sys, counts[k], seconds);
            res[s][k] = r;
            printf("{\"bench\":\"wal\",\"system\":\"%s\",\"threads\":%d,\"record_bytes\":%d,"
                   "\"ops_per_s\":%.0f,\"records_per_sync\":%.2f,\"p50_us\":%.0f,"
                   "\"p99_us\":%.0f,\"cpu_us_per_op\":%.1f}\n", names[s], counts[k], RECORD,
                   r.ops_per_s, r.records_per_sync, r.p50, r.p99, r.cpu_us_per_op);
            fflush(stdout);
        }
    }
    /* Ratios last, one line per thread count measured for both systems. */
    for (int k = 0; k < 3 && only_system < 0; k++)
        if (only_threads == 0 || counts[k] == only_threads)
            printf("{\"bench\":\"wal\",\"system\":\"ratio\",\"threads\":%d,"
                   "\"steme_over_rocksdb\":%.2f,\"steme_over_rocksdb_unordered\":%.2f}\n",
                   counts[k],
                   res[1][k].ops_per_s > 0 ? res[0][k].ops_per_s / res[1][k].ops_per_s : 0,
                   res[2][k].ops_per_s > 0 ? res[0][k].ops_per_s / res[2][k].ops_per_s : 0);
    return 0;
}

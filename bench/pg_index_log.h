/*
 * bench/pg_index_log.h - bench/pg.c's index catch-up cases: index-log
 * appends per second (1 and 64 clients), and the delay from an add on one
 * node to its sight by another node's tailer (p50, p99), with the tailer's
 * own poll interval and rescan window (docs/scale-out.md, "Index
 * catch-up"). Header-only, included once by bench/pg.c after its `bench`
 * type and helpers (the bench build compiles only the .c files directly
 * under bench/).
 */
#ifndef STEME_BENCH_PG_INDEX_LOG_H
#define STEME_BENCH_PG_INDEX_LOG_H

#define IL_DIM 128
#define IL_POLL_MS 100
#define IL_WINDOW_MS 5000
#define IL_MAX_ENTRIES 4096

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static steme_index_log *il_open(bench *b)
{
    steme_index_log *l = NULL;
    steme_error e;
    if (steme_index_log_open_db(b->db, NULL, &l, &e) != STEME_OK)
        fprintf(stderr, "pg bench: index log: %s\n", e.message);
    return l;
}

typedef struct il_client {
    client c;
    steme_index_log *log;
} il_client;

static void *il_append_client(void *p)
{
    il_client *ic = p;
    bench *b = ic->c.b;
    float vec[IL_DIM];
    for (int i = 0; i < IL_DIM; i++)
        vec[i] = (float)(i * 0.01);
    steme_index_log_entry e;
    memset(&e, 0, sizeof e);
    e.kind = STEME_INDEX_LOG_VECTOR;
    e.dim = IL_DIM;
    e.metric = 1;
    e.vec = vec;
    while (!atomic_load(&b->stop)) {
        e.id = b->h[(ic->c.ops * 7 + (uint64_t)ic->c.id) % ASSERTIONS];
        if (steme_index_log_append(ic->log, &e) != STEME_OK) {
            fprintf(stderr, "pg bench: append: %s\n", steme_index_log_errmsg(ic->log));
            atomic_store(&b->failed, 1);
            break;
        }
        ic->c.ops++;
    }
    return NULL;
}

static int il_append_case(bench *b, int clients, int round)
{
    b->embedded = 0;
    if (setup(b, clients + 2, round) != 0)
        return -1;
    steme_index_log *log = il_open(b);
    il_client cl[MAX_CLIENTS];
    pthread_t th[MAX_CLIENTS];
    atomic_store(&b->stop, 0);
    atomic_store(&b->failed, 0);
    double t0 = now_s();
    for (int i = 0; log && i < clients; i++) {
        cl[i] = (il_client){{b, i, 0}, log};
        pthread_create(&th[i], NULL, il_append_client, &cl[i]);
    }
    struct timespec ts = {(time_t)b->seconds, (long)((b->seconds - (double)(time_t)b->seconds) * 1e9)};
    nanosleep(&ts, NULL);
    atomic_store(&b->stop, 1);
    uint64_t ops = 0;
    for (int i = 0; log && i < clients; i++) {
        pthread_join(th[i], NULL);
        ops += cl[i].c.ops;
    }
    double el = now_s() - t0;
    steme_index_log_close(log);
    teardown(b);
    if (!log || atomic_load(&b->failed))
        return -1;
    printf("{\"bench\":\"pg\",\"system\":\"steme-pg\",\"case\":\"index_log_append\","
           "\"clients\":%d,\"ops_per_s\":%.0f}\n", clients, (double)ops / el);
    fflush(stdout);
    return 0;
}

/* The writer: one append every 20 ms, its return time kept by seq. */
typedef struct il_delay {
    bench *b;
    steme_index_log *log;
    _Atomic uint64_t acked_ms[IL_MAX_ENTRIES];   /* 0: not yet acknowledged */
    double seen_delay[IL_MAX_ENTRIES];
    unsigned char seen[IL_MAX_ENTRIES];
    _Atomic uint64_t written;
} il_delay;

static void *il_delay_writer(void *p)
{
    il_delay *d = p;
    steme_index_log_entry e;
    memset(&e, 0, sizeof e);
    e.kind = STEME_INDEX_LOG_VISUAL;
    for (uint64_t i = 0; i < IL_MAX_ENTRIES && !atomic_load(&d->b->stop); i++) {
        e.id.bytes[0] = (uint8_t)i, e.id.bytes[1] = (uint8_t)(i >> 8);
        if (steme_index_log_append(d->log, &e) != STEME_OK) {
            atomic_store(&d->b->failed, 1);
            break;
        }
        atomic_store(&d->acked_ms[i], wall_ms());
        atomic_store(&d->written, i + 1);
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static int il_seen(void *ctx, const steme_index_log_entry *e)
{
    il_delay *d = ctx;
    unsigned i = e->id.bytes[0] | (unsigned)e->id.bytes[1] << 8;
    if (i < IL_MAX_ENTRIES && !d->seen[i]) {
        uint64_t acked = atomic_load(&d->acked_ms[i]), now = wall_ms();
        d->seen[i] = 1;   /* acked 0: seen before the writer noted its return */
        d->seen_delay[i] = acked && now > acked ? (double)(now - acked) : 0.0;
    }
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int il_delay_case(bench *b, int round)
{
    b->embedded = 0;
    if (setup(b, 4, round) != 0)
        return -1;
    steme_db *writer_db = b->db;          /* the writer's node */
    b->db = NULL;
    il_delay *d = calloc(1, sizeof *d);
    int rc = open_db(b, 2);               /* the tailer's node: its own pool */
    steme_index_log *tail = rc == STEME_OK ? il_open(b) : NULL;
    steme_db *tailer_db = b->db;
    b->db = writer_db;
    d->b = b;
    d->log = il_open(b);
    atomic_store(&b->stop, 0);
    atomic_store(&b->failed, 0);
    pthread_t th;
    if (!d->log || !tail || pthread_create(&th, NULL, il_delay_writer, d) != 0) {
        steme_index_log_close(d->log);
        steme_index_log_close(tail);
        steme_db_close(tailer_db);
        free(d);
        teardown(b);
        return -1;
    }
    double end = now_s() + b->seconds;
    uint64_t lower = 0;
    while (now_s() < end) {
        uint64_t start = wall_ms();
        if (steme_index_log_scan(tail, lower, il_seen, d, NULL) != STEME_OK)
            atomic_store(&b->failed, 1);
        lower = start - IL_WINDOW_MS;
        struct timespec ts = {0, IL_POLL_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
    atomic_store(&b->stop, 1);
    pthread_join(th, NULL);
    (void)steme_index_log_scan(tail, lower, il_seen, d, NULL);
    uint64_t n = atomic_load(&d->written), k = 0;
    double *delays = malloc((n ? n : 1) * sizeof *delays);
    for (uint64_t i = 0; delays && i < n; i++)
        if (d->seen[i])
            delays[k++] = d->seen_delay[i];
    int bad = atomic_load(&b->failed) || !delays || k != n || n == 0;
    if (!bad) {
        qsort(delays, k, sizeof *delays, cmp_double);
        printf("{\"bench\":\"pg\",\"system\":\"steme-pg\",\"case\":\"catchup_delay\","
               "\"entries\":%llu,\"p50_ms\":%.0f,\"p99_ms\":%.0f,\"max_ms\":%.0f}\n",
               (unsigned long long)k, delays[k / 2], delays[(k * 99) / 100], delays[k - 1]);
        fflush(stdout);
    } else {
        fprintf(stderr, "pg bench: catch-up: %llu of %llu entries seen\n",
                (unsigned long long)k, (unsigned long long)n);
    }
    free(delays);
    steme_index_log_close(d->log);
    steme_index_log_close(tail);
    steme_db_close(tailer_db);
    free(d);
    teardown(b);
    return bad ? -1 : 0;
}

#endif

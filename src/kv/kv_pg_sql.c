/*
 * kv_pg_sql.c - the pg engine's statements: their text, built once per
 * handle for its table, and their preparation on a connection.
 *
 * Every parameter and every result column travels in binary: bytea as raw
 * bytes (no hex/escape encoding, no per-byte parsing), int8/float8 as
 * 8 big-endian bytes.
 *
 * Counters stay 8 little-endian bytes in the `value` column, exactly as on
 * the embedded engines, and the arithmetic runs in the server inside the
 * upsert, so an add never reads the value into C:
 *
 *   u64: the stored value is read as two 32-bit halves with get_byte(); the
 *        delta arrives as its two halves ($3 low, $4 high, each 0..2^32-1).
 *        low + $3 < 2^33 and high + $4 + carry < 2^33 fit int8, so there is
 *        no overflow error, and masking the high half to 32 bits is the
 *        wrap modulo 2^64. The result is written back with set_byte().
 *        get_byte, set_byte, >>, & and int8 casts exist in PostgreSQL,
 *        CockroachDB and YugabyteDB: this statement is portable.
 *   f64: the stored bits are decoded exactly in SQL (sign, exponent,
 *        mantissa; mantissa * 2^(exp-1075) is exact in float8, subnormals
 *        included), the delta is added with float8 '+', which is IEEE
 *        round-to-nearest like C's, and the result's bits are computed in
 *        SQL from its sign, exponent and fraction (f64_expr below), with no
 *        float8send (which CockroachDB lacks): portable too.
 *   A stored value that is not 8 bytes makes the statement fail on purpose:
 *   casting the text KV_PG_NOT_COUNTER:<length> to int8 raises 22P02 with our
 *   marker in the message, which kv_pg_err_result turns into STEME_E_CORRUPT.
 *   (The failing branch depends on the row, so the planner cannot fold it.)
 *   Inside a batch the failure aborts the whole transaction: nothing of the
 *   batch is applied.
 *
 * No stored function: CREATE FUNCTION needs privileges, races between nodes
 * opening at once, and differs across the three engines; a prepared
 * statement is parsed once per connection anyway.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv/kv_pg_int.h"

#define OID_BYTEA 17
#define OID_INT8 20
#define OID_FLOAT8 701

static const char *const stmt_names[KV_PG_NSTMT] = {
    "steme_get", "steme_put", "steme_del", "steme_add_u64", "steme_add_f64",
    "steme_scan_f", "steme_scan_fh", "steme_scan_r", "steme_scan_rh",
    "steme_expect_val", "steme_expect_absent",
};

const char *kv_pg_stmt_name(int id)
{
    return id >= 0 && id < KV_PG_NSTMT ? stmt_names[id] : "?";
}

/* A growable string; on allocation failure it stays "failed" (s == NULL). */
typedef struct sqlbuf {
    char *s;
    size_t len, cap;
    int failed;
} sqlbuf;

__attribute__((format(printf, 2, 3))) static void sb_add(sqlbuf *b, const char *fmt, ...)
{
    if (b->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = 1;
            return;
        }
        if (b->s && (size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t ncap = (b->cap ? b->cap * 2 : 1024) + (size_t)n;
        char *s = realloc(b->s, ncap);
        if (!s) {
            b->failed = 1;
            return;
        }
        b->s = s;
        b->cap = ncap;
    }
}

/* Take the text (NULL if anything failed). */
static char *sb_take(sqlbuf *b)
{
    if (b->failed) {
        free(b->s);
        return NULL;
    }
    return b->s;
}

/* get_byte(t.value, i) as int8. */
#define GB "get_byte(t.value,%d)::int8"

static void u64_low(sqlbuf *b)
{
    sb_add(b, "((" GB "+" GB "*256+" GB "*65536+" GB "*16777216)+$3)", 0, 1, 2, 3);
}

static void u64_high(sqlbuf *b)
{
    sb_add(b, "(((" GB "+" GB "*256+" GB "*65536+" GB "*16777216)+$4+(", 4, 5, 6, 7);
    u64_low(b);
    sb_add(b, ">>32))&4294967295)");
}

/* The new value of a u64 counter: set_byte() eight times over t.value. */
static void u64_expr(sqlbuf *b)
{
    for (int i = 0; i < 8; i++)
        sb_add(b, "set_byte(");
    sb_add(b, "t.value");
    for (int i = 0; i < 8; i++) {
        sb_add(b, ",%d,((", i);
        if (i < 4)
            u64_low(b);
        else
            u64_high(b);
        sb_add(b, ">>%d)&255)::int4)", 8 * (i % 4));
    }
}

/* The stored f64, decoded exactly from its little-endian bits. */
static void f64_decode(sqlbuf *b)
{
    static const char E[] = "((get_byte(t.value,7)&127)*16+(get_byte(t.value,6)>>4))";
    static const char M[] = "((get_byte(t.value,6)&15)::int8*281474976710656"
                            "+get_byte(t.value,5)::int8*1099511627776"
                            "+get_byte(t.value,4)::int8*4294967296"
                            "+get_byte(t.value,3)::int8*16777216"
                            "+get_byte(t.value,2)::int8*65536"
                            "+get_byte(t.value,1)::int8*256+get_byte(t.value,0)::int8)";
    sb_add(b,
           "((CASE WHEN %s=0 THEN %s::float8*power(2::float8,-1074)"
           " ELSE (%s+4503599627370496)::float8*power(2::float8,%s-1075) END)"
           "*(1-2*(get_byte(t.value,7)>>7)))",
           E, M, M, E);
}

/* The new value of an f64 counter: x = old + $3 (float8 '+', IEEE
 * round-to-nearest as in C), then x's IEEE 754 bits computed in SQL,
 * portably (CockroachDB has no float8send), as derived tables so that each
 * step is written once:
 *   sg  the sign bit: x < 0, or x is -0 (atan2(-0, -1) = -pi, atan2(+0, -1)
 *       = +pi: the one portable test for a negative zero);
 *   e0  floor(ln|x| / ln 2), within 1 of the binary exponent (the quotient's
 *       error is far below 1 for |e| <= 1074), clamped to [-1022, 1023];
 *       -1023 marks zero and subnormals (|x| < 2^-1022), so ln never sees 0;
 *   e   e0 corrected by exact comparisons with powers of two (power(2, n)
 *       is exact for integer n in range; 2^(e0+1) is not formed for
 *       e0 = 1023, where it would overflow);
 *   fr  the 52-bit fraction: (|x| / 2^e - 1) * 2^52, exact (division by a
 *       power of two, result an integer below 2^52); for a subnormal
 *       |x| * 2^1022 * 2^52 (two exact scalings: 2^1074 is not a float8);
 *   hi, lo  the top and bottom 32 bits, each fitting an int8;
 * then the 8 little-endian bytes with set_byte() over t.value (8 bytes:
 * the CASE only gets here for an 8-byte value). Only power, ln, atan2,
 * floor, abs, LEAST/GREATEST, casts and set_byte: PostgreSQL, CockroachDB
 * and YugabyteDB all have them. Checked bit for bit against C's addition in
 * tests/kv/test_kv_pg.c (random bit patterns, subnormals, signed zeros). */
static void f64_expr(sqlbuf *b)
{
    sb_add(b, "(SELECT ");
    for (int i = 0; i < 8; i++)
        sb_add(b, "set_byte(");
    sb_add(b, "t.value");
    for (int i = 0; i < 8; i++)
        sb_add(b, ",%d,((%s>>%d)&255)::int4)", i, i < 4 ? "s5.lo" : "s5.hi", 8 * (i % 4));
    sb_add(b, " FROM (SELECT s4.fr&4294967295 AS lo,"
              " (s4.fr>>32)+s4.ef*1048576+s4.sg*2147483648 AS hi FROM"
              " (SELECT s3.sg, CASE WHEN s3.e=-1023 THEN 0 ELSE s3.e+1023 END AS ef,"
              " CASE WHEN s3.e=-1023 THEN (s3.a*power(2::float8,1022)*power(2::float8,52))::int8"
              " ELSE ((s3.a/power(2::float8,s3.e::float8)-1)*power(2::float8,52))::int8 END AS fr"
              " FROM (SELECT s2.sg, s2.a, CASE WHEN s2.e0=-1023 THEN -1023"
              " WHEN s2.e0<1023 AND power(2::float8,(s2.e0+1)::float8)<=s2.a THEN s2.e0+1"
              " WHEN power(2::float8,s2.e0::float8)>s2.a THEN s2.e0-1 ELSE s2.e0 END AS e"
              " FROM (SELECT s1.sg, s1.a, CASE WHEN s1.a<power(2::float8,-1022) THEN -1023::int8"
              " ELSE LEAST(1023,GREATEST(-1022,floor(ln(s1.a)/ln(2::float8))::int8)) END AS e0"
              " FROM (SELECT abs(s0.x) AS a, CASE WHEN s0.x<0 OR (s0.x=0 AND"
              " atan2(s0.x,-1::float8)<0) THEN 1::int8 ELSE 0::int8 END AS sg"
              " FROM (SELECT ");
    f64_decode(b);
    sb_add(b, "+$3 AS x) AS s0) AS s1) AS s2) AS s3) AS s4) AS s5)");
}

static char *counter_sql(const char *table, int f64)
{
    sqlbuf b = {0};
    sb_add(&b,
           "INSERT INTO %s AS t (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE "
           "SET value = CASE WHEN length(t.value) = 8 THEN ",
           table);
    if (f64)
        f64_expr(&b);
    else
        u64_expr(&b);
    sb_add(&b,
           " ELSE decode(('" KV_PG_NOT_COUNTER ":' || length(t.value)::text)::int8::text,"
           " 'hex') END");
    return sb_take(&b);
}

static char *fmt_sql(const char *fmt, const char *table)
{
    sqlbuf b = {0};
    sb_add(&b, fmt, table);
    return sb_take(&b);
}

int kv_pg_sql_build(kv_pg *g)
{
    const char *t = g->pg_table;
    g->pg_sql[KV_PG_GET] = fmt_sql("SELECT value FROM %s WHERE key = $1", t);
    g->pg_sql[KV_PG_PUT] = fmt_sql("INSERT INTO %s (key, value) VALUES ($1, $2) "
                                   "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                                   t);
    g->pg_sql[KV_PG_DEL] = fmt_sql("DELETE FROM %s WHERE key = $1", t);
    g->pg_sql[KV_PG_ADD_U64] = counter_sql(t, 0);
    g->pg_sql[KV_PG_ADD_F64] = counter_sql(t, 1);
    g->pg_sql[KV_PG_SCAN_FWD] =
        fmt_sql("SELECT key, value FROM %s WHERE key >= $1 ORDER BY key LIMIT $2", t);
    g->pg_sql[KV_PG_SCAN_FWD_HI] = fmt_sql(
        "SELECT key, value FROM %s WHERE key >= $1 AND key < $2 ORDER BY key LIMIT $3", t);
    g->pg_sql[KV_PG_SCAN_REV] =
        fmt_sql("SELECT key, value FROM %s WHERE key >= $1 ORDER BY key DESC LIMIT $2", t);
    g->pg_sql[KV_PG_SCAN_REV_HI] = fmt_sql(
        "SELECT key, value FROM %s WHERE key >= $1 AND key < $2 ORDER BY key DESC LIMIT $3", t);
    /* Preconditions: the row count decides, and a count other than 1 makes
     * the statement fail on purpose (the cast of our marker to int8 raises
     * 22P02), which aborts the transaction: the COMMIT queued behind it in
     * the pipeline becomes a rollback, so no round trip is spent waiting
     * for the verdict. The failing branch depends on the count, so the
     * planner cannot fold it.
     *   value:  SELECT ... FOR UPDATE locks the row until COMMIT; under READ
     *           COMMITTED a concurrent writer is waited for and the WHERE is
     *           evaluated again on the row it committed, so a changed value
     *           fails here rather than being overwritten.
     *   absent: no row to lock, so we claim the key: INSERT ... ON CONFLICT
     *           DO NOTHING inserts a placeholder only if no row (committed,
     *           or in flight in another transaction, which is waited for)
     *           holds the key; the batch then deletes it (KV_PG_DEL right
     *           after), keeping the key's lock until COMMIT. */
    g->pg_sql[KV_PG_EXPECT_VAL] = fmt_sql(
        "SELECT CASE WHEN count(*) = 1 THEN 1 ELSE ('" KV_PG_EXPECT_FAILED ":' || "
        "count(*)::text)::int8 END FROM (SELECT 1 FROM %s WHERE key = $1 AND value = $2 "
        "FOR UPDATE) AS s",
        t);
    g->pg_sql[KV_PG_EXPECT_ABSENT] = fmt_sql(
        "WITH i AS (INSERT INTO %s (key, value) VALUES ($1, ''::bytea) ON CONFLICT (key) DO "
        "NOTHING RETURNING 1) SELECT CASE WHEN count(*) = 1 THEN 1 ELSE ('" KV_PG_EXPECT_FAILED
        ":' || count(*)::text)::int8 END FROM i",
        t);
    for (int i = 0; i < KV_PG_NSTMT; i++)
        if (!g->pg_sql[i])
            return STEME_E_NOMEM;
    return STEME_OK;
}

void kv_pg_sql_free(kv_pg *g)
{
    for (int i = 0; i < KV_PG_NSTMT; i++) {
        free(g->pg_sql[i]);
        g->pg_sql[i] = NULL;
    }
}

/* Parameter types of each statement (binary formats follow from them). */
static const Oid p_key[] = {OID_BYTEA};
static const Oid p_kv[] = {OID_BYTEA, OID_BYTEA};
static const Oid p_u64[] = {OID_BYTEA, OID_BYTEA, OID_INT8, OID_INT8};
static const Oid p_f64[] = {OID_BYTEA, OID_BYTEA, OID_FLOAT8};
static const Oid p_scan[] = {OID_BYTEA, OID_INT8};
static const Oid p_scan_hi[] = {OID_BYTEA, OID_BYTEA, OID_INT8};

static const struct {
    const Oid *types;
    int n;
} stmt_params[KV_PG_NSTMT] = {
    {p_key, 1}, {p_kv, 2}, {p_key, 1}, {p_u64, 4}, {p_f64, 3},
    {p_scan, 2}, {p_scan_hi, 3}, {p_scan, 2}, {p_scan_hi, 3},
    {p_kv, 2}, {p_key, 1},
};

typedef struct prep_ctx {
    kv_pg *g;
} prep_ctx;

static int prep_send(PGconn *c, void *ctx, size_t i)
{
    prep_ctx *p = ctx;
    return PQsendPrepare(c, stmt_names[i], p->g->pg_sql[i], stmt_params[i].n,
                         stmt_params[i].types);
}

static int prep_result(void *ctx, size_t i, PGresult *r)
{
    (void)ctx, (void)i, (void)r;
    return 0;
}

int kv_pg_prepare_all(kv_pg *g, PGconn *c, kv_pg_err *e)
{
    prep_ctx p = {g};
    size_t seen = 0;
    return kv_pg_pipeline(c, KV_PG_NSTMT, prep_send, prep_result, &p, &seen, e);
}


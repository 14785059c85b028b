/*
 * record_sign.c - content hashes and Ed25519 signatures of records.
 *
 * Both cover the UNSIGNED canonical encoding: the record encoded with its
 * signature flag bit clear and no signature bytes. So a record's hash (its
 * identity and its key) is the same signed or not, and the signature is
 * over exactly the bytes that were hashed.
 */
#include "core/record_int.h"

#include <stdlib.h>
#include <string.h>
#include "core/error.h"
#include "steme/hash.h"
#include "steme/sign.h"

/* Records up to this size are built on the stack (all but big objects). */
#define REC_STACK_BUF 4096u

static void rec_sink_blake3(void *ctx, const uint8_t *p, size_t n)
{
    steme_blake3_update((steme_blake3 *)ctx, p, n);
}

int rec_hash_unsigned(const char *rec, const void *x, size_t need, rec_write_fn write,
                      steme_hash *out, steme_error *err)
{
    uint8_t stage[REC_STACK_BUF];
    codec_w w;
    if (need <= sizeof stage) {
        cw_init(&w, stage, sizeof stage);
        write(x, &w);
        int rc = rec_encode_end(rec, &w, need, err);
        if (rc == STEME_OK)
            steme_blake3_hash(stage, need, out);
        return rc;
    }
    /* Large record: stream through the stage, no allocation. */
    steme_blake3 h;
    steme_blake3_init(&h);
    cw_init_sink(&w, stage, sizeof stage, rec_sink_blake3, &h);
    write(x, &w);
    cw_flush(&w);
    int rc = rec_encode_end(rec, &w, need, err);
    if (rc == STEME_OK)
        steme_blake3_finalize(&h, out->bytes, STEME_HASH_LEN);
    return rc;
}

int rec_with_unsigned(const char *rec, const void *x, size_t need, rec_write_fn write,
                      rec_use_fn use, void *ctx, steme_error *err)
{
    uint8_t stack[REC_STACK_BUF];
    uint8_t *buf = stack;
    if (need > sizeof stack) {
        buf = malloc(need);
        if (!buf)
            return steme_err(err, STEME_E_NOMEM, "%s: cannot allocate %zu bytes to sign", rec,
                             need);
    }
    codec_w w;
    cw_init(&w, buf, need);
    write(x, &w);
    int rc = rec_encode_end(rec, &w, need, err);
    if (rc == STEME_OK)
        rc = use(ctx, buf, need, err);
    if (buf != stack)
        free(buf);
    return rc;
}

int rec_use_sign(void *ctx, const uint8_t *p, size_t n, steme_error *err)
{
    rec_sig_ctx *c = ctx;
    return steme_sign(c->sk, p, n, c->sig_out, err);
}

int rec_use_verify(void *ctx, const uint8_t *p, size_t n, steme_error *err)
{
    rec_sig_ctx *c = ctx;
    return steme_verify(c->pk, p, n, c->sig_in, err);
}

int rec_check_signer(const char *rec, const char *field, const steme_agent_id *agent,
                     const steme_secret_key *sk, steme_error *err)
{
    if (!sk)
        return steme_err(err, STEME_E_INVALID, "%s: secret key is NULL", rec);
    steme_agent_id pk;
    int rc = steme_secret_key_public(sk, &pk, err);
    if (rc != STEME_OK)
        return rc;
    if (memcmp(pk.bytes, agent->bytes, STEME_AGENT_ID_LEN) != 0)
        return steme_err(err, STEME_E_INVALID,
                         "%s: %s is not the public key of the signing secret key", rec, field);
    return STEME_OK;
}

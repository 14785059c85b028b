/*
 * srv_auth.c - who is asking: signed writes and attributed reads.
 *
 * A write (POST on a signed route) carries
 *     X-Agent-Id:  64 hex digits, the agent's Ed25519 public key
 *     X-Signature: 128 hex digits, Ed25519 over the EXACT body bytes
 * and is refused with 401 unless the signature verifies. Signing the raw
 * bytes (not a re-encoding of the parsed JSON) means client and server
 * never have to agree on a JSON canonical form. Reads name the asking
 * agent with X-Agent-Id alone (it is charged at the Meter and written in the
 * audit trail); see docs/api.md for why reads are not signed.
 */
#include <string.h>

#include "server/srv_int.h"
#include "steme/sign.h"
#include "steme/types.h"

int srv_hex_parse(const char *s, uint8_t *out, size_t n)
{
    if (!s || strlen(s) != 2 * n)
        return 0;
    return steme_hex_decode(s, 2 * n, out, n, NULL) == STEME_OK;
}

json_t *srv_hex_json(const uint8_t *p, size_t n)
{
    char buf[2 * 64 + 1];
    if (n > 64)
        return NULL;
    steme_hex_encode(p, n, buf, sizeof buf);
    return json_string(buf);
}

static int read_agent(srv_req *r, srv_resp *out)
{
    const char *id = srv_hdr(r, "X-Agent-Id");
    if (!id) {
        srv_error(out, 401, "HTTP_UNAUTHORIZED", "missing X-Agent-Id header (hex Ed25519 public key)");
        return 0;
    }
    if (!srv_hex_parse(id, r->agent.bytes, sizeof r->agent.bytes)) {
        srv_error(out, 401, "HTTP_UNAUTHORIZED", "X-Agent-Id must be 64 hex digits");
        return 0;
    }
    return 1;
}

int srv_auth_check(srv_req *r, srv_resp *out)
{
    if (!read_agent(r, out))
        return 0;
    const char *sx = srv_hdr(r, "X-Signature");
    steme_signature sig;
    if (!sx) {
        srv_error(out, 401, "HTTP_UNAUTHORIZED",
                  "missing X-Signature header (hex Ed25519 signature of the body)");
        return 0;
    }
    if (!srv_hex_parse(sx, sig.bytes, sizeof sig.bytes)) {
        srv_error(out, 401, "HTTP_UNAUTHORIZED", "X-Signature must be 128 hex digits");
        return 0;
    }
    if (steme_verify(&r->agent, r->body, r->body_len, &sig, NULL) != STEME_OK) {
        srv_error(out, 401, "HTTP_UNAUTHORIZED",
                  "X-Signature is not X-Agent-Id's signature of this body");
        return 0;
    }
    r->has_agent = 1;
    return 1;
}

int srv_auth_reader(srv_req *r, srv_resp *out)
{
    if (!read_agent(r, out))
        return 0;
    r->has_agent = 1;
    return 1;
}

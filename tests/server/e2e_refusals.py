"""Scenarios: what the server refuses and stores nothing for: forged, missing
and mismatched signatures, malformed and oversized bodies, an exhausted quota.
"""
import json

from e2e_lib import check, key, agent_hex, Server, assertion, err_code, query


def scenario_auth(binary):
    """Forged, missing and mismatched signatures are refused; nothing is stored."""
    s = Server(binary).start()
    try:
        c = s.client()
        alice, mallory = key(21), key(22)
        a = assertion(alice, "auth", "p", "x")
        body = json.dumps(a).encode()
        st, b, _ = c.request("POST", "/v1/assertions", body=body)
        check(st == 401 and err_code(b) == "HTTP_UNAUTHORIZED", "no headers", st, b)
        st, b, _ = c.request("POST", "/v1/assertions", body=body,
                             headers={"X-Agent-Id": agent_hex(alice)})
        check(st == 401, "no signature", st, b)
        st, b, _ = c.post("/v1/assertions", a, alice, sign_with=mallory)
        check(st == 401, "signed by another key", st, b)
        other = json.dumps(dict(a, object="y")).encode()
        st, b, _ = c.request("POST", "/v1/assertions", body=body, headers={
            "X-Agent-Id": agent_hex(alice), "X-Signature": alice.sign(other).signature.hex()})
        check(st == 401, "signature of another body", st, b)
        st, b, _ = c.request("POST", "/v1/assertions", body=body, headers={
            "X-Agent-Id": agent_hex(alice), "X-Signature": "zz" * 64})
        check(st == 401, "non-hex signature", st, b)
        st, b, _ = c.post("/v1/assertions", a, mallory)
        check(st == 403 and err_code(b) == "HTTP_FORBIDDEN", "body agent != signer", st, b)
        st, b, _ = c.post("/v1/assertions", dict(a, signature="11" * 64), alice)
        check(st == 401 and err_code(b) == "STEME_E_BAD_SIGNATURE", "bad record signature",
              st, b)
        st, b, _ = c.post("/v1/votes", {"assertion": "00" * 32, "weight": 1,
                                        "voter": agent_hex(alice)}, mallory)
        check(st == 403, "vote for another voter", st, b)
        st, b, _ = c.post("/v1/assertions", assertion(alice, "auth", "q", "x"), alice)
        check(st == 201, "a target for votes", st, b)
        target = b["hash"]
        st, b, _ = c.post("/v1/votes", {"assertion": target, "weight": 1,
                                        "voter": agent_hex(alice), "timestamp": 1700000000000,
                                        "signature": "11" * 64}, alice)
        check(st == 401 and err_code(b) == "STEME_E_BAD_SIGNATURE", "bad vote record signature",
              st, b)
        st, b, _ = c.get("/v1/assertions/" + target + "/votes")
        check(st == 200 and b["count"] == 0, "no vote stored", st, b)
        q = query(c, alice, "auth", "p")
        check(q["candidates"] == [], "nothing stored", q)
        st, b, _ = c.post("/v1/assertions", a, alice)
        check(st == 201, "the genuine one", st, b)
        s.stop()   # a clean exit (and, under ASan, no leak report)
    finally:
        s.kill()


def scenario_bad_bodies(binary):
    """Malformed and oversized bodies: 400 / 413, nothing stored, nothing charged."""
    s = Server(binary, extra=["--max-body", "4096"]).start()
    try:
        c = s.client()
        sk = key(31)
        cases = [(b"{\"subject\": ", "HTTP_BAD_JSON"), (b"[1,2]", "HTTP_BAD_JSON"),
                 (b"", "HTTP_BAD_JSON"),
                 (b'{"subject":"a","subject":"b"}', "HTTP_BAD_JSON"),
                 (json.dumps(dict(assertion(sk, "bad", "p", "x"), colour=1)).encode(),
                  "HTTP_BAD_BODY"),
                 (json.dumps(dict(assertion(sk, "bad", "p", "x"), confidence=2)).encode(),
                  "STEME_E_INVALID"),
                 (json.dumps(dict(assertion(sk, "bad", "p", "x"), subject="")).encode(),
                  "STEME_E_INVALID")]
        for raw, code in cases:
            st, b, _ = c.post("/v1/assertions", None, sk, raw=raw)
            check(st == 400 and err_code(b) == code and b["error"]["message"],
                  "malformed body", raw[:40], st, b)
        big = assertion(sk, "bad", "p", "x" * 10000)
        st, b, _ = c.post("/v1/assertions", big, sk)
        check(st == 413 and err_code(b) == "HTTP_BODY_TOO_LARGE", "oversized", st, b)
        # Chunked (no Content-Length): the limit still holds.
        body = json.dumps(big).encode()
        c3 = s.client()
        c3.conn.request("POST", "/v1/assertions", body=iter([body[:5000], body[5000:]]),
                        headers={"X-Agent-Id": agent_hex(sk),
                                 "X-Signature": sk.sign(body).signature.hex()},
                        encode_chunked=True)
        resp = c3.conn.getresponse()
        check(resp.status == 413, "chunked oversized", resp.status)
        resp.read()
        c3.conn.close()
        # A declared length far past the limit is refused without reading it.
        c2 = s.client()
        c2.conn.putrequest("POST", "/v1/assertions")
        c2.conn.putheader("Content-Length", str(1 << 30))
        c2.conn.endheaders()
        resp = c2.conn.getresponse()
        check(resp.status == 413, "huge Content-Length", resp.status)
        resp.read()
        c2.conn.close()
        q = query(c, sk, "bad", "p")
        check(q["candidates"] == [], "nothing stored", q)
        st, b, r = c.post("/v1/assertions", assertion(sk, "good", "p", "x"), sk)
        check(st == 201, "good assert after bad ones", st, b)
        # Charged only for the one query (6) and this assert (10): nothing else was.
        check(r.getheader("X-Quota-Remaining") == str(10000 - 6 - 10), "nothing charged",
              r.getheader("X-Quota-Remaining"))
        s.stop()   # a clean exit (and, under ASan, no leak report)
    finally:
        s.kill()


def scenario_quota(binary):
    """Exhausting the hourly budget gives 429 with X-Quota-* and stores nothing."""
    s = Server(binary).start()
    try:
        c = s.client()
        sk = key(41)
        filler = "q" * (63 * 1024)     # each assert costs 10 + 63 = 73+ tokens
        accepted = 0
        refused = None
        for i in range(400):           # an hour boundary may give a second budget
            st, b, r = c.post("/v1/assertions",
                              assertion(sk, "quota", "p", filler + str(i), ts=1700000000000 + i),
                              sk)
            if st == 429:
                refused = (b, r)
                break
            check(st == 201, "assert under budget", st, b)
            accepted += 1
        check(refused, "no 429 after 400 large asserts")
        b, r = refused
        check(err_code(b) == "HTTP_QUOTA_EXCEEDED", "429 code", b)
        check(r.getheader("X-Quota-Limit") == "10000", "X-Quota-Limit", r.getheader("X-Quota-Limit"))
        rem = int(r.getheader("X-Quota-Remaining"))
        check(0 <= rem < 10 + 63, "X-Quota-Remaining", rem)
        check(0 <= int(r.getheader("X-Quota-Reset")) <= 3600, "X-Quota-Reset",
              r.getheader("X-Quota-Reset"))
        other = key(42)
        q = query(c, other, "quota", "p", "recency", "&limit=1000")
        check(len(q["candidates"]) == accepted, "refused asserts stored nothing",
              len(q["candidates"]), accepted)
        s.stop()   # a clean exit (and, under ASan, no leak report)
    finally:
        s.kill()

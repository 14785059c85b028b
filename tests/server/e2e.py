#!/usr/bin/python3
"""End-to-end tests of `steme serve`: start the real binary on a free loopback
port with a temporary database and drive it over HTTP.

Usage: e2e.py --binary PATH SCENARIO...   (run by tests/server/test_server.c)

Only the standard library and Debian's python3-nacl. Every wait is bounded
(socket timeouts, process waits); nothing asserts a timing. Exit 0 when every
scenario passed; a failure prints what differed and exits 1.
"""
import argparse
import http.client
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading

import nacl.signing

TIMEOUT = 60  # seconds, any single wait


class Fail(Exception):
    pass


def check(cond, what, *detail):
    if not cond:
        raise Fail(what + (": " + " ".join(str(d) for d in detail) if detail else ""))


def key(n):
    """A deterministic agent key pair from a small integer."""
    return nacl.signing.SigningKey(n.to_bytes(4, "big") * 8)


def agent_hex(sk):
    return sk.verify_key.encode().hex()


class Server:
    def __init__(self, binary, db=None, extra=()):
        self.binary = binary
        self.own_dir = db is None
        self.db = db or tempfile.mkdtemp(prefix="steme-e2e-")
        self.extra = list(extra)
        self.proc = None
        self.port = None

    def start(self):
        args = [self.binary, "serve", "--db", os.path.join(self.db, "db"), "--listen",
                "127.0.0.1:0", "--threads", "4"] + self.extra
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE)
        ready, _, _ = select.select([self.proc.stdout], [], [], TIMEOUT)
        check(ready, "server did not print its address")
        line = self.proc.stdout.readline().decode()
        check("listening on http://127.0.0.1:" in line, "unexpected first line", line)
        self.port = int(line.split("127.0.0.1:")[1].split()[0])
        return self

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            rc = self.proc.wait(TIMEOUT)
            check(rc == 0, "server exit status after signal", rc)
        self.proc = None

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(TIMEOUT)
        if self.own_dir:
            shutil.rmtree(self.db, ignore_errors=True)

    def client(self):
        return Client(self.port)


class Client:
    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)

    def request(self, method, path, body=None, headers=None):
        hdrs = dict(headers or {})
        self.conn.request(method, path, body=body, headers=hdrs)
        resp = self.conn.getresponse()
        data = resp.read()
        ctype = resp.getheader("Content-Type", "")
        parsed = json.loads(data) if ctype.startswith("application/json") and data else data
        if resp.getheader("Connection", "").lower() == "close":
            self.conn.close()
        return resp.status, parsed, resp

    def get(self, path, sk=None):
        hdrs = {"X-Agent-Id": agent_hex(sk)} if sk else {}
        return self.request("GET", path, headers=hdrs)

    def post(self, path, obj, sk, raw=None, sign_with=None, agent=None):
        body = raw if raw is not None else json.dumps(obj).encode()
        signer = sign_with or sk
        hdrs = {"Content-Type": "application/json",
                "X-Agent-Id": agent or agent_hex(sk),
                "X-Signature": signer.sign(body).signature.hex()}
        return self.request("POST", path, body=body, headers=hdrs)


def assertion(sk, subject, predicate, obj, conf=0.9, ts=1700000000000, source="agent"):
    return {"subject": subject, "predicate": predicate, "object": obj, "confidence": conf,
            "source": source, "agent": agent_hex(sk), "timestamp": ts}


def err_code(body):
    return body.get("error", {}).get("code") if isinstance(body, dict) else None


def query(c, sk, subject, predicate, lens="recency", extra=""):
    from urllib.parse import quote
    st, body, _ = c.get("/v1/query?subject=%s&predicate=%s&lens=%s%s"
                        % (quote(subject), quote(predicate), lens, extra), sk)
    check(st == 200, "query status", st, body)
    return body


# ------------------------------------------------------------------ scenarios

def scenario_api(binary):
    """Every route answers as documented on a small story."""
    s = Server(binary).start()
    try:
        c = s.client()
        reg, clinic, forum = key(1), key(2), key(3)
        st, b, _ = c.post("/v1/assertions", assertion(reg, "aspirin", "side_effect", "bleeding",
                                                      0.95, source={"kind": "regulatory",
                                                                    "ref": "fda:123"}), reg)
        check(st == 201 and b["created"] and not b["signed"], "assert", st, b)
        h_reg = b["hash"]
        st, b, _ = c.post("/v1/assertions", assertion(reg, "aspirin", "side_effect", "bleeding",
                                                      0.95, source={"kind": "regulatory",
                                                                    "ref": "fda:123"}), reg)
        check(st == 200 and not b["created"] and b["hash"] == h_reg, "idempotent assert", st, b)
        st, b, _ = c.post("/v1/assertions", assertion(clinic, "aspirin", "side_effect",
                                                      "nausea", 0.7, ts=1700000001000), clinic)
        h_clinic = b["hash"]
        st, b, _ = c.post("/v1/assertions", assertion(forum, "aspirin", "side_effect",
                                                      {"type": "string", "value": "none"}, 0.3,
                                                      ts=1700000002000), forum)
        check(st == 201, "typed object", st, b)
        h_forum = b["hash"]
        st, b, _ = c.get("/v1/assertions/" + h_reg)
        check(st == 200 and b["object"] == {"type": "string", "value": "bleeding"} and
              b["source"] == {"kind": "regulatory", "ref": "fda:123"} and
              b["signature_status"] == "unsigned" and b["agent"] == agent_hex(reg),
              "get assertion", b)
        st, b, _ = c.get("/v1/assertions/" + "00" * 32)
        check(st == 404 and err_code(b) == "STEME_E_NOTFOUND", "unknown hash", st, b)
        st, b, _ = c.get("/v1/assertions/xyz")
        check(st == 400, "bad hash", st, b)
        for i, w in ((4, 1.0), (5, 0.5), (6, -0.25)):
            st, b, _ = c.post("/v1/votes", {"assertion": h_clinic, "weight": w}, key(i))
            check(st == 200, "vote", st, b)
        check(b["totals"] == {"count": 3, "weight": 1.25}, "vote totals", b)
        st, b, _ = c.get("/v1/assertions/%s/votes" % h_clinic)
        check(st == 200 and b["count"] == 3 and len(b["votes"]) == 3, "votes list", b)
        q = query(c, reg, "aspirin", "side_effect", "recency")
        check(q["winner"]["hash"] == h_forum and len(q["candidates"]) == 3, "recency", q)
        q = query(c, reg, "aspirin", "side_effect", "vote")
        check(q["winner"]["hash"] == h_clinic, "vote lens", q)
        q = query(c, reg, "aspirin", "side_effect", "confidence")
        check(q["winner"]["hash"] == h_reg, "confidence lens", q)
        q = query(c, reg, "aspirin", "side_effect", "skeptic")
        check(q["winner"] is None and q["status"] == "contested", "skeptic", q)
        st, a, _ = c.get("/v1/audit?query_id=" + q["query_id"])
        check(st == 200 and a["lens"] == "skeptic" and a["agent"] == agent_hex(reg) and
              len(a["candidates"]) == 3, "audit by id", st, a)
        st, a, _ = c.get("/v1/audit?agent=" + agent_hex(reg))
        check(st == 200 and len(a["records"]) == 4, "audit by agent", a)
        q = query(c, reg, "aspirin", "side_effect", "recency", "&as_of=1700000001500")
        check(q["winner"]["hash"] == h_clinic, "as_of", q)
        st, b, _ = c.get("/v1/query?subject=aspirin&predicate=side_effect&lens=nope", reg)
        check(st == 400 and err_code(b) == "HTTP_BAD_PARAM", "bad lens", st, b)
        st, b, _ = c.get("/v1/query?subject=aspirin&predicate=side_effect")
        check(st == 401, "query without X-Agent-Id", st, b)
        # Trust packs: only the clinic.
        st, p, _ = c.post("/v1/packs", {"name": "clinicians", "description": "hands-on"}, reg)
        check(st == 201 and p["maintainer"] == agent_hex(reg), "pack create", st, p)
        st, b, _ = c.post("/v1/packs/%s/members" % p["id"], {"add": [agent_hex(clinic)]}, reg)
        check(st == 200 and b["added"] == 1, "members add", st, b)
        st, b, _ = c.post("/v1/packs/%s/members" % p["id"], {"add": [agent_hex(forum)]}, forum)
        check(st == 403, "members by non-maintainer", st, b)
        st, b, _ = c.get("/v1/packs/%s/members" % p["id"])
        check(b["members"] == [agent_hex(clinic)], "members list", b)
        st, b, _ = c.get("/v1/packs")
        check(st == 200 and len(b["packs"]) == 1, "pack list", b)
        q = query(c, reg, "aspirin", "side_effect", "recency", "&pack=" + p["id"])
        check(q["winner"]["hash"] == h_clinic and q["hidden_by_pack"] == 2, "pack filter", q)
        # Gold and trust.
        st, g, _ = c.post("/v1/gold", {"subject": "aspirin", "predicate": "side_effect",
                                       "expected": "bleeding"}, reg)
        check(st == 200 and g["set_by"] == agent_hex(reg), "gold set", st, g)
        st, g, _ = c.get("/v1/gold?subject=aspirin&predicate=side_effect")
        check(st == 200 and g["expected"]["value"] == "bleeding", "gold get", st, g)
        st, t, _ = c.get("/v1/trust/" + agent_hex(clinic))
        check(st == 200 and t["score"] == 0.5 and t["default"], "trust", t)
        # Supersession: only the author; superseded ones are hidden by default.
        st, b, _ = c.post("/v1/assertions", assertion(forum, "aspirin", "side_effect",
                                                      "stomach upset", 0.4, ts=1700000003000),
                          forum)
        h_fix = b["hash"]
        st, b, _ = c.post("/v1/supersede", {"old": h_forum, "new": h_fix}, reg)
        check(st == 403, "supersede by another", st, b)
        st, b, _ = c.post("/v1/supersede", {"old": h_forum, "new": h_fix, "reason": "typo"},
                          forum)
        check(st == 201, "supersede", st, b)
        q = query(c, reg, "aspirin", "side_effect", "recency")
        check(q["hidden_superseded"] == 1 and q["winner"]["hash"] == h_fix, "superseded", q)
        q = query(c, reg, "aspirin", "side_effect", "recency", "&include_superseded=true")
        check(len(q["candidates"]) == 4, "include_superseded", q)
        # Escalation: three claims of equal weight -> conflict 1.0 -> raised.
        for i, v in enumerate(("red", "green", "blue")):
            c.post("/v1/assertions", assertion(key(10 + i), "sky", "color", v, 0.5), key(10 + i))
        q = query(c, reg, "sky", "color", "skeptic")
        check(q["escalation"] and q["escalation"]["state"] == "raised", "escalation raised", q)
        st, b, _ = c.get("/v1/escalations?status=open")
        # aspirin's skeptic query above (conflict 0.92) raised one too.
        sky = [e for e in b["escalations"] if e["target"].get("subject") == "sky"]
        check(st == 200 and len(b["escalations"]) == 2 and len(sky) == 1, "escalations open", b)
        eid = sky[0]["id"]
        st, b, _ = c.post("/v1/escalations/%s/resolve" % eid, {"note": "blue at noon"}, reg)
        check(st == 200 and b["status"] == "resolved", "resolve", st, b)
        st, b, _ = c.get("/v1/escalations?status=resolved")
        check(len(b["escalations"]) == 1, "escalations resolved", b)
        for path in ("/v1/vectors/search", "/v1/visual/search"):
            st, b, _ = c.request("POST", path, body=b"{}")
            check(st == 400 and err_code(b) == "HTTP_BAD_BODY", path, st, b)
        st, b, _ = c.request("DELETE", "/v1/assertions")
        check(st == 405 and err_code(b) == "HTTP_METHOD_NOT_ALLOWED", "405", st, b)
        st, b, _ = c.get("/v2/nothing")
        check(st == 404 and err_code(b) == "HTTP_NOT_FOUND", "404", st, b)
        st, b, _ = c.get("/v1/health")
        check(st == 200 and b["status"] == "ok", "health", b)
        st, b, _ = c.get("/v1/openapi.json")
        for path in ("/v1/assertions", "/v1/assertions/{hash}/votes", "/v1/query", "/v1/gold",
                     "/v1/packs/{id}/members", "/v1/escalations/{id}/resolve", "/v1/metrics",
                     "/v1/vectors", "/v1/vectors/search", "/v1/visual", "/v1/visual/search"):
            check(path in b["paths"], "openapi lists", path)
        for name in ("VectorIn", "VectorHits", "VisualQuery", "VisualHits"):
            check(name in b["components"]["schemas"], "openapi schema", name)
        st, m, _ = c.get("/v1/metrics")
        m = m.decode()
        check('steme_http_requests_total{route="/v1/votes",code="200"} 3' in m, "metrics", m)
        check("steme_db_disk_bytes" in m and "steme_http_request_duration_seconds_bucket" in m,
              "metrics series")
        s.stop()   # a clean exit (and, under ASan, no leak report)
    finally:
        s.kill()


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


def scenario_concurrent(binary):
    """16 threads x 50 requests: vote totals equal the votes sent; every answer 2xx."""
    s = Server(binary).start()
    try:
        c = s.client()
        author = key(51)
        hashes = []
        for i in range(4):
            st, b, _ = c.post("/v1/assertions", assertion(author, "conc", "p", "v%d" % i), author)
            check(st == 201, "setup assert", st, b)
            hashes.append(b["hash"])
        weights = (1.0, 0.5, -0.25, 0.75)
        errors = []

        def worker(t):
            try:
                cl = s.client()
                reader = key(1000 + t)
                for j in range(50):
                    if j % 5 == 4:
                        st, b, _ = cl.get("/v1/assertions/%s/votes?limit=1" % hashes[j % 4])
                        check(st == 200, "concurrent read", st, b)
                        continue
                    voter = key(2000 + t * 100 + j)
                    st, b, _ = cl.post("/v1/votes", {"assertion": hashes[j % 4],
                                                     "weight": weights[j % 4]}, voter)
                    check(st == 200, "concurrent vote", st, b)
                q = query(cl, reader, "conc", "p", "vote")
                check(len(q["candidates"]) == 4, "concurrent query", q)
            except Exception as e:  # reported by the main thread
                errors.append("thread %d: %r" % (t, e))

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(TIMEOUT * 5)
        check(not errors, "worker errors", errors[:3])
        check(not any(t.is_alive() for t in threads), "a worker hung")
        for i, h in enumerate(hashes):
            sent = sum(1 for t in range(16) for j in range(50) if j % 5 != 4 and j % 4 == i)
            st, b, _ = c.get("/v1/assertions/%s/votes?limit=10000" % h)
            check(b["count"] == sent and len(b["votes"]) == sent, "vote count", h, b["count"], sent)
            check(abs(b["weight"] - sent * weights[i]) < 1e-9, "vote weight", b["weight"])
        s.stop()   # a clean exit (and, under ASan, no leak report)
    finally:
        s.kill()


def scenario_drain_restart(binary):
    """SIGTERM while writers run: clean exit, and a restart sees every acknowledged write."""
    s = Server(binary).start()
    db = s.db
    acked, lock, started = [], threading.Lock(), threading.Event()
    enough = threading.Event()

    def writer(t):
        sk = key(3000 + t)
        try:
            cl = s.client()
            for i in range(100000):
                st, b, _ = cl.post("/v1/assertions",
                                   assertion(sk, "drain", "p", "t%d-%d" % (t, i)), sk)
                if st not in (200, 201):
                    return      # 503 while draining: not acknowledged
                with lock:
                    acked.append(b["hash"])
                    if len(acked) >= 200:
                        enough.set()
        except (OSError, http.client.HTTPException):
            return              # connection closed by the shutdown: not acknowledged

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(8)]
    try:
        for t in threads:
            t.start()
        check(enough.wait(TIMEOUT * 2), "writers made no progress")
        s.stop(signal.SIGTERM)
        for t in threads:
            t.join(TIMEOUT)
        check(not any(t.is_alive() for t in threads), "a writer hung")
        s2 = Server(binary, db=db).start()
        try:
            c = s2.client()
            for h in acked:
                st, b, _ = c.get("/v1/assertions/" + h)
                check(st == 200, "acknowledged write lost after restart", h, st)
            s2.stop(signal.SIGINT)
        finally:
            s2.kill()
        s.stop()   # a clean exit (and, under ASan, no leak report)
    finally:
        s.kill()
        shutil.rmtree(db, ignore_errors=True)


def scenario_query_json(binary):
    """The query answer is written by srv_jw (not jansson): values of every type, strings
    that need escaping, and reals come back exactly as asserted."""
    s = Server(binary).start()
    try:
        c = s.client()
        objs = ['line\n"quoted" \\ caf\u00e9 \u2603 \U0001f600 \x01', 0.1, -7, 2.5e-12, True,
                {"type": "bytes", "value": "00ff10"}, 1e300, 0.30000000000000004]
        confs = [0.95, 0.1, 1.0, 0.0, 0.333, 0.7, 0.5, 0.12345678901234]
        for i, (o, conf) in enumerate(zip(objs, confs)):
            k = key(40 + i)
            st, b, _ = c.post("/v1/assertions", assertion(k, "jw", "p", o, conf,
                                                          ts=1700000000000 + i), k)
            check(st == 201, "assert for query_json", st, b)
        for lens in ("recency", "consensus", "confidence", "vote", "authority", "skeptic"):
            q = query(c, key(40), "jw", "p", lens)
            check(len(q["candidates"]) == len(objs), "query_json candidates", lens, q)
            got = {}
            for cand in q["candidates"]:
                got[cand["timestamp"] - 1700000000000] = cand
                for f in ("score", "effective_confidence", "vote_weight", "trust"):
                    check(isinstance(cand[f], float), "real member", f, cand)
            for i, (o, conf) in enumerate(zip(objs, confs)):
                cand = got[i]
                check(cand["confidence"] == conf, "confidence round trip", conf, cand)
                want = o["value"] if isinstance(o, dict) else o
                check(cand["object"]["value"] == want and
                      type(cand["object"]["value"]) is type(want), "object round trip", o, cand)
            check(isinstance(q["confidence"], float) and q["truncated"] is False,
                  "query_json scalars", q)
            if lens == "skeptic":
                check(q["status"] in ("agreed", "contested", "unanimous"), "skeptic status", q)
    finally:
        s.kill()


def scenario_example_agent(binary):
    """examples/agent.py (the demo's client) runs against a real server."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    s = Server(binary).start()
    try:
        out = subprocess.run([sys.executable, os.path.join(root, "examples", "agent.py"),
                              "--url", "http://127.0.0.1:%d" % s.port, "--agents", "6"],
                             capture_output=True, timeout=TIMEOUT)
        text = out.stdout.decode()
        check(out.returncode == 0, "agent.py exit status", out.returncode, out.stderr.decode())
        for lens in ("recency", "consensus", "confidence", "vote", "authority", "skeptic"):
            check(("  %-10s -> " % lens) in text, "agent.py lens line", lens, text)
        trail = text.split("== audit trail")[1].strip().splitlines()
        check(len(trail) == 1 + 1 + 6, "agent.py audit trail rows", text)
        s.stop()
    finally:
        s.kill()


# ------------------------------------------------- vector and visual indexes

def post_unsigned(c, path, obj=None, raw=None):
    body = raw if raw is not None else json.dumps(obj).encode()
    return c.request("POST", path, body=body, headers={"Content-Type": "application/json"})


def vsearch(c, vec, k=10, **extra):
    st, b, _ = post_unsigned(c, "/v1/vectors/search", dict(vector=vec, k=k, **extra))
    check(st == 200, "vector search status", st, b)
    return b


def ids(hits):
    return [h["id"] for h in hits]


def scenario_vectors(binary):
    """Vectors added through the API are found by search, survive a restart, and bad
    requests are refused with the API's errors and change nothing."""
    s = Server(binary).start()
    try:
        c = s.client()
        author, other = key(61), key(62)
        hs = []
        for i in range(4):
            st, b, _ = c.post("/v1/assertions", assertion(author, "img", "shows", "v%d" % i),
                              author)
            check(st == 201, "assert for vectors", st, b)
            hs.append(b["hash"])
        b = vsearch(c, [1.0, 0.0, 0.0])
        check(b == {"hits": [], "dim": None, "metric": None}, "search before any index", b)
        vecs = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.9, 0.1, 0.0]]
        # The first add fixes dimension 3 and the metric.
        st, b, r = c.post("/v1/vectors", {"id": hs[0], "vector": vecs[0], "metric": "l2"}, author)
        check(st == 201 and b == {"id": hs[0], "dim": 3, "metric": "l2", "replaced": False},
              "first vector add", st, b)
        check(r.getheader("X-Quota-Remaining") == str(10000 - 4 * 10 - 10),
              "vector add charged as an assert", r.getheader("X-Quota-Remaining"))
        check(not os.path.exists(os.path.join(s.db, "db", "vectors", "cli.conf")),
              "the index's configuration is kept in the database, not in cli.conf")
        for h, v in zip(hs[1:], vecs[1:]):
            st, b, _ = c.post("/v1/vectors", {"id": h, "vector": v}, author)
            check(st == 201 and b["metric"] == "l2", "vector add", st, b)
        b = vsearch(c, [1.0, 0.05, 0.0], k=2)
        check(ids(b["hits"]) == [hs[0], hs[3]] and b["dim"] == 3 and b["metric"] == "l2",
              "nearest two", b)
        check(abs(b["hits"][0]["distance"] - 0.0025) < 1e-6, "l2 distance (squared)", b)
        b = vsearch(c, [0.0, 0.0, 2.0], k=10, ef=64)
        check(len(b["hits"]) == 4 and b["hits"][0]["id"] == hs[2], "k larger than the index", b)
        # Re-adding an id replaces its vector (200).
        st, b, _ = c.post("/v1/vectors", {"id": hs[2], "vector": [1.0, 0.0, 0.01]}, author)
        check(st == 200 and b["replaced"] is True, "replace", st, b)
        b = vsearch(c, [1.0, 0.0, 0.0], k=4)
        check(len(b["hits"]) == 4 and hs[2] in ids(b["hits"][:3]), "replaced vector found", b)
        # Refusals: each changes nothing.
        bad_adds = [
            ({"id": hs[1], "vector": [1.0, 2.0]}, author, 400, "HTTP_BAD_BODY"),
            ({"id": hs[1], "vector": [1.0, 2.0, 3.0], "metric": "cosine"}, author, 400,
             "HTTP_BAD_BODY"),
            ({"id": hs[1], "vector": [1.0, 2.0, 3.0], "metric": "manhattan"}, author, 400,
             "HTTP_BAD_BODY"),
            ({"id": hs[1], "vector": []}, author, 400, "HTTP_BAD_BODY"),
            ({"id": hs[1], "vector": [1.0, "2", 3.0]}, author, 400, "HTTP_BAD_BODY"),
            ({"id": hs[1], "vector": [1.0, 1e300, 3.0]}, author, 400, "HTTP_BAD_BODY"),
            ({"id": hs[1], "vector": [1.0, 2.0, 3.0], "colour": 1}, author, 400,
             "HTTP_BAD_BODY"),
            ({"vector": [1.0, 2.0, 3.0]}, author, 400, "HTTP_BAD_BODY"),
            ({"id": "xyz", "vector": [1.0, 2.0, 3.0]}, author, 400, "HTTP_BAD_BODY"),
            ({"id": "00" * 32, "vector": [1.0, 2.0, 3.0]}, author, 404, "STEME_E_NOTFOUND"),
            ({"id": hs[1], "vector": [5.0, 5.0, 5.0]}, other, 403, "HTTP_FORBIDDEN"),
        ]
        for body, sk, code, ecode in bad_adds:
            st, b, _ = c.post("/v1/vectors", body, sk)
            check(st == code and err_code(b) == ecode and b["error"]["message"],
                  "bad vector add", body, st, b)
        st, b, _ = c.post("/v1/vectors", None, author, raw=b'{"id": ')
        check(st == 400 and err_code(b) == "HTTP_BAD_JSON", "malformed add", st, b)
        st, b, _ = post_unsigned(c, "/v1/vectors", {"id": hs[1], "vector": [5.0, 5.0, 5.0]})
        check(st == 401 and err_code(b) == "HTTP_UNAUTHORIZED", "unsigned add", st, b)
        bad_searches = [{"vector": [1.0, 0.0]}, {"vector": [1.0, 0.0, 0.0], "k": 0},
                        {"vector": [1.0, 0.0, 0.0], "k": 100000},
                        {"vector": [1.0, 0.0, 0.0], "ef": -1},
                        {"vector": [1.0, 0.0, 0.0], "k": 1.5},
                        {"vector": "1,0,0"}, {"k": 3}, {"vector": [1.0, 0.0, 0.0], "x": 1}]
        for body in bad_searches:
            st, b, _ = post_unsigned(c, "/v1/vectors/search", body)
            check(st == 400 and err_code(b) == "HTTP_BAD_BODY", "bad vector search", body, st, b)
        st, b, _ = post_unsigned(c, "/v1/vectors/search", raw=b"[1,2,3]")
        check(st == 400 and err_code(b) == "HTTP_BAD_JSON", "search body not an object", st, b)
        st, b, _ = c.get("/v1/vectors/search")
        check(st == 405, "GET on a search", st, b)
        b = vsearch(c, [5.0, 5.0, 5.0], k=4)
        check(sorted(ids(b["hits"])) == sorted(hs), "refused adds changed nothing", b)
        check(b["hits"][0]["distance"] > 60, "no refused vector (5,5,5) was stored", b)
        s.stop()
        s.start()   # the index is reopened from DB/vectors (its log)
        c = s.client()
        b = vsearch(c, [1.0, 0.05, 0.0], k=2)
        # hs[2]'s replacement vector (1, 0, 0.01) is now second nearest: it survived too.
        check(ids(b["hits"]) == [hs[0], hs[2]] and b["metric"] == "l2", "after restart", b)
        st, b, _ = c.post("/v1/vectors", {"id": hs[1], "vector": [1.0]}, author)
        check(st == 400, "dimension still fixed after restart", st, b)
        s.stop()
    finally:
        s.kill()


def vis_search(c, **body):
    st, b, _ = post_unsigned(c, "/v1/visual/search", body)
    check(st == 200, "visual search status", body, st, b)
    return b


def scenario_visual(binary):
    """Perceptual hashes added through the API: radius and k-NN search, idempotent adds,
    refusals, and a restart keeps them."""
    s = Server(binary).start()
    try:
        c = s.client()
        author, other = key(71), key(72)
        hs = []
        for i in range(3):
            st, b, _ = c.post("/v1/assertions", assertion(author, "photo", "shows", "p%d" % i),
                              author)
            hs.append(b["hash"])
        b = vis_search(c, phash="00000000000000ff")
        check(b == {"hits": [], "truncated": False}, "empty visual index", b)
        phs = ["00000000000000ff", "00000000000000fe", "ffffffffffff0000"]
        for h, p in zip(hs, phs):
            st, b, _ = c.post("/v1/visual", {"id": h, "phash": p}, author)
            check(st == 201 and b == {"id": h, "phash": p, "added": True}, "visual add", st, b)
        st, b, _ = c.post("/v1/visual", {"id": hs[0], "phash": phs[0]}, author)
        check(st == 200 and b["added"] is False, "visual add again", st, b)
        st, b, _ = c.post("/v1/visual", {"id": hs[2], "phash": "00000000000000FF"}, author)
        check(st == 201 and b["phash"] == "00000000000000ff", "one id, two phashes", st, b)
        b = vis_search(c, phash="00000000000000ff", radius=2)
        check([(h["id"], h["distance"]) for h in b["hits"]] ==
              sorted([(hs[0], 0), (hs[2], 0), (hs[1], 1)], key=lambda x: (x[1], x[0])),
              "radius search, nearest first", b)
        b = vis_search(c, phash="00000000000000ff")   # default radius 10
        check(len(b["hits"]) == 3, "default radius", b)
        b = vis_search(c, phash="ffffffffffff0001", k=1)
        check(b["hits"] == [{"id": hs[2], "phash": "ffffffffffff0000", "distance": 1}],
              "k nearest", b)
        b = vis_search(c, phash="00000000000000ff", radius=64, limit=2)
        check(len(b["hits"]) == 2 and b["truncated"] is True, "limit", b)
        bad_adds = [
            ({"id": hs[1], "phash": "123"}, author, 400, "HTTP_BAD_BODY"),
            ({"id": hs[1], "phash": "0x00000000000000ff"}, author, 400, "HTTP_BAD_BODY"),
            ({"id": hs[1], "phash": 255}, author, 400, "HTTP_BAD_BODY"),
            ({"id": hs[1]}, author, 400, "HTTP_BAD_BODY"),
            ({"id": hs[1], "phash": "aaaaaaaaaaaaaaaa", "k": 1}, author, 400, "HTTP_BAD_BODY"),
            ({"id": "11" * 32, "phash": "aaaaaaaaaaaaaaaa"}, author, 404, "STEME_E_NOTFOUND"),
            ({"id": hs[1], "phash": "aaaaaaaaaaaaaaaa"}, other, 403, "HTTP_FORBIDDEN"),
        ]
        for body, sk, code, ecode in bad_adds:
            st, b, _ = c.post("/v1/visual", body, sk)
            check(st == code and err_code(b) == ecode, "bad visual add", body, st, b)
        st, b, _ = post_unsigned(c, "/v1/visual", {"id": hs[1], "phash": "aaaaaaaaaaaaaaaa"})
        check(st == 401, "unsigned visual add", st, b)
        for body in ({"phash": "ff"}, {"phash": "00000000000000ff", "radius": 65},
                     {"phash": "00000000000000ff", "k": 0},
                     {"phash": "00000000000000ff", "k": 2, "radius": 3},
                     {"phash": "00000000000000ff", "limit": 0}, {"radius": 3},
                     {"phash": "00000000000000ff", "nearest": 3}):
            st, b, _ = post_unsigned(c, "/v1/visual/search", body)
            check(st == 400 and err_code(b) == "HTTP_BAD_BODY", "bad visual search", body, st, b)
        b = vis_search(c, phash="aaaaaaaaaaaaaaaa", radius=0)
        check(b["hits"] == [], "refused adds changed nothing", b)
        s.stop()
        s.start()
        c = s.client()
        b = vis_search(c, phash="00000000000000ff", radius=1)
        check(len(b["hits"]) == 3, "visual entries after restart", b)
        s.stop()
    finally:
        s.kill()


def run_cli(binary, *args):
    out = subprocess.run([binary] + list(args), capture_output=True, timeout=TIMEOUT)
    return out.returncode, out.stdout.decode(), out.stderr.decode()


def scenario_index_cli(binary):
    """The server and the CLI share DB/vectors and DB/visual: what `steme similar add` and
    `steme visual add` indexed is found through the server after a restart, and the other
    way round."""
    s = Server(binary).start()
    db = os.path.join(s.db, "db")
    try:
        c = s.client()
        author = key(81)
        hs = []
        for i in range(3):
            st, b, _ = c.post("/v1/assertions", assertion(author, "cli", "p", "c%d" % i), author)
            hs.append(b["hash"])
        # While the server holds the indexes, the CLI is refused (one process per log).
        rc, out, err = run_cli(binary, "visual", "add", hs[0], "00000000000000ff", "--db", db)
        check(rc != 0, "CLI visual add while the server runs", rc, out, err)
        s.stop()
        rc, out, err = run_cli(binary, "similar", "add", hs[0], "--db", db, "--vector",
                               "1,0,0,0", "--metric", "ip")
        check(rc == 0, "CLI similar add", rc, out, err)
        rc, out, err = run_cli(binary, "similar", "add", hs[1], "--db", db, "--vector", "0,1,0,0")
        check(rc == 0, "CLI similar add (2)", rc, out, err)
        rc, out, err = run_cli(binary, "visual", "add", hs[0], "00000000000000ff", "--db", db)
        check(rc == 0, "CLI visual add", rc, out, err)
        s.start()
        c = s.client()
        b = vsearch(c, [0.9, 0.1, 0.0, 0.0], k=1)
        check(ids(b["hits"]) == [hs[0]] and b["dim"] == 4 and b["metric"] == "ip",
              "CLI vector found through the server", b)
        b = vis_search(c, phash="00000000000000fe", radius=1)
        check(ids(b["hits"]) == [hs[0]], "CLI phash found through the server", b)
        st, b, _ = c.post("/v1/vectors", {"id": hs[2], "vector": [0.0, 0.0, 1.0, 0.0],
                                          "metric": "l2"}, author)
        check(st == 400, "the CLI's metric holds", st, b)
        st, b, _ = c.post("/v1/vectors", {"id": hs[2], "vector": [0.0, 0.0, 1.0, 0.0]}, author)
        check(st == 201 and b["metric"] == "ip", "API add into the CLI's index", st, b)
        st, b, _ = c.post("/v1/visual", {"id": hs[2], "phash": "f0f0f0f0f0f0f0f0"}, author)
        check(st == 201, "API visual add", st, b)
        s.stop()
        rc, out, err = run_cli(binary, "similar", "search", "--db", db, "--vector", "0,0,1,0",
                               "--k", "1", "--json")
        check(rc == 0 and json.loads(out.splitlines()[0])["hash"] == hs[2],
              "API vector found by the CLI", rc, out, err)
        rc, out, err = run_cli(binary, "visual", "search", "f0f0f0f0f0f0f0f0", "--radius", "0",
                               "--db", db, "--json")
        check(rc == 0 and json.loads(out.splitlines()[0])["hash"] == hs[2],
              "API phash found by the CLI", rc, out, err)
    finally:
        s.kill()
    # Databases made before kept dimension and metric in DB/vectors/cli.conf: a database
    # without the record imports it once at start (a damaged one stops the start rather
    # than guessing); once imported, cli.conf is not read again.
    old = Server(binary)
    try:
        old.start()
        old.stop()
        db = os.path.join(old.db, "db")
        conf = os.path.join(db, "vectors", "cli.conf")
        os.makedirs(os.path.dirname(conf), exist_ok=True)
        with open(conf, "w") as f:
            f.write("dim zero\n")
        proc = subprocess.run([binary, "serve", "--db", db, "--listen", "127.0.0.1:0"],
                              capture_output=True, timeout=TIMEOUT)
        check(proc.returncode != 0 and b"cli.conf" in proc.stderr,
              "serve refuses a damaged cli.conf", proc.returncode, proc.stderr)
        with open(conf, "w") as f:
            f.write("dim 2\nmetric ip\n")
        old.start()
        c = old.client()
        author = key(82)
        st, b, _ = c.post("/v1/assertions", assertion(author, "legacy", "p", "x"), author)
        h = b["hash"]
        st, b, _ = c.post("/v1/vectors", {"id": h, "vector": [1.0, 0.0]}, author)
        check(st == 201 and b["dim"] == 2 and b["metric"] == "ip", "cli.conf imported", st, b)
        old.stop()
        with open(conf, "w") as f:
            f.write("dim zero\n")
        old.start()
        b = vsearch(old.client(), [1.0, 0.0], k=1)
        check(ids(b["hits"]) == [h] and b["metric"] == "ip", "cli.conf not read again", b)
        old.stop()
    finally:
        old.kill()


SCENARIOS = {name[len("scenario_"):]: fn for name, fn in globals().items()
             if name.startswith("scenario_")}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("scenarios", nargs="*", default=sorted(SCENARIOS))
    args = ap.parse_args()
    failed = 0
    for name in args.scenarios:
        try:
            SCENARIOS[name](args.binary)
            print("ok   %s" % name, flush=True)
        except Fail as e:
            failed += 1
            print("FAIL %s: %s" % (name, e), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Scenarios: the documented routes on a small story, the query answer's JSON
(values of every type), and examples/agent.py against a real server.
"""
import os
import subprocess
import sys

from e2e_lib import TIMEOUT, check, key, agent_hex, Server, assertion, err_code, query


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

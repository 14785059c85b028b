#!/usr/bin/python3
"""Several agents that disagree, talking to a running `steme serve`.

A regulator, a clinic and some forum users assert what they believe about a
drug's side effect, vote on each other's claims, then one reader asks every
lens how the question resolves and reads back the audit trail of its queries.

    steme serve --db /tmp/demo-db --listen 127.0.0.1:8080 &
    /usr/bin/python3 examples/agent.py --url http://127.0.0.1:8080 --agents 6

(scripts/demo-server.sh does exactly this on a free port: the server half of
`make demo`.)

Standard library only, plus Debian's python3-nacl for Ed25519 (run it with
/usr/bin/python3). Every write is signed: X-Agent-Id is the agent's public
key in hex, X-Signature the Ed25519 signature of the exact body bytes.
Keys are derived from the agents' names, so a rerun speaks as the same
agents (and re-asserting the same claim is a no-op on the server).
"""
import argparse
import hashlib
import json
import sys
import urllib.error
import urllib.parse
import urllib.request

import nacl.signing

T0 = 1735689600000  # 2025-01-01T00:00:00Z, Unix ms: when the story starts


class Agent:
    def __init__(self, url, name, source, ref):
        self.url, self.name, self.source, self.ref = url.rstrip("/"), name, source, ref
        seed = hashlib.sha256(("steme example agent " + name).encode()).digest()
        self.key = nacl.signing.SigningKey(seed)
        self.id = self.key.verify_key.encode().hex()

    def _call(self, method, path, body=None):
        data = None
        headers = {"X-Agent-Id": self.id}
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
            headers["X-Signature"] = self.key.sign(data).signature.hex()
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")

    def assert_(self, subject, predicate, value, confidence, timestamp):
        # A fixed timestamp makes the assertion (and so its hash) the same on
        # every run: re-running the example does not pile up duplicates.
        st, b = self._call("POST", "/v1/assertions", {
            "subject": subject, "predicate": predicate, "object": value,
            "confidence": confidence, "source": {"kind": self.source, "ref": self.ref},
            "agent": self.id, "timestamp": timestamp})
        if st not in (200, 201):
            raise SystemExit("%s: assert refused (%d): %s" % (self.name, st, b))
        return b["hash"]

    def vote(self, assertion, weight):
        st, b = self._call("POST", "/v1/votes", {"assertion": assertion, "weight": weight})
        if st != 200:
            raise SystemExit("%s: vote refused (%d): %s" % (self.name, st, b))
        return b["totals"]

    def query(self, subject, predicate, lens, **opts):
        args = dict(subject=subject, predicate=predicate, lens=lens, **opts)
        st, b = self._call("GET", "/v1/query?" + urllib.parse.urlencode(args))
        if st != 200:
            raise SystemExit("%s: query refused (%d): %s" % (self.name, st, b))
        return b

    def audit(self):
        st, b = self._call("GET", "/v1/audit?agent=" + self.id)
        return b.get("records", []) if st == 200 else []


def show_value(v):
    return v["value"] if isinstance(v, dict) else v


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", default="http://127.0.0.1:8080")
    ap.add_argument("--agents", type=int, default=5,
                    help="how many agents speak (>= 3: regulator, clinic, forum users)")
    ap.add_argument("--subject", default="drug:examplinib")
    ap.add_argument("--predicate", default="side_effect")
    args = ap.parse_args()
    n = max(3, args.agents)
    s, p = args.subject, args.predicate

    regulator = Agent(args.url, "regulator", "regulatory", "label:2024-03")
    clinic = Agent(args.url, "clinic", "clinical", "trial:NCT-0001")
    forum = [Agent(args.url, "forum-user-%d" % i, "forum", "thread:%d" % (100 + i))
             for i in range(n - 2)]
    forum_claims = ["none", "headache", "headache", "nausea", "none"]

    print("== who says what about (%s, %s)" % (s, p))
    claims = {}  # agent name -> (assertion hash, claimed value)
    claims[regulator.name] = (regulator.assert_(s, p, "liver injury", 0.95, T0), "liver injury")
    print("  %-14s says liver injury  (confidence 0.95, regulatory)" % regulator.name)
    claims[clinic.name] = (clinic.assert_(s, p, "headache", 0.8, T0 + 60000), "headache")
    print("  %-14s says headache      (confidence 0.80, clinical)" % clinic.name)
    for i, a in enumerate(forum):
        value = forum_claims[i % len(forum_claims)]
        conf = 0.3 + 0.1 * (i % 4)
        claims[a.name] = (a.assert_(s, p, value, conf, T0 + 120000 + 1000 * i), value)
        print("  %-14s says %-13s (confidence %.2f, forum)" % (a.name, value, conf))

    print("\n== votes")
    for a in forum:
        t = a.vote(claims[clinic.name][0], 1.0)
    print("  forum users back the clinic: %d votes, weight %.2f" % (t["count"], t["weight"]))
    t = clinic.vote(claims[regulator.name][0], 0.5)
    t = regulator.vote(claims[regulator.name][0], 1.0)
    print("  regulator and clinic back the regulator: %d votes, weight %.2f"
          % (t["count"], t["weight"]))
    if forum:
        t = regulator.vote(claims[forum[0].name][0], -1.0)
        print("  regulator votes against %s: weight %.2f" % (forum[0].name, t["weight"]))

    reader = Agent(args.url, "reader", "agent", "")
    speakers = [regulator, clinic] + forum + [reader]

    def named(text):
        # Explanations name agents by a hex prefix of their id: use their names.
        for a in speakers:
            text = text.replace("agent " + a.id[:8], a.name)
        return text

    print("\n== how each lens resolves it (asked by %s...)" % reader.id[:12])
    for lens in ("recency", "consensus", "confidence", "vote", "authority", "skeptic"):
        r = reader.query(s, p, lens)
        if r["winner"]:
            verdict = "%-13s confidence %.2f" % (show_value(r["winner"]["object"]), r["confidence"])
        else:
            verdict = "no winner (%s, conflict %.2f)" % (r.get("status"), r.get("conflict", 0))
        print("  %-10s -> %s" % (lens, verdict))
        print("               %s" % named(r["explanation"]))

    # Audit records name assertions by hash: show who made the claim instead.
    said = {h: (name, v) for name, (h, v) in claims.items()}
    print("\n== audit trail of %s's queries (GET /v1/audit?agent=...)" % reader.name)
    print("  %-16s  %-10s  %-10s  %-28s  %s" % ("query id", "lens", "candidates", "winner",
                                                 "confidence"))
    for rec in reader.audit()[-6:]:
        if rec["winner"]:
            name, value = said.get(rec["winner"], (rec["winner"][:12] + "...", "?"))
            win = "%s (%s)" % (value, name)
        else:
            win = "none"
        print("  %-16s  %-10s  %-10d  %-28s  %.2f"
              % (rec["query_id"][:16], rec["lens"], len(rec["candidates"]), win,
                 rec["confidence"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

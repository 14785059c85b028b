#!/usr/bin/python3
"""Two real `steme serve` processes ("nodes") on one PostgreSQL database.

Usage: e2e_multinode.py --binary PATH [SCENARIO...]   (registered in CMakeLists.txt
as e2e_multinode_pg, under the pgserver resource lock)

Each scenario makes a schema of its own on $STEME_PG_URL and points both nodes at
it (libpq `options=-csearch_path=...`, so the nodes' table `kv` is that schema's),
starts them on free loopback ports with node-local --index-dir directories, drives
them with client threads, and drops the schema afterwards.

  votes_and_meter  clients vote through both nodes (the same voter re-voting one
                   assertion through either): afterwards `steme verify` finds every
                   vote cache equal to its recount; one agent charged through both
                   nodes is granted at most its limit in total, then refused (429).
  index_catchup    vectors and phashes added through one node are found through the
                   other (polled until found, generous deadline: the catch-up delay is
                   a bound, not something a test times); concurrent adds through both;
                   a vector replaced through the other node ends the same on both; a
                   node restarted with an empty --index-dir rebuilds both indexes from
                   the database's index log, one restarted with its own directory
                   keeps them and catches up, and one whose vectors/ directory alone
                   was lost rebuilds it.

Skips (exit 77) without $STEME_PG_URL unless STEME_REQUIRE_PG=1 (then exit 1), and
without python3-nacl or psql. Only the standard library, python3-nacl and psql.
Nothing asserts a timing.
"""
import argparse
import json
import os
import random
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from urllib.parse import quote

sys.dont_write_bytecode = True

CATCHUP_DEADLINE = 60   # seconds to wait for another node's add (the bound is ~0.1 s)
CATCHUP_WINDOW = 5      # SRV_CATCHUP_WINDOW_MS (src/server/srv_catchup.h), seconds
TIMEOUT = 60


def skip(why):
    if os.environ.get("STEME_REQUIRE_PG") == "1":
        print("FAIL: %s (STEME_REQUIRE_PG=1)" % why, flush=True)
        sys.exit(1)
    print("skipping e2e_multinode: %s" % why, flush=True)
    sys.exit(77)


try:
    import e2e_lib
    from e2e_lib import Client, Fail, agent_hex, assertion, check, err_code, key
except ImportError as exc:  # python3-nacl missing
    e2e_lib = None
    IMPORT_ERROR = exc


def psql():
    found = shutil.which("psql")
    if found:
        return found
    dirs = sorted(d for d in os.listdir("/usr/lib/postgresql") if d[:1].isdigit()) \
        if os.path.isdir("/usr/lib/postgresql") else []
    for d in reversed(dirs):
        p = "/usr/lib/postgresql/%s/bin/psql" % d
        if os.access(p, os.X_OK):
            return p
    return None


def sql(url, statement):
    out = subprocess.run([psql(), url, "-v", "ON_ERROR_STOP=1", "-qAtc", statement],
                         capture_output=True, timeout=TIMEOUT)
    check(out.returncode == 0, "psql", statement, out.stderr.decode())
    return out.stdout.decode()


class Database:
    """A schema of its own on the test server; url() points a node at it."""

    def __init__(self, base):
        self.base = base
        self.schema = "e2e_mn_%d_%d" % (os.getpid(), random.randrange(1 << 30))
        sql(base, "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s"
            % (self.schema, self.schema))

    def url(self):
        sep = "&" if "?" in self.base else "?"
        return self.base + sep + "options=" + quote("-csearch_path=" + self.schema, safe="")

    def drop(self):
        sql(self.base, "DROP SCHEMA IF EXISTS %s CASCADE" % self.schema)


class Node:
    def __init__(self, binary, url, index_dir):
        self.binary, self.url, self.index_dir = binary, url, index_dir
        self.proc = None
        self.port = None

    def start(self):
        args = [self.binary, "serve", "--db", self.url, "--index-dir", self.index_dir,
                "--listen", "127.0.0.1:0", "--threads", "8"]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE)
        ready, _, _ = select.select([self.proc.stdout], [], [], TIMEOUT)
        check(ready, "node did not print its address")
        line = self.proc.stdout.readline().decode()
        check("listening on http://127.0.0.1:" in line, "unexpected first line", line)
        self.port = int(line.split("127.0.0.1:")[1].split()[0])
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            rc = self.proc.wait(TIMEOUT)
            check(rc == 0, "node exit status after SIGTERM", rc)
        self.proc = None

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(TIMEOUT)
        self.proc = None

    def client(self):
        return Client(self.port)


def run_cli(binary, *args):
    out = subprocess.run([binary] + list(args), capture_output=True, timeout=TIMEOUT * 5)
    return out.returncode, out.stdout.decode(), out.stderr.decode()


def run_threads(fn, n):
    errors = []

    def wrap(t):
        try:
            fn(t)
        except Exception as e:  # reported by the caller
            errors.append("thread %d: %r" % (t, e))

    threads = [threading.Thread(target=wrap, args=(t,)) for t in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT * 5)
    check(not errors, "worker errors", errors[:3])
    check(not any(t.is_alive() for t in threads), "a worker hung")


def with_two_nodes(binary, body):
    db = Database(os.environ["STEME_PG_URL"])
    tmp = tempfile.mkdtemp(prefix="steme-e2e-mn-")
    nodes = []
    try:
        for name in ("a", "b"):
            nodes.append(Node(binary, db.url(), os.path.join(tmp, name)).start())
        body(binary, db, tmp, nodes)
        for n in nodes:
            n.stop()   # a clean exit (and, under ASan, no leak report)
    finally:
        for n in nodes:
            n.kill()
        shutil.rmtree(tmp, ignore_errors=True)
        db.drop()


def make_assertions(c, author, subject, n):
    hs = []
    for i in range(n):
        st, b, _ = c.post("/v1/assertions", assertion(author, subject, "p", "v%d" % i,
                                                      ts=1700000000000 + i), author)
        check(st == 201, "assert", st, b)
        hs.append(b["hash"])
    return hs


def scenario_votes_and_meter(binary):
    def body(binary, db, tmp, nodes):
        author = key(301)
        hs = make_assertions(nodes[0].client(), author, "mn-votes", 4)
        weights = (1.0, 0.5, -0.25, 0.75, -1.0)

        # Votes: thread t talks to node t % 2; voters are shared, so one
        # (assertion, voter) pair is re-voted through both nodes at once.
        def voter_thread(t):
            c = nodes[t % 2].client()
            rng = random.Random(t)
            for j in range(40):
                voter = key(400 + rng.randrange(5))
                st, b, _ = c.post("/v1/votes", {"assertion": hs[rng.randrange(len(hs))],
                                                "weight": weights[rng.randrange(5)]}, voter)
                check(st == 200, "vote", st, b)

        run_threads(voter_thread, 8)
        rc, out, err = run_cli(binary, "verify", "--db", db.url(), "--json")
        summary = [json.loads(l) for l in out.splitlines() if '"summary"' in l]
        check(rc == 0 and summary and summary[-1]["ok"] and summary[-1]["bad_caches"] == 0
              and summary[-1]["vote_caches"] >= len(hs),
              "steme verify after votes through two nodes", rc, out, err)
        # Each node answers the same totals.
        for h in hs:
            counts = [n.client().get("/v1/assertions/%s/votes?limit=1" % h)[1]["count"]
                      for n in nodes]
            check(counts[0] == counts[1], "both nodes count the same votes", h, counts)

        # The Meter: one agent with its own limit, charged through both nodes.
        spender, limit = key(500), 120
        rc, out, err = run_cli(binary, "quota", "set", "--db", db.url(), agent_hex(spender),
                               str(limit))
        check(rc == 0, "steme quota set", rc, out, err)
        granted = [0] * 6
        refused = [None] * 6
        hour0 = int(time.time()) // 3600

        def spender_thread(t):
            c = nodes[t % 2].client()
            for j in range(10 * limit):
                st, b, r = c.post("/v1/votes", {"assertion": hs[j % len(hs)], "weight": 1.0},
                                  spender)
                if st == 429:
                    refused[t] = (err_code(b), r.getheader("X-Quota-Limit"))
                    return
                check(st == 200, "charged vote", st, b)
                granted[t] += 1   # a vote costs 1 token

        run_threads(spender_thread, len(granted))
        hours = int(time.time()) // 3600 - hour0 + 1   # an hour boundary gives a new budget
        check(sum(granted) <= limit * hours, "granted past the limit across nodes",
              sum(granted), limit)
        check(hours > 1 or sum(granted) == limit, "every token spent before the refusals",
              sum(granted), limit)
        check(all(r == ("HTTP_QUOTA_EXCEEDED", str(limit)) for r in refused),
              "every thread ended on a 429", refused)
        for n in nodes:
            st, b, _ = n.client().post("/v1/votes", {"assertion": hs[0], "weight": 1.0},
                                       spender)
            check(st == 429 or hours > 1, "429 after the limit on each node", st, b)

    with_two_nodes(binary, body)


def post_unsigned(c, path, obj):
    return c.request("POST", path, body=json.dumps(obj).encode(),
                     headers={"Content-Type": "application/json"})


def vector_of(c, vec):
    """The ids at distance 0 from vec on this node (exact match: l2)."""
    st, b, _ = post_unsigned(c, "/v1/vectors/search", {"vector": vec, "k": 50, "ef": 200})
    check(st == 200, "vector search", st, b)
    return {h["id"] for h in b["hits"] if h["distance"] == 0.0}


def visual_of(c, phash):
    st, b, _ = post_unsigned(c, "/v1/visual/search", {"phash": phash, "radius": 0})
    check(st == 200, "visual search", st, b)
    return {h["id"] for h in b["hits"]}


def wait_until(what, fn):
    """Poll fn() until it is true; fail after CATCHUP_DEADLINE (never a timing assert)."""
    deadline = time.monotonic() + CATCHUP_DEADLINE
    while True:
        if fn():
            return
        check(time.monotonic() < deadline, "not caught up after %d s: %s"
              % (CATCHUP_DEADLINE, what))
        time.sleep(0.05)


def vec_for(i):
    return [float(i), float(i % 7), float(i // 7), 1.0]


def phash_for(i):
    return "%016x" % ((0x9E3779B97F4A7C15 * (i + 1)) & 0xFFFFFFFFFFFFFFFF)


def scenario_index_catchup(binary):
    def body(binary, db, tmp, nodes):
        author = key(601)
        hs = make_assertions(nodes[0].client(), author, "mn-index", 40)
        ca, cb = nodes[0].client(), nodes[1].client()
        # The first add (through A) creates the index; B learns its shape from the
        # database when the entry arrives.
        st, b, _ = ca.post("/v1/vectors", {"id": hs[0], "vector": vec_for(0), "metric": "l2"},
                           author)
        check(st == 201 and b["dim"] == 4, "first vector add", st, b)
        wait_until("B finds A's first vector", lambda: hs[0] in vector_of(cb, vec_for(0)))
        # A wrong shape through B is refused: B's index has A's shape.
        st, b, _ = cb.post("/v1/vectors", {"id": hs[1], "vector": [1.0, 2.0]}, author)
        check(st == 400, "B refuses another dimension", st, b)
        st, b, _ = cb.post("/v1/vectors", {"id": hs[1], "vector": vec_for(1)}, author)
        check(st == 201, "vector add through B", st, b)
        wait_until("A finds B's vector", lambda: hs[1] in vector_of(ca, vec_for(1)))

        # Concurrent adds through both nodes, vectors and phashes.
        def adder(t):
            c = nodes[t % 2].client()
            for i in range(2 + t, len(hs), 4):
                st, b, _ = c.post("/v1/vectors", {"id": hs[i], "vector": vec_for(i)}, author)
                check(st == 201, "concurrent vector add", i, st, b)
                st, b, _ = c.post("/v1/visual", {"id": hs[i], "phash": phash_for(i)}, author)
                check(st == 201, "concurrent visual add", i, st, b)

        run_threads(adder, 4)

        def all_there(c):
            return all(hs[i] in vector_of(c, vec_for(i)) for i in range(len(hs))) and \
                all(hs[i] in visual_of(c, phash_for(i)) for i in range(2, len(hs)))

        for name, c in (("A", ca), ("B", cb)):
            wait_until("%s has every vector and phash" % name, lambda: all_there(c))

        # A replacement through the other node: the newer vector wins on both.
        new = [99.0, 99.0, 99.0, 1.0]
        st, b, _ = cb.post("/v1/vectors", {"id": hs[5], "vector": new}, author)
        check(st == 200 and b["replaced"], "replace through B", st, b)
        for name, c in (("A", ca), ("B", cb)):
            wait_until("%s has the replacement" % name,
                       lambda: hs[5] in vector_of(c, new) and
                       hs[5] not in vector_of(c, vec_for(5)))

        def consistent(c):
            return all(hs[i] in vector_of(c, new if i == 5 else vec_for(i))
                       for i in range(len(hs))) and \
                all(hs[i] in visual_of(c, phash_for(i)) for i in range(2, len(hs)))

        # B restarted from nothing rebuilds both indexes from the index log.
        nodes[1].stop()
        shutil.rmtree(nodes[1].index_dir)
        nodes[1].start()
        cb = nodes[1].client()
        wait_until("B rebuilt from an empty --index-dir", lambda: consistent(cb))
        # A restarted with its own directory (and its catch-up state) keeps them, and
        # catches up with what B added while A was down.
        nodes[0].stop()
        extra = make_assertions(cb, author, "mn-index-late", 2)
        for i, h in enumerate(extra):
            st, b, _ = cb.post("/v1/vectors", {"id": h, "vector": [-1.0, float(i), 0.0, 1.0]},
                               author)
            check(st == 201, "vector add while A is down", st, b)
        nodes[0].start()
        ca = nodes[0].client()
        wait_until("A restarted keeps its indexes", lambda: consistent(ca))
        wait_until("A catches up with adds made while it was down",
                   lambda: all(h in vector_of(ca, [-1.0, float(i), 0.0, 1.0])
                               for i, h in enumerate(extra)))
        check(os.path.exists(os.path.join(nodes[0].index_dir, "catchup.state")),
              "the catch-up state file is kept in the index directory")
        # Only A's vector index lost (its state file kept): rebuilt in full all the same.
        # First let A's saved scan start pass every entry (the rescan window is 5 s),
        # so that its state file alone would skip them all.
        time.sleep(CATCHUP_WINDOW + 1.5)
        nodes[0].stop()
        shutil.rmtree(os.path.join(nodes[0].index_dir, "vectors"))
        nodes[0].start()
        ca = nodes[0].client()
        wait_until("A rebuilt a lost vectors/ directory", lambda: consistent(ca))

    with_two_nodes(binary, body)


SCENARIOS = {name[len("scenario_"):]: fn for name, fn in list(globals().items())
             if name.startswith("scenario_")}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("scenarios", nargs="*", default=sorted(SCENARIOS))
    args = ap.parse_args()
    if not os.environ.get("STEME_PG_URL"):
        skip("STEME_PG_URL is not set (scripts/pg-test-cluster.sh start)")
    if e2e_lib is None:
        skip("python3-nacl is not available (%s)" % IMPORT_ERROR)
    if not psql():
        skip("psql is not available")
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

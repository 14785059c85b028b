"""Scenarios: the vector and visual indexes behind /v1/vectors and /v1/visual,
and the indexes the server shares with the CLI (`steme similar`, `steme visual`).
"""
import json
import os
import subprocess

from e2e_lib import TIMEOUT, check, key, Server, assertion, err_code


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

"""Scenarios under load: concurrent clients whose votes all count, concurrent
queries of one agent against the Meter, kill -9 while readers query or
voters vote, and SIGTERM while writers and readers
run (clean exit; a restart sees every acknowledged write and every answered
query's audit record).
"""
import http.client
import shutil
import signal
import threading

from e2e_lib import TIMEOUT, agent_hex, check, key, Server, assertion, query


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


def scenario_writes_meter(binary):
    """8 threads post large assertions as ONE agent until the Meter refuses:
    the server charges concurrent writes together (srv_charge.c), and still
    exactly the budget's worth are stored (201), every thread ends on a 429
    with X-Quota-*, and a refused write stores nothing."""
    import time
    s = Server(binary).start()
    try:
        c = s.client()
        sk = key(65)
        filler = "w" * (63 * 1024)     # each costs 10 + 63 = 73 tokens
        hour0 = int(time.time()) // 3600
        created, refused, errors, lock = [0], [0], [], threading.Lock()

        def worker(t):
            try:
                cl = s.client()
                for i in range(400):
                    st, b, r = cl.post("/v1/assertions",
                                       assertion(sk, "wm", "p", "%s%d.%d" % (filler, t, i),
                                                 ts=1700000000000 + 1000 * t + i), sk)
                    if st == 429:
                        check(r.getheader("X-Quota-Limit") == "10000" and
                              r.getheader("Retry-After") is not None, "429 headers", b)
                        with lock:
                            refused[0] += 1
                        return
                    check(st == 201, "assert under budget", st, b)
                    with lock:
                        created[0] += 1
            except Exception as e:  # reported by the main thread
                errors.append("thread %d: %r" % (t, e))

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(TIMEOUT * 5)
        check(not errors, "worker errors", errors[:3])
        check(not any(t.is_alive() for t in threads), "a worker hung")
        check(refused[0] == 8, "every thread ended on a 429", refused[0])
        if int(time.time()) // 3600 == hour0:   # else a second hour's budget joined in
            check(created[0] == 10000 // 73, "stored = the budget's worth", created[0])
        q = query(c, key(66), "wm", "p", "recency", "&limit=1000")
        check(len(q["candidates"]) == created[0], "refused writes stored nothing",
              len(q["candidates"]), created[0])
        s.stop()
    finally:
        s.kill()


def scenario_queries_meter(binary):
    """16 threads query as ONE agent until the Meter refuses: the server writes
    concurrent queries' charges and audits together (srv_commit.c), and still
    exactly the budget's worth are answered 200, each with its own audit
    record, and every 429 carries X-Quota-* and writes nothing."""
    import time
    s = Server(binary).start()
    try:
        c = s.client()
        author, reader = key(61), key(62)
        for i in range(3):
            st, b, _ = c.post("/v1/assertions", assertion(author, "mq", "p", "v%d" % i), author)
            check(st == 201, "setup assert", st, b)
        hour0 = int(time.time()) // 3600
        ok_ids, refused, errors, lock = [], [0], [], threading.Lock()

        def worker(t):
            try:
                cl = s.client()
                while True:
                    st, b, r = cl.get("/v1/query?subject=mq&predicate=p&lens=vote", reader)
                    if st == 429:
                        check(r.getheader("X-Quota-Limit") == "10000" and
                              r.getheader("Retry-After") is not None, "429 headers", b)
                        with lock:
                            refused[0] += 1
                        return
                    check(st == 200 and len(b["candidates"]) == 3, "query", st, b)
                    check(r.getheader("X-Quota-Remaining") is not None, "remaining header")
                    with lock:
                        ok_ids.append(b["query_id"])
            except Exception as e:  # reported by the main thread
                errors.append("thread %d: %r" % (t, e))

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(TIMEOUT * 5)
        check(not errors, "worker errors", errors[:3])
        check(not any(t.is_alive() for t in threads), "a worker hung")
        check(refused[0] == 16, "every thread ended on a 429", refused[0])
        check(len(set(ok_ids)) == len(ok_ids), "query ids are distinct")
        if int(time.time()) // 3600 == hour0:   # else a second hour's budget joined in
            check(len(ok_ids) == 10000 // 6, "answered queries = the budget's worth", len(ok_ids))
        st, a, _ = c.get("/v1/audit?agent=%s&limit=10000" % agent_hex(reader))
        check(st == 200, "audit listing", st, a)
        listed = sorted(r["query_id"] for r in a["records"])
        check(listed == sorted(ok_ids), "audit records = answered queries",
              len(listed), len(ok_ids))
        for qid in ok_ids[:20]:
            st, rec, _ = c.get("/v1/audit?query_id=" + qid)
            check(st == 200 and rec["query_id"] == qid, "audit by id", st, rec)
        s.stop()   # a clean exit (and, under ASan, no leak report)
    finally:
        s.kill()


def kill_mid_load(binary, s, threads, enough, who):
    """Start the client threads, wait until they made progress (enough), kill
    the server with SIGKILL (no drain, no close), wait for every client to
    end, and start a new server on the same database: returned."""
    for t in threads:
        t.start()
    check(enough.wait(TIMEOUT * 2), who + " made no progress")
    s.proc.kill()
    s.proc.wait(TIMEOUT)
    s.proc = None
    for t in threads:
        t.join(TIMEOUT)
    check(not any(t.is_alive() for t in threads), "one of the " + who + " hung")
    return Server(binary, db=s.db).start()


def scenario_kill_queries(binary):
    """kill -9 while readers query: a restart finds the audit record (and the
    charge) of every query that was answered 200."""
    s = Server(binary).start()
    db = s.db
    answered, lock, enough = [], threading.Lock(), threading.Event()
    sk0 = key(3700)

    def reader(t):
        sk = key(3700 + t)
        try:
            cl = s.client()
            for i in range(100000):
                st, b, _ = cl.get("/v1/query?subject=kq&predicate=p", sk)
                if st != 200:
                    return
                with lock:
                    answered.append(b["query_id"])
                    if len(answered) >= 300:
                        enough.set()
        except (OSError, http.client.HTTPException):
            return              # the server died: not answered

    threads = [threading.Thread(target=reader, args=(t,)) for t in range(6)]
    try:
        s2 = kill_mid_load(binary, s, threads, enough, "readers")
        try:
            c = s2.client()
            for qid in answered:
                st, b, _ = c.get("/v1/audit?query_id=" + qid)
                check(st == 200, "answered query's audit lost after kill -9", qid, st)
            st, a, _ = c.get("/v1/audit?agent=%s&limit=10000" % agent_hex(sk0))
            mine = sum(1 for r in a["records"])
            check(st == 200 and mine >= 1, "reader 0's audit trail", st, mine)
            s2.stop()
        finally:
            s2.kill()
    finally:
        s.kill()
        shutil.rmtree(db, ignore_errors=True)


def scenario_kill_votes(binary):
    """kill -9 while 8 threads vote (votes are acknowledged once durable in the
    log, and reach the engine behind): a restart holds every vote answered 200
    with its weight, or the vote in flight after it, and every count and
    weight equals its recount (steme verify's check, through the API)."""
    s = Server(binary).start()
    db = s.db
    c = s.client()
    author = key(4100)
    hashes = []
    for i in range(6):
        st, b, _ = c.post("/v1/assertions", assertion(author, "kv", "p", "v%d" % i), author)
        check(st == 201, "setup assert", st, b)
        hashes.append(b["hash"])
    # per thread and pair (assertion, voter): the last weight answered 200, and
    # the weight of the vote in flight when the server died (it may be durable)
    acked, tried, lock, enough = {}, {}, threading.Lock(), threading.Event()

    def voter(t):
        sks = [key(4200 + t * 10 + k) for k in range(3)]
        try:
            cl = s.client()
            for i in range(100000):
                k, h = i % 3, hashes[(t + i) % 6]
                w = ((i * 7 + t) % 21 - 10) / 10.0
                pair = (agent_hex(sks[k]), h)
                tried[pair] = w
                st, b, _ = cl.post("/v1/votes", {"assertion": h, "weight": w}, sks[k])
                if st != 200:
                    return
                with lock:
                    acked[pair] = w
                    if len(acked) >= 18 and i >= 60:
                        enough.set()
        except (OSError, http.client.HTTPException):
            return              # the server died: this vote was not answered

    threads = [threading.Thread(target=voter, args=(t,)) for t in range(8)]
    try:
        s2 = kill_mid_load(binary, s, threads, enough, "voters")  # the applier cut short
        try:
            c2 = s2.client()
            for h in hashes:
                st, b, _ = c2.get("/v1/assertions/%s/votes?limit=10000" % h)
                check(st == 200, "votes after kill -9", h, st)
                held = {v["voter"]: v["weight"] for v in b["votes"]}
                for (voter_hex, ph), w in acked.items():
                    if ph != h:
                        continue
                    got = held.get(voter_hex)
                    check(got is not None, "an acknowledged vote is gone", voter_hex, h)
                    check(abs(got - w) < 1e-12 or abs(got - tried[(voter_hex, ph)]) < 1e-12,
                          "a pair holds neither its last acknowledged vote nor the one in "
                          "flight", voter_hex, h, got, w)
                check(b["count"] == len(b["votes"]), "count != recount", h, b["count"])
                check(abs(b["weight"] - sum(v["weight"] for v in b["votes"])) < 1e-6,
                      "weight != recount", h, b["weight"])
            s2.stop()
        finally:
            s2.kill()
    finally:
        s.kill()
        shutil.rmtree(db, ignore_errors=True)


def scenario_drain_restart(binary):
    """SIGTERM while writers and readers run: clean exit, and a restart sees every
    acknowledged write and the audit record of every answered query."""
    s = Server(binary).start()
    db = s.db
    acked, lock = [], threading.Lock()
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

    answered = []   # query ids of 200 answers: each must have its audit record

    def reader(t):
        sk = key(3500 + t)
        try:
            cl = s.client()
            for i in range(100000):
                st, b, _ = cl.get("/v1/query?subject=drain&predicate=p&limit=5", sk)
                if st != 200:
                    return      # 503 while draining: not answered
                with lock:
                    answered.append(b["query_id"])
        except (OSError, http.client.HTTPException):
            return              # connection closed by the shutdown: not answered

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(8)]
    threads += [threading.Thread(target=reader, args=(t,)) for t in range(4)]
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
            check(answered, "readers got no answer")
            for qid in answered:
                st, b, _ = c.get("/v1/audit?query_id=" + qid)
                check(st == 200, "answered query's audit lost after restart", qid, st)
            s2.stop(signal.SIGINT)
        finally:
            s2.kill()
        s.stop()   # a clean exit (and, under ASan, no leak report)
    finally:
        s.kill()
        shutil.rmtree(db, ignore_errors=True)

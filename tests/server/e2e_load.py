"""Scenarios under load: concurrent clients whose votes all count, and SIGTERM
while writers run (clean exit; a restart sees every acknowledged write).
"""
import http.client
import shutil
import signal
import threading

from e2e_lib import TIMEOUT, check, key, Server, assertion, query


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

"""Helpers for the end-to-end tests of `steme serve` (tests/server/e2e.py and
its scenario modules e2e_*.py): a failure type and check(), deterministic agent
keys, the real server started on a free loopback port with a temporary
database, a client that signs its requests, and request bodies.

Only the standard library and Debian's python3-nacl. Every wait is bounded
(TIMEOUT: socket timeouts, process waits); nothing asserts a timing.
"""
import http.client
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile

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

#!/usr/bin/python3
"""End-to-end tests of `steme serve`: start the real binary on a free loopback
port with a temporary database and drive it over HTTP.

Usage: e2e.py --binary PATH SCENARIO...   (run by tests/server/test_server.c)

The helpers are in e2e_lib.py, the scenarios in e2e_api.py (routes, answers,
the example agent), e2e_refusals.py (signatures, bodies, quota), e2e_load.py
(concurrency, drain and restart) and e2e_index.py (vector and visual indexes,
shared with the CLI); a scenario is a function scenario_NAME(binary) there.

Only the standard library and Debian's python3-nacl. Every wait is bounded
(socket timeouts, process waits); nothing asserts a timing. Exit 0 when every
scenario passed; a failure prints what differed and exits 1.
"""
import argparse
import sys

# The scenario modules sit next to this script (sys.path[0]); no __pycache__
# in the source tree.
sys.dont_write_bytecode = True

import e2e_api  # noqa: E402
import e2e_index  # noqa: E402
import e2e_load  # noqa: E402
import e2e_refusals  # noqa: E402
from e2e_lib import Fail  # noqa: E402

SCENARIOS = {name[len("scenario_"):]: fn
             for module in (e2e_api, e2e_refusals, e2e_load, e2e_index)
             for name, fn in vars(module).items() if name.startswith("scenario_")}


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

#!/usr/bin/python3
"""faiss peer for bench/visual.c: IndexBinaryFlat over 64-bit hashes.

Usage: faiss_visual.py SET CODES_FILE QUERIES_FILE
Both files hold little-endian uint64 hashes. Prints one JSON line per case,
in the bench's format, and the total hit count per case on stderr (the C side
compares it with steme's). One thread; all 200 queries go in one call,
which is faiss's best case (it blocks over queries).
"""
import json
import sys
import time

import numpy as np

try:
    import faiss
except ImportError:
    sys.stderr.write("faiss_visual: python3-faiss is not installed; skipping faiss rows\n")
    sys.exit(0)


def main():
    set_name, codes_path, queries_path = sys.argv[1:4]
    faiss.omp_set_num_threads(1)
    codes = np.fromfile(codes_path, dtype="<u8")
    queries = np.fromfile(queries_path, dtype="<u8")
    # A 64-bit hash as 8 bytes; byte order is irrelevant to Hamming distance
    # as long as database and queries use the same one.
    db = codes.view(np.uint8).reshape(-1, 8)
    xq = queries.view(np.uint8).reshape(-1, 8)
    index = faiss.IndexBinaryFlat(64)
    index.add(db)
    for case, radius in (("radius2", 2), ("radius4", 4), ("radius8", 8)):
        t0 = time.perf_counter()
        # faiss keeps distances strictly below the radius it is given.
        lims, _, _ = index.range_search(xq, radius + 1)
        dt = time.perf_counter() - t0
        out(set_name, case, len(queries) / dt, int(lims[-1]))
    t0 = time.perf_counter()
    dist, _ = index.search(xq, 10)
    dt = time.perf_counter() - t0
    out(set_name, "knn10", len(queries) / dt, int(dist.sum()))


def out(set_name, case, qps, check):
    print(json.dumps({"bench": "visual", "system": "faiss", "set": set_name, "case": case,
                      "qps": round(qps, 1)}), flush=True)
    sys.stderr.write("faiss %s %s check %d\n" % (set_name, case, check))


if __name__ == "__main__":
    main()

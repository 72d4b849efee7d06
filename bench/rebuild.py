#!/usr/bin/env python3
"""How long the embedded ledger takes to rebuild from a large journal.

Journals N events (default 100,000) through the real release binary on
loopback — a shoot's usual mix, 500 per batch request — stops it, deletes
the embedded ledger's file, starts it again, and measures the time until
`shootlog_embedded_events_applied_total` reaches N. Prints one line of JSON.

    python3 bench/rebuild.py [N]
"""

import json
import os
import shutil
import sys
import tempfile
import time
import urllib.request

from service import applied, start


def post(base, path, body):
    req = urllib.request.Request(base + path, json.dumps(body).encode(), {"content-type": "application/json"})
    with urllib.request.urlopen(req) as r:
        assert r.status in (201, 202), r.status


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    data = tempfile.mkdtemp(prefix="shootlog-rebuild-")
    try:
        p, base = start(data)
        post(base, "/v1/devices", {"deviceId": "d1", "name": "d1", "platform": "ios"})
        post(base, "/v1/devices", {"deviceId": "d2", "name": "d2", "platform": "ios"})
        sessions, i, done = 0, 0, 2
        while done < n:
            sk = f"s{sessions}"
            post(base, "/v1/sessions", {"sessionKey": sk, "title": sk})
            post(base, f"/v1/sessions/{sk}/cameras", {"deviceId": "d1", "cameraKey": "A", "role": "hero"})
            post(base, f"/v1/sessions/{sk}/cameras", {"deviceId": "d2", "cameraKey": "B", "role": "wide"})
            done += 3
            for _ in range(20):  # 10,000 director events per session
                batch = []
                for _ in range(500):
                    k = i % 10
                    cam = "AB"[i % 2]
                    if k < 5:
                        batch.append({"type": "cut", "cameraKey": cam})
                    elif k < 7:
                        batch.append({"type": "cue", "cueKind": "pose", "label": f"cue {i}"})
                    elif k < 8:
                        batch.append({"type": "marker", "label": f"take {i}"})
                    elif k < 9:
                        batch.append({"type": "hold_start", "holdId": f"h{i}", "cameraKey": cam})
                    else:
                        batch.append({"type": "hold_end", "holdId": f"h{i - 1}"})
                    i += 1
                post(base, f"/v1/sessions/{sk}/director-events", {"events": batch})
                done += len(batch)
                if done >= n:
                    break
            post(base, f"/v1/sessions/{sk}/complete", {})
            done += 1
            sessions += 1
        total = done
        deadline = time.time() + 600
        while applied(base) < total and time.time() < deadline:
            time.sleep(0.2)
        p.terminate()
        p.wait()
        for f in ("ledger.sqlite3", "ledger.sqlite3-wal", "ledger.sqlite3-shm"):
            try:
                os.remove(os.path.join(data, f))
            except FileNotFoundError:
                pass
        t0 = time.time()
        p, base = start(data)
        while applied(base) < total:
            if time.time() - t0 > 600:
                raise SystemExit("rebuild did not finish in 600 s")
            time.sleep(0.05)
        secs = time.time() - t0
        p.terminate()
        p.wait()
        size = os.path.getsize(os.path.join(data, "ledger.sqlite3"))
        print(json.dumps({"events": total, "sessions": sessions, "rebuild_seconds": round(secs, 2),
                          "events_per_second": round(total / secs), "ledger_bytes": size}))
    finally:
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""How long the operator's reads take on the embedded ledger, as ratios of
`GET /healthz` in the same run.

Through the real release binary on loopback: registers D devices (default
2,000, every tenth with a hardware id another device already holds, so that
a clash is reported), runs one live session whose camera reports P
placements (default 5,000) and a completed one with E director events
(default 20,000), waits until the embedded ledger has applied everything,
then times each read R times (default 20) and prints one line of JSON:
median and worst milliseconds per read, and the median as a multiple of
the baseline's.

    python3 bench/reads.py [D] [P] [E] [R]
"""

import json
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request

from service import applied, start


def send(base, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data, {"content-type": "application/json"}, method=method)
    with urllib.request.urlopen(req) as r:
        out = r.read()
        assert r.status in (200, 201, 202), (path, r.status)
        return out


def timed(base, path, runs):
    ms, size = [], 0
    for _ in range(runs):
        t = time.perf_counter()
        size = len(send(base, "GET", path))
        ms.append((time.perf_counter() - t) * 1000)
    return {"median_ms": round(statistics.median(ms), 2), "max_ms": round(max(ms), 2), "bytes": size}


def main():
    args = [int(a) for a in sys.argv[1:]]
    d, p, e, runs = (args + [2000, 5000, 20000, 20][len(args):])[:4]
    data = tempfile.mkdtemp(prefix="shootlog-reads-")
    try:
        proc, base = start(data)
        sent = 0
        for i in range(d):
            body = {"deviceId": f"dev-{i:05}", "name": f"phone {i}", "platform": "ios" if i % 2 else "android"}
            if i % 10 == 0 and i > 0:
                body["hardwareId"] = f"hw-{i - 1:05}"  # claimed twice: a clash report
            elif i % 10 == 9:
                body["hardwareId"] = f"hw-{i:05}"
            send(base, "POST", "/v1/devices", body)
            sent += 1
        send(base, "POST", "/v1/sessions", {"sessionKey": "live", "title": "live"})
        send(base, "POST", "/v1/sessions/live/cameras", {"deviceId": "dev-00001", "cameraKey": "B", "role": "wide"})
        sent += 2
        for i in range(p):
            placement = {"x": (i % 100) / 10, "panDeg": i % 180, "heightM": 1.5}
            send(base, "PUT", "/v1/devices/dev-00001/placement", {"sessionKey": "live", "placement": placement})
            sent += 1
        send(base, "POST", "/v1/sessions", {"sessionKey": "done", "title": "done"})
        send(base, "POST", "/v1/sessions/done/cameras", {"deviceId": "dev-00003", "cameraKey": "A", "role": "hero"})
        sent += 2
        for start_i in range(0, e, 500):
            events = [{"type": "marker", "label": f"take {j}"} for j in range(start_i, min(e, start_i + 500))]
            send(base, "POST", "/v1/sessions/done/director-events", {"events": events})
            sent += len(events)
        send(base, "POST", "/v1/sessions/done/complete", {})
        sent += 1
        deadline = time.time() + 600
        while applied(base) < sent:
            if time.time() > deadline:
                raise SystemExit("the embedded ledger did not catch up")
            time.sleep(0.2)

        reads = {
            "GET /healthz (baseline)": "/healthz",
            f"GET /v1/devices?limit=256 ({d} devices)": "/v1/devices?limit=256",
            "GET /v1/devices?clash=true": "/v1/devices?clash=true",
            "GET /v1/devices/{deviceId}": "/v1/devices/dev-00001",
            f"GET /v1/sessions/live/cameras ({p} placements)": "/v1/sessions/live/cameras",
            "GET /v1/sessions?limit=100": "/v1/sessions?limit=100",
            "GET /v1/sessions/done/events?limit=256": "/v1/sessions/done/events?limit=256",
            f"GET /v1/sessions/done ({e} events, whole)": "/v1/sessions/done",
        }
        results = {name: timed(base, path, runs) for name, path in reads.items()}
        base_ms = results["GET /healthz (baseline)"]["median_ms"]
        for r in results.values():
            r["x_baseline"] = round(r["median_ms"] / base_ms, 1) if base_ms > 0 else None
        proc.terminate()
        proc.wait(timeout=30)
        print(json.dumps({"devices": d, "placements": p, "events": e, "runs": runs, "reads": results}))
    finally:
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()

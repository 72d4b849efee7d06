#!/usr/bin/env python3
"""shootlog's benchmark, run by bench/run.sh after the release build.

Every figure is measured in this one run, on loopback, against a baseline of
the same binary (GET /healthz), and reported as a ratio to it:

  1. baseline: GET /healthz (the axum limit on this machine)
  2. a journaled single-event POST (durable, group-committed), no ledger
  3. the same with the forwarder draining into the Convex stand-in
  4. batch POSTs of 100 events
  5. the forwarder's drain rate into the stand-in: batches of 500 against
     one event per mutation

plus peak RSS per phase, startup time (process start to /readyz answering)
and the release binary's size. Results go to bench/RESULTS.md.
"""

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "shootlog")
DURATION = int(os.environ.get("BENCH_DURATION", "10"))
CONNS = int(os.environ.get("BENCH_CONNECTIONS", "50"))
THREADS = 2
OUT = os.path.join(ROOT, "bench", "out")
SESSION = "bench-session"


def http(method, url, body=None, timeout=30):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait_line(path, prefix, proc, secs=60):
    deadline = time.time() + secs
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited ({proc.returncode}) before printing {prefix}")
        try:
            with open(path) as f:
                for line in f:
                    if line.startswith(prefix):
                        return line[len(prefix):].strip()
        except FileNotFoundError:
            pass
        time.sleep(0.01)
    raise RuntimeError(f"no {prefix} line within {secs} s")


class Service:
    """A release shootlog process on 127.0.0.1:0."""

    def __init__(self, data_dir, env=None):
        self.data_dir = data_dir
        os.makedirs(data_dir, exist_ok=True)
        e = dict(os.environ)
        for k in ("CONVEX_URL", "CONVEX_DEPLOY_KEY"):
            e.pop(k, None)
        e["RUST_LOG"] = "warn"
        e.update(env or {})
        self.stdout = os.path.join(data_dir, "stdout.txt")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            [BIN, "--listen", "127.0.0.1:0", "--data-dir", data_dir],
            stdout=open(self.stdout, "w"),
            stderr=open(os.path.join(data_dir, "stderr.txt"), "w"),
            env=e,
        )
        self.base = wait_line(self.stdout, "SHOOTLOG_LISTENING=", self.proc)
        while True:
            try:
                if http("GET", self.base + "/readyz", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.002)
        self.startup_ms = (time.perf_counter() - t0) * 1000

    def metric(self, name):
        _, body = http("GET", self.base + "/metrics")
        m = re.search(rf"^{name} (\S+)$", body.decode(), re.M)
        return float(m.group(1)) if m else None

    def rss_peak_mib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return None

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=60)


class Standin:
    """The project's Convex stand-in, in memory."""

    def __init__(self, work):
        self.stdout = os.path.join(work, "standin-stdout.txt")
        self.proc = subprocess.Popen(
            ["node", "--import", "tsx", os.path.join(ROOT, "standin", "server.ts"), "--port", "0"],
            cwd=ROOT,
            stdout=open(self.stdout, "w"),
            stderr=open(os.path.join(work, "standin-stderr.txt"), "w"),
        )
        self.url = wait_line(self.stdout, "CONVEX_STANDIN_URL=", self.proc)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def wrk(url, body=None, duration=DURATION, conns=CONNS):
    env = dict(os.environ)
    if body is not None:
        path = os.path.join(OUT, "body.json")
        with open(path, "w") as f:
            json.dump(body, f)
        env["BODY_FILE"] = path
    else:
        env.pop("BODY_FILE", None)
    cmd = ["wrk", f"-t{THREADS}", f"-c{conns}", f"-d{duration}s", "--timeout", "10s",
           "-s", os.path.join(ROOT, "bench", "report.lua"), url]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    line = [l for l in out.splitlines() if l.startswith("{")][-1]
    return json.loads(line)


def ok_rps(r):
    """Requests per second that were answered 2xx."""
    return (r["requests"] - r["http_errors"]) / (r["duration_us"] / 1e6)


def ms(us):
    return us / 1000.0


def marker():
    return {"type": "marker", "label": "bench"}


def batch(n):
    return {"events": [{"type": "cue", "cueKind": "pose", "label": f"bench {i}"} for i in range(n)]}


def wait_drained(svc, expected, secs=600):
    """Seconds until the backlog is 0 (and `expected` events were delivered)."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < secs:
        backlog = svc.metric("shootlog_journal_backlog")
        delivered = (svc.metric("shootlog_events_delivered_total") or 0) + (svc.metric("shootlog_events_rejected_total") or 0)
        if backlog == 0 and delivered >= expected:
            return time.perf_counter() - t0
        time.sleep(0.05)
    raise RuntimeError(f"backlog not drained in {secs} s")


def start_session(svc):
    status, body = http("POST", svc.base + "/v1/sessions", {"sessionKey": SESSION, "title": "Benchmark"})
    assert status == 202, (status, body)


def machine():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    return f"{os.cpu_count()} × {cpu}, {mem:.0f} GiB RAM, {platform.system()} {platform.release()}, {rustc}"


def main():
    os.makedirs(OUT, exist_ok=True)
    work = tempfile.mkdtemp(prefix="shootlog-bench-")
    results = {}
    rows = []
    try:
        # 1 + 2 + 4: one service on the embedded default.
        # No ledger here: everything stays pending, so lift the backlog cap
        # above what the phases write.
        svc = Service(os.path.join(work, "plain"), {"SHOOTLOG_MAX_BACKLOG": "1000000000"})
        results["startup_ms"] = svc.startup_ms
        start_session(svc)
        base = wrk(svc.base + "/healthz")
        single = wrk(f"{svc.base}/v1/sessions/{SESSION}/director-events", marker())
        batched = wrk(f"{svc.base}/v1/sessions/{SESSION}/director-events", batch(100))
        commits = svc.metric("shootlog_journal_commits")
        accepted = svc.metric("shootlog_events_accepted_total")
        rss_plain = svc.rss_peak_mib()
        svc.stop()
        journal_bytes = sum(os.path.getsize(os.path.join(work, "plain", f)) for f in os.listdir(os.path.join(work, "plain")) if f.startswith("journal"))

        # 3: the same POST with the forwarder draining into the stand-in.
        standin = Standin(work)
        svc = Service(os.path.join(work, "ledger"), {"CONVEX_URL": standin.url, "CONVEX_DEPLOY_KEY": "shootlog-standin-admin-key"})
        start_session(svc)
        t0 = time.perf_counter()
        fwd = wrk(f"{svc.base}/v1/sessions/{SESSION}/director-events", marker())
        load_s = time.perf_counter() - t0
        expected = fwd["requests"] - fwd["http_errors"] + 1
        drain_s = wait_drained(svc, expected)
        rss_fwd = svc.rss_peak_mib()
        svc.stop()
        standin.stop()
        results["forwarded_during_load_eps"] = expected / (load_s + drain_s)

        # 5: drain rate, batches of 500 against one event per mutation, from a
        # journal filled beforehand.
        drains = {}
        shares = {}
        for size, n in ((500, 10_000), (1, 1_000)):
            d = os.path.join(work, f"drain-{size}")
            svc = Service(d)
            start_session(svc)
            for _ in range(n // 100):
                status, _ = http("POST", f"{svc.base}/v1/sessions/{SESSION}/director-events", batch(100))
                assert status == 202, status
            svc.stop()
            standin = Standin(work)
            svc = Service(d, {"CONVEX_URL": standin.url, "CONVEX_DEPLOY_KEY": "shootlog-standin-admin-key",
                              "SHOOTLOG_BATCH_SIZE": str(size)})
            secs = wait_drained(svc, n + 1)
            drains[size] = (n + 1) / secs
            shares[size] = (svc.metric("shootlog_forwarder_ledger_seconds_total") or 0) / secs
            svc.stop()
            standin.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    size_mib = os.path.getsize(BIN) / 2**20
    ratio = lambda r: r["rps"] / base["rps"]
    rows = [
        ("GET /healthz (baseline)", base, 1, base["rps"]),
        ("POST one director event, journaled", single, 1, single["rps"]),
        ("POST one director event, forwarder draining into the stand-in", fwd, 1, fwd["rps"]),
        ("POST a batch of 100 events, journaled", batched, 100, ok_rps(batched) * 100),
    ]
    lines = []
    lines.append("# Benchmark results\n")
    lines.append(f"Generated by `bash bench/run.sh` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.\n")
    lines.append(f"Machine: {machine()}. Load: wrk, {THREADS} threads, {CONNS} connections, {DURATION} s per phase, loopback. "
                 "The load generator shares the machine's cores with the service (and, in the forwarder phase, with the stand-in).\n")
    lines.append("| phase | req/s | events/s | × baseline req/s | p50 ms | p99 ms | p99.9 ms | non-2xx | socket errors |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, r, per, eps in rows:
        lines.append(f"| {name} | {r['rps']:.0f} | {eps:.0f} | {ratio(r):.2f} | {ms(r['p50_us']):.2f} | {ms(r['p99_us']):.2f} | "
                     f"{ms(r['p999_us']):.2f} | {r['http_errors']} | {r['socket_errors']} |")
    lines.append("")
    lines.append("| figure | value |")
    lines.append("|---|---:|")
    lines.append(f"| forwarder drain into the stand-in, batches of 500 | {drains[500]:.0f} events/s |")
    lines.append(f"| forwarder drain into the stand-in, one event per mutation | {drains[1]:.0f} events/s |")
    lines.append(f"| batching speed-up | {drains[500] / drains[1]:.1f}× |")
    lines.append(f"| share of the drain time spent waiting for the ledger, batches of 500 | {shares[500]:.0%} |")
    lines.append(f"| share of the drain time spent waiting for the ledger, one per mutation | {shares[1]:.0%} |")
    lines.append(f"| events forwarded during the forwarder phase (load + drain) | {results['forwarded_during_load_eps']:.0f} events/s |")
    lines.append(f"| journal commits for {accepted:.0f} accepted events (group commit) | {commits:.0f} ({accepted / max(commits, 1):.1f} events per fsync) |")
    lines.append(f"| peak RSS, embedded default (phases 1, 2, 4) | {rss_plain:.1f} MiB |")
    lines.append(f"| peak RSS, forwarder phase | {rss_fwd:.1f} MiB |")
    lines.append(f"| journal size after phases 1, 2, 4 | {journal_bytes / 2**20:.1f} MiB |")
    lines.append(f"| startup: process start to /readyz answering | {results['startup_ms']:.0f} ms |")
    lines.append(f"| release binary size (stripped) | {size_mib:.1f} MiB |")
    lines.append("")
    targets = [
        ("journaled single-event POST ≥ 50% of baseline req/s", ratio(single) >= 0.5, f"{ratio(single):.0%}"),
        ("its p99 < 10 ms at 50 connections", ms(single["p99_us"]) < 10, f"{ms(single['p99_us']):.2f} ms"),
        ("batch ingest ≥ 200k events/s", ok_rps(batched) * 100 >= 200_000, f"{ok_rps(batched) * 100:.0f} events/s"),
        ("forwarder drains ≥ 5,000 events/s into the stand-in", drains[500] >= 5000, f"{drains[500]:.0f} events/s"),
        ("RSS < 64 MiB under load", max(rss_plain, rss_fwd) < 64, f"{max(rss_plain, rss_fwd):.1f} MiB"),
    ]
    lines.append("| target | met | measured |")
    lines.append("|---|:---:|---:|")
    for name, ok, val in targets:
        lines.append(f"| {name} | {'yes' if ok else 'no'} | {val} |")
    lines.append("")
    report = "\n".join(lines)
    raw = {"baseline": base, "single": single, "forwarder": fwd, "batch100": batched, "drain": drains, **results,
           "ledger_share": shares, "rss_plain_mib": rss_plain, "rss_forwarder_mib": rss_fwd, "binary_mib": size_mib}
    with open(os.path.join(OUT, "raw.json"), "w") as f:
        json.dump(raw, f, indent=2)
    notes_path = os.path.join(ROOT, "bench", "NOTES.md")
    notes = open(notes_path).read() if os.path.exists(notes_path) else ""
    with open(os.path.join(ROOT, "bench", "RESULTS.md"), "w") as f:
        f.write(report + ("\n" + notes if notes else ""))
    print(report)


if __name__ == "__main__":
    sys.exit(main())

"""The release binary on loopback, for the benchmark scripts: start it on
the embedded default (no Convex, rate limits out of the way) and read its
embedded ledger's progress."""

import os
import re
import subprocess
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "shootlog")


def start(data_dir):
    """The running process and its base URL."""
    p = subprocess.Popen(
        [BIN, "--listen", "127.0.0.1:0", "--data-dir", data_dir, "serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("CONVEX")}, "RUST_LOG": "warn",
             "SHOOTLOG_DEVICE_RATE": "1000000", "SHOOTLOG_DEVICE_BURST": "1000000"},
        text=True,
    )
    for line in p.stdout:
        if line.startswith("SHOOTLOG_LISTENING="):
            return p, line.strip().split("=", 1)[1]
    raise SystemExit("shootlog did not start")


def applied(base):
    """`shootlog_embedded_events_applied_total`, from /metrics."""
    with urllib.request.urlopen(base + "/metrics") as r:
        m = re.search(r"^shootlog_embedded_events_applied_total (\d+)", r.read().decode(), re.M)
        return int(m.group(1)) if m else 0

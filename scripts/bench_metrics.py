"""Driver for scripts/bench-metrics: see that script for what is measured."""

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "support"))
import bench_procs  # noqa: E402
from waiting import free_ports  # noqa: E402

SLUICED, SLUICE, RECORDS, ROUNDS = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
BASELINE = sys.argv[5] if len(sys.argv) > 5 and sys.argv[5] else None
SIZE = 100
SCRAPE_INTERVAL_S = 1.0
READY_BOUND_S = 60


def start(binary, work, name, metrics):
    """A single node; `metrics`: its metrics.listener value (empty: off). Returns (proc, bootstrap)."""
    port, keeper_port = free_ports(2)
    os.makedirs(os.path.join(work, name))
    ready = os.path.join(work, name, "ready")
    args = [binary, "-o", f"listeners=PLAINTEXT://127.0.0.1:{port}", "-o", "keeper.client.address=127.0.0.1",
            "-o", f"keeper.client.port={keeper_port}", "-o", f"log.dirs={work}/{name}/data", "--ready-file", ready]
    if metrics is not None:
        args[1:1] = ["-o", f"metrics.listener={metrics}"]
    proc = subprocess.Popen(args, stderr=open(os.path.join(work, name, "sluiced.log"), "ab"))
    deadline = time.time() + READY_BOUND_S
    while not (os.path.exists(ready) and len(open(ready).read().splitlines()) >= 2):
        assert time.time() < deadline and proc.poll() is None, f"{name} did not start"
        time.sleep(0.05)
    return proc, f"127.0.0.1:{port}", open(ready).read().splitlines()


def main():
    work = tempfile.mkdtemp(prefix="bench-metrics-")
    measured, measured_at, lines = start(SLUICED, work, "scraped", "127.0.0.1:0")
    url = next(line for line in lines if line.startswith("http://"))
    # A baseline build from before the metrics does not know the key: it gets none.
    baseline, baseline_at, _ = start(BASELINE or SLUICED, work, "baseline", None if BASELINE else "")
    stop = threading.Event()
    scrapes = []

    def scrape():
        while not stop.wait(SCRAPE_INTERVAL_S):
            started = time.monotonic()
            with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
                r.read()
            scrapes.append(time.monotonic() - started)
    scraper = threading.Thread(target=scrape, daemon=True)
    scraper.start()
    try:
        ratios = []
        for r in range(ROUNDS):
            figures = {}
            # Alternate which goes first, so neither always runs on a warmer machine.
            order = [("scraped", measured_at), ("baseline", baseline_at)]
            for name, bootstrap in (order if r % 2 == 0 else order[::-1]):
                topic = f"bench-{name}-{r}"
                cli(["-b", bootstrap, "topic", "create", topic, "-p", "1"])
                p = perf(["-b", bootstrap, "perf", "produce", "-t", topic, "-n", str(RECORDS), "-s", str(SIZE),
                          "--acks", "1"])
                figures[name] = p["records_per_sec"]
            ratios.append(figures["scraped"] / figures["baseline"])
            print(f"round {r + 1}: scraped {figures['scraped']:9.0f} records/s, baseline {figures['baseline']:9.0f} "
                  f"records/s, ratio {ratios[-1]:.3f}", flush=True)
        base = "the same binary, endpoint off" if not BASELINE else BASELINE
        print(f"\n{RECORDS} records of {SIZE} bytes, acks=1, one partition, per round; /metrics scraped every "
              f"{SCRAPE_INTERVAL_S:.0f} s ({len(scrapes)} scrapes, median {statistics.median(scrapes) * 1000:.1f} ms); "
              f"baseline: {base}")
        print(f"  produce ratio (scraped / baseline): median {statistics.median(ratios):.3f} "
              f"(per round: {', '.join(f'{x:.3f}' for x in ratios)})")
    finally:
        stop.set()
        for proc in (measured, baseline):
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)


def cli(args):
    return bench_procs.cli(SLUICE, args)


def perf(args):
    return bench_procs.perf(SLUICE, args)


if __name__ == "__main__":
    main()

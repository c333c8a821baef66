"""Driver for scripts/bench-latency: see that script for what is measured.

Each setup gets its own processes and data directory. Broker CPU is the utime + stime of every
sluiced process of the setup (brokers and the keeper node), read from /proc/<pid>/stat before
and after each run, divided by the GB acknowledged in that run (warm-up included, since the CPU
of the warm-up is counted too). The topic keeps little data (retention of 32 MiB or 60 s per
partition, checked every 5 s), so a long run does not fill the disk.
"""

import argparse
import json
import subprocess
import sys
import tempfile

import bench_procs

TOPIC = "bench-latency"
# An unreachable rate: the short run at it measures what the setup sustains.
PEAK_PROBE_RATE = 10_000_000
TOPIC_CONFIGS = ["retention.bytes=33554432", "retention.ms=60000", "segment.bytes=8388608"]


def parse_args():
    p = argparse.ArgumentParser(description="open-loop latency of sluiced at fractions of its peak")
    p.add_argument("--sluiced", required=True, help="the sluiced binary")
    p.add_argument("--sluice", required=True, help="the sluice binary")
    p.add_argument("--duration", type=int, default=20, help="measured seconds per rate (default 20)")
    p.add_argument("--warmup", type=int, default=5, help="warm-up seconds per rate (default 5)")
    p.add_argument("--peak-duration", type=int, default=10, help="measured seconds of the peak probe (default 10)")
    p.add_argument("--fractions", default="10,25,50,75,100", help="percentages of peak (default 10,25,50,75,100)")
    p.add_argument("--partitions", type=int, default=100, help="partitions of the topic (default 100)")
    p.add_argument("--size", type=int, default=1024, help="record value bytes (default 1024)")
    p.add_argument("--producers", type=int, default=4, help="producers (default 4)")
    p.add_argument("--consumers", type=int, default=4, help="consumers (default 4)")
    p.add_argument("--ppr", default="1,4,16", help="partitions per request for the one-request runs (default 1,4,16)")
    p.add_argument("--ppr-duration", type=int, default=8, help="measured seconds per one-request run (default 8)")
    p.add_argument("--setups", default="single,cluster", help="single, cluster or both (default both)")
    p.add_argument("--raw", help="append every run's JSON to this file")
    return p.parse_args()


ARGS = parse_args()


def Proc(workdir, name, overrides):
    """A sluiced process of a setup; the topic's retention is checked every 5 s."""
    return bench_procs.Proc(ARGS.sluiced, workdir, name, ["log.retention.check.interval.ms=5000", *overrides])


def sluice(bootstrap, *args):
    done = subprocess.run([ARGS.sluice, "-b", bootstrap, *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"sluice {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


RUNS = iter(range(1, 1_000_000))


def latency(bootstrap, procs, topic_args, *extra):
    """One `sluice perf latency --json` run on a topic of its own, created before it and deleted
    after it; its JSON, with the setup's CPU seconds added.

    A topic per run: the peak probe sends faster than the followers and consumers keep up with,
    and on a shared topic the next run would start behind that backlog (followers still fetching
    it, so acks=all waits on them), which measured the backlog rather than the rate."""
    topic = f"{TOPIC}-{next(RUNS)}"
    sluice(bootstrap, "topic", "create", topic, "-p", str(ARGS.partitions), *topic_args,
           *sum((["-c", c] for c in TOPIC_CONFIGS), []))
    before = sum(p.cpu_seconds() for p in procs)
    out = sluice(bootstrap, "perf", "latency", "-t", topic, "-s", str(ARGS.size), "--acks", "all", "--json", *extra)
    result = json.loads(out.strip().splitlines()[-1])
    result["broker_cpu_seconds"] = sum(p.cpu_seconds() for p in procs) - before
    sluice(bootstrap, "topic", "delete", topic)
    if ARGS.raw:
        with open(ARGS.raw, "a") as f:
            f.write(json.dumps(result) + "\n")
    return result


def measure(name, bootstrap, procs, topic_args):
    common = ["--producers", str(ARGS.producers), "--consumers", str(ARGS.consumers)]
    print(f"[{name}] peak probe", file=sys.stderr, flush=True)
    probe = latency(bootstrap, procs, topic_args, *common, "--rate", str(PEAK_PROBE_RATE), "--warmup-secs", "3",
                    "--duration-secs", str(ARGS.peak_duration), "--drain-secs", "10")
    peak = probe["achieved_rate"]
    runs = []
    for pct in [int(f) for f in ARGS.fractions.split(",")]:
        rate = max(1, int(peak * pct / 100))
        print(f"[{name}] {pct}% of peak: {rate} records/s", file=sys.stderr, flush=True)
        r = latency(bootstrap, procs, topic_args, *common, "--rate", str(rate), "--warmup-secs", str(ARGS.warmup),
                    "--duration-secs", str(ARGS.duration))
        runs.append((pct, r))
    one_request = []
    for n in [int(x) for x in ARGS.ppr.split(",")]:
        print(f"[{name}] one request over {n} partitions", file=sys.stderr, flush=True)
        one_request.append(latency(bootstrap, procs, topic_args, "--partitions-per-request", str(n), "--warmup-secs", "2",
                                   "--duration-secs", str(ARGS.ppr_duration)))
    return peak, runs, one_request


def single(workdir):
    proc = Proc(workdir, "single", ["listeners=PLAINTEXT://127.0.0.1:0", "keeper.client.address=127.0.0.1",
                                    "keeper.client.port=0"])
    try:
        return measure("1 broker", proc.lines[0], [proc], ["-r", "1"])
    finally:
        proc.stop()


def cluster(workdir):
    with bench_procs.three_brokers(ARGS.sluiced, ARGS.sluice, workdir, ["log.retention.check.interval.ms=5000"]) as (b, procs):
        return measure("3 brokers", b, procs, ["-r", "3", "-c", "min.insync.replicas=2"])


def cpu_per_gb(r):
    gb = r["bytes_acked_total"] / 1e9
    return r["broker_cpu_seconds"] / gb if gb > 0 else float("nan")


def main():
    results = []
    with tempfile.TemporaryDirectory() as workdir:
        setups = ARGS.setups.split(",")
        if "single" in setups:
            results.append(("1 broker, RF=1", single(workdir)))
        if "cluster" in setups:
            results.append(("3 brokers, RF=3, min.insync=2", cluster(workdir)))

    print(f"open loop, sluice perf latency, release build: {ARGS.producers} producers, {ARGS.consumers} consumers, "
          f"{ARGS.size} B records round-robin over {ARGS.partitions} partitions, acks=all, linger 1 ms; "
          f"{ARGS.duration} s measured after {ARGS.warmup} s warm-up per rate; latencies in ms from each record's "
          f"intended send time")
    head = (f"{'setup':<30} {'% peak':>6} {'target/s':>9} {'achieved/s':>10} | {'pub p50':>7} {'p99':>7} "
            f"{'p99.9':>7} {'max':>7} | {'e2e p50':>7} {'p99':>7} {'p99.9':>7} {'max':>7} | {'lost':>4} "
            f"{'late':>5} | {'CPU-s/GB':>8}")
    print(head)
    for name, (peak, runs, _) in results:
        print(f"{name:<30} {'peak':>6} {'':>9} {peak:>10.0f}")
        for pct, r in runs:
            p, e, rec = r["publish_ms"], r["end_to_end_ms"], r["records"]
            print(f"{'':<30} {pct:>6} {r['target_rate']:>9} {r['achieved_rate']:>10.0f} | {p['p50']:>7.2f} "
                  f"{p['p99']:>7.2f} {p['p99_9']:>7.2f} {p['max']:>7.1f} | {e['p50']:>7.2f} {e['p99']:>7.2f} "
                  f"{e['p99_9']:>7.2f} {e['max']:>7.1f} | {rec['lost']:>4} {rec['late']:>5} | "
                  f"{cpu_per_gb(r):>8.1f}")
    print()
    print("one produce request at a time, one record to each of N partitions led by one broker, acks=all "
          f"({ARGS.ppr_duration} s each)")
    print(f"{'setup':<30} {'partitions':>10} {'requests':>9} {'p50 ms':>7} {'p99 ms':>7} {'p99.9 ms':>8}")
    for name, (_, _, one_request) in results:
        for r in one_request:
            lat = r["latency_ms"]
            print(f"{name:<30} {r['partitions_per_request']:>10} {r['requests']:>9} {lat['p50']:>7.2f} "
                  f"{lat['p99']:>7.2f} {lat['p99_9']:>8.2f}")


if __name__ == "__main__":
    main()

"""Driver for scripts/bench-cluster: see that script for what is measured."""

import json
import subprocess
import sys
import tempfile

import bench_procs

SLUICED, SLUICE, COUNT = sys.argv[1], sys.argv[2], int(sys.argv[3])
SIZE = 1024
PARTITIONS = 3
HALF_PEAK_SECONDS = 10


def Proc(workdir, name, overrides):
    return bench_procs.Proc(SLUICED, workdir, name, overrides)


def sluice(bootstrap, *args):
    out = subprocess.run([SLUICE, "-b", bootstrap, *args], check=True, capture_output=True, text=True).stdout
    return out


def perf(bootstrap, topic, acks, count, rate=None):
    args = ["perf", "produce", "-t", topic, "-n", str(count), "-s", str(SIZE), "--acks", acks, "--json"]
    if rate:
        args += ["--rate", str(int(rate))]
    return json.loads(sluice(bootstrap, *args).strip().splitlines()[-1])


def measure(bootstrap, topic_args, acks):
    """The peak, then half of it, each on a topic of its own: a replica still catching up on the
    peak run's records would otherwise hold back the half-peak run's acks=all."""
    sluice(bootstrap, "topic", "create", "bench-peak", "-p", str(PARTITIONS), *topic_args)
    peak = perf(bootstrap, "bench-peak", acks, COUNT)
    sluice(bootstrap, "topic", "delete", "bench-peak")
    half = peak["records_per_sec"] / 2
    sluice(bootstrap, "topic", "create", "bench-half", "-p", str(PARTITIONS), *topic_args)
    paced = perf(bootstrap, "bench-half", acks, int(half * HALF_PEAK_SECONDS), rate=half)
    return peak, half, paced


def main():
    with tempfile.TemporaryDirectory() as workdir:
        single = Proc(workdir, "single", ["listeners=PLAINTEXT://127.0.0.1:0", "keeper.client.address=127.0.0.1",
                                          "keeper.client.port=0"])
        try:
            one = measure(single.lines[0], ["-r", "1"], "1")
        finally:
            single.stop()

        with bench_procs.three_brokers(SLUICED, SLUICE, workdir) as (b, _):
            three = measure(b, ["-r", "3", "-c", "min.insync.replicas=2"], "all")

    print(f"produce, {SIZE} B records, {PARTITIONS} partitions, {COUNT} records at peak, sluice perf, release build")
    print(f"{'setup':<34} {'records/s':>10} {'MB/s':>7} {'at half peak: rate':>20} {'p50 ms':>7} {'p99 ms':>7}")
    for name, (peak, half, paced) in [("1 broker, RF=1, acks=1", one), ("3 brokers, RF=3, acks=all", three)]:
        lat = paced["latency_ms"]
        print(f"{name:<34} {peak['records_per_sec']:>10.0f} {peak['mb_per_sec']:>7.1f} {half:>20.0f} "
              f"{lat['p50']:>7.2f} {lat['p99']:>7.2f}")
    ratio = three[0]["records_per_sec"] / one[0]["records_per_sec"]
    print(f"ratio (3 brokers RF=3 acks=all / 1 broker acks=1): {ratio:.2f}")


if __name__ == "__main__":
    main()

"""Driver for scripts/bench-security: see that script for what is measured."""

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "support"))
import bench_procs  # noqa: E402
from waiting import free_ports  # noqa: E402

SLUICED, SLUICE, RECORDS, ROUNDS, CONNECTIONS = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), \
    int(sys.argv[5])
ROOT = os.path.join(os.path.dirname(__file__), "..")
USER, PASSWORD = "bench", "bench-secret"
SIZE = 1024


def main():
    work = tempfile.mkdtemp(prefix="bench-security-")
    certs = os.path.join(work, "certs")
    subprocess.run([os.path.join(ROOT, "scripts", "make-certs"), certs], check=True, capture_output=True)
    plain_port, secure_port = free_ports(2)
    ready = os.path.join(work, "ready")
    scram = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
    proc = subprocess.Popen([
        SLUICED, "-o", "metrics.listener=127.0.0.1:0",
        "-o", f"listeners=PLAINTEXT://127.0.0.1:{plain_port},SASL_SSL://127.0.0.1:{secure_port}",
        "-o", f"log.dirs={work}/data", "-o", "keeper.client.address=127.0.0.1", "-o", "keeper.client.port=0",
        "-o", f"ssl.keystore.location={certs}/broker.pem",
        "-o", "listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512",
        "-o", f"listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config={scram}",
        "--ready-file", ready], stderr=open(os.path.join(work, "sluiced.log"), "ab"))
    try:
        deadline = time.time() + 60
        while not (os.path.exists(ready) and len(open(ready).read().splitlines()) >= 2):
            assert time.time() < deadline and proc.poll() is None, "sluiced did not start"
            time.sleep(0.05)
        plain = ["-b", f"127.0.0.1:{plain_port}"]
        secure = ["-b", f"127.0.0.1:{secure_port}", "-X", "security.protocol=SASL_SSL",
                  "-X", f"ssl.ca.location={certs}/ca.pem", "-X", "sasl.mechanism=SCRAM-SHA-512",
                  "-X", f"sasl.username={USER}", "-X", f"sasl.password={PASSWORD}"]
        cli(plain + ["user", "scram", "add", USER, "--password", PASSWORD, "--mechanism", "SCRAM-SHA-512"])
        figures = {"produce": {}, "consume": {}, "connect": {}}
        for r in range(ROUNDS):
            for name, args in (("PLAINTEXT", plain), ("SASL_SSL", secure)):
                topic = f"bench-{name.lower()}-{r}"
                cli(plain + ["topic", "create", topic, "-p", "1"])
                p = perf(args + ["perf", "produce", "-t", topic, "-n", str(RECORDS), "-s", str(SIZE), "--acks", "1"])
                c = perf(args + ["perf", "consume", "-t", topic, "-n", str(RECORDS)])
                k = perf(args + ["perf", "connect", "-n", str(CONNECTIONS)])
                figures["produce"].setdefault(name, []).append(p["mb_per_sec"])
                figures["consume"].setdefault(name, []).append(c["mb_per_sec"])
                figures["connect"].setdefault(name, []).append((k["records_per_sec"], k["latency_ms"]))
                print(f"round {r + 1} {name:9}: produce {p['mb_per_sec']:7.1f} MB/s, consume {c['mb_per_sec']:7.1f} MB/s, "
                      f"{k['records_per_sec']:7.0f} connections/s (p50 {k['latency_ms']['p50']:.2f} ms, "
                      f"p99 {k['latency_ms']['p99']:.2f} ms)", flush=True)
        print(f"\n{RECORDS} records of {SIZE} bytes, acks=1, one partition; {CONNECTIONS} connections, 4 at a time; "
              f"median of {ROUNDS} rounds")
        for what in ("produce", "consume"):
            base = statistics.median(figures[what]["PLAINTEXT"])
            sec = statistics.median(figures[what]["SASL_SSL"])
            ratios = [s / b for s, b in zip(figures[what]["SASL_SSL"], figures[what]["PLAINTEXT"])]
            print(f"  {what:8} PLAINTEXT {base:7.1f} MB/s  SASL_SSL {sec:7.1f} MB/s  ratio {statistics.median(ratios):.2f} "
                  f"(per round: {', '.join(f'{x:.2f}' for x in ratios)})")
        base = statistics.median(x for x, _ in figures["connect"]["PLAINTEXT"])
        sec = statistics.median(x for x, _ in figures["connect"]["SASL_SSL"])
        lat = figures["connect"]["SASL_SSL"][-1][1]
        print(f"  connect  PLAINTEXT {base:7.0f}/s     SASL_SSL {sec:7.0f}/s     ratio {sec / base:.2f} "
              f"(SASL_SSL p50 {lat['p50']:.2f} ms, p99 {lat['p99']:.2f} ms, max {lat['max']:.2f} ms)")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)


def cli(args):
    return bench_procs.cli(SLUICE, args)


def perf(args):
    return bench_procs.perf(SLUICE, args)


if __name__ == "__main__":
    main()

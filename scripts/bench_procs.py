"""A `sluiced` process for the benchmark drivers (bench_cluster.py, bench_latency.py): started with
`-o` overrides in a directory of its own, ready once its ready file is complete (its addresses),
with its CPU time read from /proc and a clean stop; and the `sluice` CLI runs they measure with."""

import contextlib
import json
import os
import subprocess
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
# A generous bound on a node's start (a release build starts in well under a second).
START_BOUND_S = 60


class Proc:
    def __init__(self, sluiced, workdir, name, overrides):
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir)
        ready = os.path.join(self.dir, "ready")
        # The HTTP endpoint on a free port: several nodes run side by side (an override may
        # turn it off, metrics.listener= , to measure without it).
        args = [sluiced, "--ready-file", ready, "-o", f"log.dirs={self.dir}/data", "-o", "metrics.listener=127.0.0.1:0"]
        for o in overrides:
            args += ["-o", o]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.dir, "log"), "wb"))
        deadline = time.time() + START_BOUND_S
        while not (os.path.exists(ready) and open(ready).read().endswith("\n")):
            if self.proc.poll() is not None or time.time() > deadline:
                raise SystemExit(f"{name} did not start; see {self.dir}/log")
            time.sleep(0.05)
        self.lines = open(ready).read().split()

    def cpu_seconds(self):
        fields = open(f"/proc/{self.proc.pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime

    def stop(self):
        self.proc.terminate()
        self.proc.wait(60)


# A generous bound on three brokers registering with keeper.
REGISTER_BOUND_S = 60


@contextlib.contextmanager
def three_brokers(sluiced, sluice, workdir, overrides=()):
    """A keeper node and three brokers on it, all registered; yields (bootstrap, procs) and stops
    them all afterwards. `sluice` is the CLI binary (its `cluster info` shows registrations)."""
    keeper = Proc(sluiced, workdir, "keeper", ["process.roles=keeper", "keeper.client.address=127.0.0.1",
                                               "keeper.client.port=0", *overrides])
    brokers = []
    try:
        for i in (1, 2, 3):
            brokers.append(Proc(sluiced, workdir, f"broker{i}", [
                "process.roles=broker", f"broker.id={i}", f"keeper.connect={keeper.lines[0]}",
                "listeners=PLAINTEXT://127.0.0.1:0", *overrides]))
        bootstrap = ",".join(p.lines[0] for p in brokers)
        deadline = time.time() + REGISTER_BOUND_S
        while subprocess.run([sluice, "-b", bootstrap, "cluster", "info"], capture_output=True,
                             text=True).stdout.count("127.0.0.1:") < 3:
            if time.time() > deadline:
                raise SystemExit("three brokers did not register")
            time.sleep(0.2)
        yield bootstrap, brokers + [keeper]
    finally:
        for p in brokers:
            p.stop()
        keeper.stop()


def cli(sluice, args):
    """Runs the `sluice` CLI with `args`; its stdout (it must succeed)."""
    done = subprocess.run([sluice] + args, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"sluice {' '.join(args)}: {done.stderr}"
    return done.stdout


def perf(sluice, args):
    """A `sluice perf ...` run's JSON summary."""
    return json.loads(cli(sluice, args + ["--json"]).strip().splitlines()[-1])

"""Keeper against Apache ZooKeeper 3.8, same machine, same run: a three-node keeper ensemble
(keeper-only sluiced) and a three-node ZooKeeper ensemble (Debian's package), both on loopback
with their data on the same disk, each driven by the same `sluice perf keeper` load: creates,
setData and getData from several sessions spread over the three nodes. Prints operations/s of
each and keeper's ratio to ZooKeeper.

    python scripts/bench_keeper.py SLUICED SLUICE [COUNT] [CLIENTS] [DEPTH]
"""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "support"))
from waiting import free_ports  # noqa: E402

ZOOKEEPER_JAR = "/usr/share/java/zookeeper.jar"
WAIT_S = 90


def mode(address):
    host, port = address.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=2) as s:
            s.sendall(b"srvr")
            text = b""
            while chunk := s.recv(4096):
                text += chunk
    except OSError:
        return None
    for line in text.decode(errors="replace").splitlines():
        if line.startswith("Mode: "):
            return line[6:]
    return None


def wait_for_leader(addresses, what):
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        modes = [mode(a) for a in addresses]
        if "leader" in modes and all(m in ("leader", "follower") for m in modes):
            return
        time.sleep(0.2)
    raise SystemExit(f"{what}: no leader with two followers after {WAIT_S}s")


def start_keeper(sluiced, root):
    ports = free_ports(6)
    servers = ",".join(f"{i + 1}@127.0.0.1:{ports[3 + i]}" for i in range(3))
    procs, addresses = [], []
    for i in range(3):
        d = root / f"keeper{i + 1}"
        d.mkdir()
        args = [sluiced, "-o", "metrics.listener=127.0.0.1:0", "-o", "process.roles=keeper", "-o", f"keeper.id={i + 1}", "-o", f"keeper.servers={servers}",
                "-o", "keeper.client.address=127.0.0.1", "-o", f"keeper.client.port={ports[i]}",
                "-o", f"log.dirs={d / 'data'}", "--log-level", "warn"]
        procs.append(subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=open(d / "log", "wb")))
        addresses.append(f"127.0.0.1:{ports[i]}")
    wait_for_leader(addresses, "keeper")
    return procs, addresses


def start_zookeeper(root):
    if not Path(ZOOKEEPER_JAR).exists():
        raise SystemExit(f"{ZOOKEEPER_JAR} is missing: apt-get install zookeeper (scripts/test does)")
    ports = free_ports(9)
    servers = "".join(f"server.{i + 1}=127.0.0.1:{ports[3 + i]}:{ports[6 + i]}\n" for i in range(3))
    procs, addresses = [], []
    for i in range(3):
        d = root / f"zk{i + 1}"
        (d / "data").mkdir(parents=True)
        (d / "data" / "myid").write_text(f"{i + 1}\n")
        cfg = d / "zoo.cfg"
        cfg.write_text(
            f"tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir={d / 'data'}\nclientPort={ports[i]}\n"
            f"clientPortAddress=127.0.0.1\nadmin.enableServer=false\n4lw.commands.whitelist=srvr,ruok\n"
            f"maxClientCnxns=0\n{servers}")
        args = ["java", "-cp", f"/etc/zookeeper/conf:{ZOOKEEPER_JAR}", f"-Dzookeeper.log.dir={d}",
                "org.apache.zookeeper.server.quorum.QuorumPeerMain", str(cfg)]
        procs.append(subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=open(d / "log", "wb")))
        addresses.append(f"127.0.0.1:{ports[i]}")
    wait_for_leader(addresses, "ZooKeeper")
    return procs, addresses


def perf(sluice, addresses, op, count, clients, depth):
    out = subprocess.run([sluice, "perf", "keeper", "-k", ",".join(addresses), "--op", op, "-n", str(count),
                          "--clients", str(clients), "--depth", str(depth), "--json"],
                         check=True, capture_output=True, text=True, timeout=900)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    sluiced, sluice = sys.argv[1], sys.argv[2]
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 20000
    clients = int(sys.argv[4]) if len(sys.argv) > 4 else 16
    depth = int(sys.argv[5]) if len(sys.argv) > 5 else 2
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp:
        root = Path(tmp)
        keeper, zk = [], []
        try:
            keeper, k_addr = start_keeper(sluiced, root)
            zk, z_addr = start_zookeeper(root)
            print(f"{count} operations per run, {clients} sessions over 3 nodes, {depth} in flight each; "
                  f"each system measured twice (alternating), best kept")
            print(f"{'operation':<10} {'keeper ops/s':>14} {'ZooKeeper ops/s':>16} {'ratio':>7}   keeper p99 / ZK p99 (ms)")
            for op in ["create", "set", "get"]:
                runs = {"keeper": [], "zk": []}
                for order in (("keeper", "zk"), ("zk", "keeper")):
                    for system in order:
                        addrs = k_addr if system == "keeper" else z_addr
                        runs[system].append(perf(sluice, addrs, op, count, clients, depth))
                best = {s: max(r, key=lambda x: x["records_per_sec"]) for s, r in runs.items()}
                k, z = best["keeper"]["records_per_sec"], best["zk"]["records_per_sec"]
                print(f"{op:<10} {k:>14.0f} {z:>16.0f} {k / z:>7.2f}   "
                      f"{best['keeper']['latency_ms']['p99']:.2f} / {best['zk']['latency_ms']['p99']:.2f}", flush=True)
        finally:
            for p in keeper + zk:
                p.send_signal(signal.SIGKILL)
                p.wait()


if __name__ == "__main__":
    main()

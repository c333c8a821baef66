"""The README's Docker quick start, run as written, from the repository root: every sh block of
`## Docker quick start` in order (the image build, the cluster up on the default host ports
127.0.0.1:19092/29092/39092, the host and in-container clients, a broker killed and started,
the fourth broker of docker/compose.broker4.yml with replicas moved onto it) and, last, the
teardown, after which no container, network or volume of the project may remain.

The commands are read from README.md (tests/support/readme.py), never copied here. Only the
environment is the test's: COMPOSE_PROJECT_NAME gives the project a `sluicetest` name, so that a
reader's own quick-start cluster is never touched and conftest's leftover sweep removes it
after an interrupted run; and PATH finds this build's `sluice`.
"""

import os
import shutil
import socket
from pathlib import Path

from confluent_kafka.admin import AdminClient

import readme
from conftest import PREFIX, ComposeCluster, docker
from readme import run_sh
from test_failover import read_values
from waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
SECTION = "Docker quick start"
# The compose files' default host ports, which the README's commands name.
HOST_PORTS = {1: 19092, 2: 29092, 3: 39092, 4: 49092}
# The brokers' HTTP endpoints and Prometheus's (the `monitoring` profile).
HTTP_PORTS = [19644, 29644, 39644, 49644, 9090]
SLUICE_CLI = os.environ.get("SLUICE_CLI", str(ROOT / "target" / "debug" / "sluice"))
# The first block builds the image: a static release build when scripts/test has not just
# made one.
BLOCK_TIMEOUT_S = 40 * 60


def port_free(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def leftovers(project):
    """The project's containers, networks and volumes that still exist, by label and by name."""
    found = {}
    for kind, ls in (("containers", ["ps", "-a"]), ("networks", ["network", "ls"]), ("volumes", ["volume", "ls"])):
        fmt = "{{.Names}}" if kind == "containers" else "{{.Name}}"
        names = set(docker(*ls, "--filter", f"label=com.docker.compose.project={project}", "--format", fmt).split())
        names |= {n for n in docker(*ls, "--filter", f"name={project}_", "--format", fmt).split()
                  if n.startswith(f"{project}_")}
        if names:
            found[kind] = sorted(names)
    return found


def check_before_teardown():
    """What the quick start did: every partition of orders moved onto brokers 4, 2 and 3 (the
    last reassignment runs in the background), and what it wrote reads back through broker 4.
    (The clients are gone when this returns, before the teardown.)"""
    admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{HOST_PORTS[1]}"})

    def moved():
        parts = admin.list_topics("orders", timeout=10).topics["orders"].partitions
        return len(parts) == 3 and all(p.replicas == [4, 2, 3] and sorted(p.isrs) == [2, 3, 4] for p in parts.values())
    wait_until(moved, timeout_s=180, interval_s=1, what="orders' replicas on brokers 4, 2, 3, all in sync")
    assert sorted(read_values(f"127.0.0.1:{HOST_PORTS[4]}", "orders", 3)) == [b"from-kcat", b"hello", b"world"]


def test_docker_quick_start_runs_as_written(tmp_path):
    blocks = readme.blocks(SECTION)
    assert blocks and all(b.lang == "sh" for b in blocks), [b.where() for b in blocks]
    *steps, teardown = blocks
    assert "down -v" in teardown.code, f"{teardown.where()}: the quick start must end by taking the cluster down"
    busy = [p for p in [*HOST_PORTS.values(), *HTTP_PORTS] if not port_free(p)]
    assert not busy, f"127.0.0.1 ports {busy} are in use; the quick start publishes the brokers there"
    assert shutil.which("kcat"), "kcat is not installed (scripts/test installs Debian's kcat)"
    assert Path(SLUICE_CLI).is_file(), f"no sluice CLI at {SLUICE_CLI} (cargo build -p sluice-cli)"

    project = f"{PREFIX}readme{os.getpid()}"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sluice").symlink_to(SLUICE_CLI)
    if shutil.which("docker-compose") is None:
        # The README writes `docker-compose` and says `docker compose` works too; where only the
        # plugin is installed, this one-line shim stands in for the former.
        shim = bin_dir / "docker-compose"
        shim.write_text('#!/bin/sh\nexec docker compose "$@"\n')
        shim.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLUICE_") or k == "SLUICE_IMAGE"}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    env["COMPOSE_PROJECT_NAME"] = project
    try:
        for block in steps:
            print(run_sh(block, env, ROOT, BLOCK_TIMEOUT_S))

        check_before_teardown()
        print(run_sh(teardown, env, ROOT, BLOCK_TIMEOUT_S))
        assert not leftovers(project), f"left behind by the README's teardown: {leftovers(project)}"
    except BaseException:
        print(f"--- {project} logs ---\n{ComposeCluster(project).logs()}")
        raise
    finally:
        ComposeCluster(project).down()

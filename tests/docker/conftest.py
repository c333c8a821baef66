"""The docker suite: each test gets its own compose project from docker/compose.yml (three
keeper nodes, three brokers, each broker's client port published on a free 127.0.0.1 port),
made from the image scripts/docker-build built. Projects are named `sluicetest...`; every test
takes its project down with its volumes and networks, whatever the outcome, and the session
starts by removing any left behind by an interrupted run."""

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "support"))
from waiting import free_ports, wait_until  # noqa: E402

# The cluster, and the documented fourth broker (started only by the test that scales out; named
# here always, so that `down` removes its container, volume and network too).
COMPOSE_FILES = [ROOT / "docker" / "compose.yml", ROOT / "docker" / "compose.broker4.yml"]
SERVICES = [f"keeper{i}" for i in (1, 2, 3)] + [f"broker{i}" for i in (1, 2, 3)]
IMAGE = os.environ.get("SLUICE_IMAGE", "sluice:latest")
PREFIX = "sluicetest"
# The brokers' keeper session: a dead, paused or cut-off broker is declared gone after this.
SESSION_MS = 6000
UP_TIMEOUT_S = 180


def compose_tool():
    """`docker compose` (v2) where it exists, else the v1 `docker-compose`."""
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    raise RuntimeError("neither `docker compose` nor `docker-compose` is installed")


def docker(*args, check=True, timeout=120):
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
    return result.stdout


class ComposeCluster:
    """One compose project: `up`, `down`, and the docker verbs the tests use on its nodes."""

    def __init__(self, project=None, extra_files=(), client_conf=None, env=None):
        """`extra_files`: compose files over docker/compose.yml (the secured variant);
        `client_conf`: the librdkafka settings host clients need (security.protocol, ...)."""
        self.project = project or f"{PREFIX}{os.getpid()}x{uuid.uuid4().hex[:6]}"
        drawn = free_ports(9)
        self.ports = dict(zip((1, 2, 3, 4), drawn[:4]))
        # Each broker's HTTP endpoint (metrics, /ready, the console), and Prometheus's.
        self.http_ports = dict(zip((1, 2, 3, 4), drawn[4:8]))
        self.prometheus_port = drawn[8]
        self._admins = {}
        self.files = COMPOSE_FILES + [Path(f) for f in extra_files]
        self.client_conf = dict(client_conf or {})
        self.env = {
            **os.environ,
            "SLUICE_IMAGE": IMAGE,
            "SLUICE_RESTART": "no",
            "SLUICE_SESSION_TIMEOUT_MS": str(SESSION_MS),
            "SLUICE_REPLICA_LAG_TIME_MAX_MS": "5000",
            **{f"SLUICE_BROKER{i}_PORT": str(p) for i, p in self.ports.items()},
            **{f"SLUICE_BROKER{i}_HTTP_PORT": str(p) for i, p in self.http_ports.items()},
            "SLUICE_PROMETHEUS_PORT": str(self.prometheus_port),
            **(env or {}),
        }

    def compose(self, *args, check=True, timeout=UP_TIMEOUT_S):
        files = [arg for f in self.files for arg in ("-f", str(f))]
        cmd = [*compose_tool(), "-p", self.project, *files, *args]
        result = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result.stdout

    @property
    def bootstrap(self):
        return ",".join(self.address(i) for i in (1, 2, 3))

    def address(self, broker_id):
        return f"127.0.0.1:{self.ports[broker_id]}"

    def container(self, service):
        cid = self.compose("ps", "-q", service).strip()
        assert cid, f"no container for {service}"
        return cid

    def health(self, service):
        return docker("inspect", "-f", "{{.State.Health.Status}}", self.container(service)).strip()

    def up(self):
        # Keepers first (the brokers wait for them to be healthy), then the brokers.
        self.compose("up", "-d", *SERVICES)
        self.wait_healthy(SERVICES)
        wait_until(lambda: len(self.brokers_seen_from(self.bootstrap)) == 3, timeout_s=60, interval_s=0.5,
                   what="all three brokers registered")

    def wait_healthy(self, services):
        wait_until(lambda: all(self.health(s) == "healthy" for s in services), timeout_s=UP_TIMEOUT_S,
                   interval_s=0.5, what=f"{', '.join(services)} healthy")

    def down(self):
        # The `monitoring` profile named, so that its Prometheus goes too when a test started it.
        self.compose("--profile", "monitoring", "down", "-v", "--remove-orphans", "-t", "5", check=False)

    def logs(self):
        return self.compose("logs", "--no-color", "--tail", "150", check=False)

    # --- docker verbs on a service's container ---------------------------------------------------
    def kill(self, service):
        """SIGKILL, returning once the container has exited (`docker kill` returns sooner)."""
        cid = self.container(service)
        docker("kill", cid)
        docker("wait", cid, timeout=30)

    def start(self, service):
        docker("start", self.container(service))

    def pause(self, service):
        docker("pause", self.container(service))

    def unpause(self, service):
        docker("unpause", self.container(service))

    def network(self):
        return f"{self.project}_cluster"

    def disconnect(self, service):
        docker("network", "disconnect", self.network(), self.container(service))

    def connect(self, service):
        docker("network", "connect", "--alias", service, self.network(), self.container(service))

    def exec(self, service, *args, check=True):
        """Runs the image's `sluice` inside a node (the image has no shell)."""
        result = subprocess.run(["docker", "exec", self.container(service), "/usr/local/bin/sluice", *args],
                                capture_output=True, text=True, timeout=60)
        if check and result.returncode != 0:
            raise RuntimeError(f"sluice {' '.join(args)} in {service} failed: {result.stderr.strip()}")
        return result.stdout

    # --- what the cluster says ---------------------------------------------------------------------
    def admin(self, bootstrap=None):
        """An admin client per bootstrap list, kept (a dropped client aborts its calls)."""
        bootstrap = bootstrap or self.bootstrap
        if bootstrap not in self._admins:
            self._admins[bootstrap] = AdminClient({"bootstrap.servers": bootstrap, **self.client_conf})
        return self._admins[bootstrap]

    def brokers_seen_from(self, bootstrap):
        try:
            return sorted(self.admin(bootstrap).list_topics(timeout=5).brokers)
        except Exception:
            return []

    def create_topic(self, name, partitions, min_isr=2):
        topic = NewTopic(name, num_partitions=partitions, replication_factor=3, config={"min.insync.replicas": str(min_isr)})
        self.admin().create_topics([topic], operation_timeout=30)[name].result(60)
        wait_until(lambda: len(self.partitions(name)) == partitions and
                   all(p.leader >= 0 and len(p.isrs) == 3 for p in self.partitions(name).values()),
                   timeout_s=60, what=f"{name}'s leaders and full ISRs")

    def partitions(self, topic, bootstrap=None):
        """Partition id -> confluent PartitionMetadata (leader, replicas, isrs), or {}."""
        try:
            md = self.admin(bootstrap).list_topics(topic, timeout=5)
        except Exception:
            return {}
        t = md.topics.get(topic)
        return dict(t.partitions) if t is not None and t.error is None else {}

    def partition_view(self, service, topic, p):
        """(leader, leader epoch, isr) of a partition as `service` itself sees it ((None, None, [])
        while it does not know the partition)."""
        info = json.loads(self.exec(service, "cluster", "info", "--json"))
        for part in info["partitions"]:
            if (part["topic"], part["partition"]) == (topic, p):
                return part["leader"], part["leader_epoch"], sorted(part["isr"])
        return None, None, []

    def replica_log(self, broker_id, topic, p, into: Path):
        """The bytes of a replica's log segments, copied out of the broker's volume."""
        dest = into / f"broker{broker_id}-{topic}-{p}-{time.monotonic_ns()}"
        docker("cp", f"{self.container(f'broker{broker_id}')}:/var/lib/sluice/{topic}-{p}", str(dest))
        return b"".join(f.read_bytes() for f in sorted(dest.glob("*.log")))

    def wait_for_identical_replicas(self, topic, p, into: Path, timeout_s=60):
        def identical():
            logs = [self.replica_log(b, topic, p, into) for b in (1, 2, 3)]
            return len(logs[0]) > 0 and logs.count(logs[0]) == 3
        wait_until(identical, timeout_s=timeout_s, interval_s=1, what=f"byte-identical replicas of {topic}-{p}")


def leftover_projects():
    out = docker("ps", "-a", "--filter", "label=com.docker.compose.project",
                 "--format", '{{.Label "com.docker.compose.project"}}', check=False)
    names = set(out.split())
    out = docker("volume", "ls", "--filter", "label=com.docker.compose.project",
                 "--format", '{{.Label "com.docker.compose.project"}}', check=False)
    names |= set(out.split())
    return sorted(n for n in names if n.startswith(PREFIX))


@pytest.fixture(scope="session", autouse=True)
def no_leftovers():
    """Removes the projects of an interrupted earlier run, before and after the suite."""
    for name in leftover_projects():
        ComposeCluster(name).down()
    yield
    for name in leftover_projects():
        ComposeCluster(name).down()
    assert not leftover_projects(), "compose projects left behind"


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    setattr(item, "rep_" + outcome.get_result().when, outcome.get_result())


@pytest.fixture
def cluster(request):
    c = ComposeCluster()
    try:
        c.up()
        yield c
    finally:
        rep = getattr(request.node, "rep_call", None)
        if rep is None or rep.failed:
            print(f"\n--- {c.project} logs ---\n{c.logs()}")
        c.down()

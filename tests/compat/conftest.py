"""Fixtures for the compatibility suite: a real `sluiced` process per test, on a loopback port,
with its own data directory and log (printed when a test fails)."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "support"))
from waiting import free_ports, wait_until  # noqa: E402  (re-exported to the tests)
TARGET = ROOT / os.environ.get("CARGO_TARGET_DIR", "target")  # an absolute CARGO_TARGET_DIR wins
SLUICED = os.environ.get("SLUICED", str(TARGET / "debug" / "sluiced"))
SLUICE_CLI = os.environ.get("SLUICE_CLI", str(TARGET / "debug" / "sluice"))
READY_TIMEOUT_S = 60
STOP_TIMEOUT_S = 120


class Broker:
    """A sluiced process that can be stopped (SIGTERM), killed (SIGKILL) and restarted."""

    def __init__(self, workdir: Path, overrides=(), sasl_listener=False, tls_listeners=()):
        """`sasl_listener`: a SASL_PLAINTEXT listener (`sasl`, host:port) after the PLAINTEXT
        one; `tls_listeners`: listeners named by their protocol, "SSL" and/or "SASL_SSL", after
        those (`tls["SSL"]`, host:port). All on ports fixed now; their SASL and TLS settings go
        in `overrides`."""
        self.workdir = workdir
        self.data = workdir / "data"
        self.log_path = workdir / "sluiced.log"
        self.overrides = list(overrides)
        self.proc = None
        self.bootstrap = None
        self.keeper = None
        self.port = 0
        self.sasl_port = None
        self.sasl = None
        self.tls = {}
        if sasl_listener or tls_listeners:
            ports = free_ports(1 + int(sasl_listener) + len(tls_listeners))
            self.port = ports.pop(0)
            if sasl_listener:
                self.sasl_port = ports.pop(0)
                self.sasl = f"127.0.0.1:{self.sasl_port}"
            for protocol in tls_listeners:
                self.tls[protocol] = f"127.0.0.1:{ports.pop(0)}"

    def start(self):
        ready = self.workdir / "ready"
        if ready.exists():
            ready.unlink()
        # Reuse the port across restarts so clients' bootstrap lists stay valid.
        listeners = f"PLAINTEXT://127.0.0.1:{self.port}" + (f",SASL_PLAINTEXT://{self.sasl}" if self.sasl else "")
        listeners += "".join(f",{protocol}://{address}" for protocol, address in self.tls.items())
        # Every port is a free one: the keeper's, and the HTTP endpoint's (its URL in the ready
        # file); an override may still name one.
        args = [SLUICED, "-o", f"listeners={listeners}", "-o", f"log.dirs={self.data}",
                "-o", "keeper.client.address=127.0.0.1", "-o", "keeper.client.port=0",
                "-o", "metrics.listener=127.0.0.1:0", "--ready-file", str(ready)]
        for o in self.overrides:
            args += ["-o", o]
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not (ready.exists() and len(ready.read_text().splitlines()) >= 2):
            if self.proc.poll() is not None:
                raise RuntimeError(f"sluiced exited with {self.proc.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"sluiced not ready after {READY_TIMEOUT_S}s:\n{self.log()}")
            time.sleep(0.02)
        lines = ready.read_text().splitlines()
        self.bootstrap = lines[0].strip()
        self.keeper = lines[1].strip()
        # The HTTP endpoint (/metrics, /health, /ready), unless an override turned it off.
        self.metrics = next((line.strip() for line in lines if line.startswith(("http://", "https://"))), None)
        self.port = int(self.bootstrap.rsplit(":", 1)[1])
        # Ready means a request succeeds, not just a file.
        from confluent_kafka.admin import AdminClient
        AdminClient({"bootstrap.servers": self.bootstrap}).list_topics(timeout=30)
        for address in ([self.sasl] if self.sasl else []) + list(self.tls.values()):
            wait_until(lambda: accepts(address), timeout_s=30, what=f"the listener {address}")

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            # Generous: a clean stop flushes every log (10,000 of them in test_many_partitions) on
            # a machine the parallel suites share.
            code = self.proc.wait(timeout=STOP_TIMEOUT_S)
            if sig == signal.SIGTERM:
                assert code == 0, f"sluiced exit code {code} after SIGTERM:\n{self.log()}"
        self.proc = None

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")[-20000:]
        except FileNotFoundError:
            return ""


def accepts(address):
    """Whether something accepts TCP connections at host:port."""
    host, port = address.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            return True
    except OSError:
        return False


def serve_broker(tmp_path, request, overrides=()):
    """A fixture body: a started broker with `overrides`, stopped afterwards (SIGKILL and its
    log printed when the test failed)."""
    b = Broker(tmp_path, overrides)
    b.start()
    yield b
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    b.stop(signal.SIGKILL if failed else signal.SIGTERM)
    if failed:
        print(f"\n--- sluiced log ---\n{b.log()}")


@pytest.fixture
def broker(tmp_path, request):
    yield from serve_broker(tmp_path, request)


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def four_letter_word(address, word):
    """Sends a ZooKeeper four-letter word (`srvr`, `ruok`, ...) to host:port; "" if unreachable."""
    host, port = address.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=2) as s:
            s.sendall(word.encode())
            chunks = []
            while chunk := s.recv(4096):
                chunks.append(chunk)
            return b"".join(chunks).decode()
    except OSError:
        return ""


def server_stat(address):
    """The `Key: value` lines a keeper or ZooKeeper server answers to `srvr` (Mode, Zxid, ...)."""
    lines = four_letter_word(address, "srvr").splitlines()
    return dict(line.split(": ", 1) for line in lines if ": " in line)


def server_mode(address):
    """The `Mode:` a keeper or ZooKeeper server reports (leader, follower, standalone), or None."""
    return server_stat(address).get("Mode")


# Figures a test measures (restart and failover times), printed together at the end of the run
# so that CI's output shows them without -s. They travel in the test's report (user_properties),
# so they reach the summary from pytest-xdist's worker processes too.
FIGURE = "sluice-figure"


@pytest.fixture
def report_figure(request):
    """`report_figure(line)`: keep `line` for the run's closing summary."""
    return lambda line: request.node.user_properties.append((FIGURE, line))


def pytest_terminal_summary(terminalreporter):
    figures = []
    for reports in terminalreporter.stats.values():
        for rep in reports:
            if getattr(rep, "when", None) == "call":
                figures += [value for key, value in getattr(rep, "user_properties", ()) if key == FIGURE]
    if figures:
        terminalreporter.section("measured")
        for line in figures:
            terminalreporter.write_line(line)

"""Standard-library helpers shared by the test suites and the benchmark scripts: bounded
waiting and free loopback ports."""

import os
import random
import socket
import time


def wait_until(condition, timeout_s=30, interval_s=0.05, what="condition"):
    """Polls `condition` until true or the bound passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


# Ports handed out for servers that tests start, below Linux's ephemeral range (32768 and up,
# where listeners on port 0 and outgoing connections take theirs): a port found free here is
# not taken by the kernel for someone else before the server binds it. Under pytest-xdist each
# worker has a slice of its own, so two workers never hand out the same port; within a process
# a cursor walks the slice, so a port is not handed out twice until it wraps around.
PORTS_FIRST = 10_000
PORTS_END = 32_700
_cursor = None


def _slice():
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
    width = (PORTS_END - PORTS_FIRST) // max(workers, 1)
    first = PORTS_FIRST + index * width
    return first, first + width


def free_ports(n):
    """`n` distinct free loopback ports (held open together, so they differ)."""
    global _cursor
    first, end = _slice()
    if _cursor is None or not first <= _cursor < end:
        _cursor = random.randrange(first, end)
    socks, ports = [], []
    try:
        for _ in range(end - first):
            if len(ports) == n:
                break
            port = _cursor
            _cursor = first if _cursor + 1 >= end else _cursor + 1
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                s.close()
                continue
            socks.append(s)
            ports.append(port)
    finally:
        for s in socks:
            s.close()
    if len(ports) < n:
        raise RuntimeError(f"no {n} free loopback ports in {first}..{end}")
    return ports

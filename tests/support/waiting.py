"""Standard-library helpers shared by the test suites and the benchmark scripts: bounded
waiting and free loopback ports."""

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


def free_ports(n):
    """`n` distinct free loopback ports (held open together, so they differ)."""
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports

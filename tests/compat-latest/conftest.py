"""The compatibility suite's fixtures (tests/compat/conftest.py: a real `sluiced` per test),
for the newest client releases, which run in a venv of their own."""

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "compat_conftest", Path(__file__).resolve().parents[1] / "compat" / "conftest.py")
_compat = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_compat)

broker = _compat.broker
Broker = _compat.Broker
free_ports = _compat.free_ports
pytest_runtest_makereport = _compat.pytest_runtest_makereport
wait_until = _compat.wait_until

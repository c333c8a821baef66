"""The README test (test_tour.py) runs the README's own commands; its helpers live in
tests/support (readme.py extracts and runs the blocks, waiting.py waits with a bound)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "support"))

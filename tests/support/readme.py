"""The README's fenced code blocks, for the tests that run them (tests/readme, tests/docker).

The README is the only copy of its commands: a test asks for the blocks of a section by its
`## ` heading and runs them as written, so a command changed in the README is a command changed
in the test. A block remembers the `### ` subsection it sits under (None for the section's own
text before any subsection) and the README line it starts on, for messages that point a reader
at the failing line.
"""

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
FENCE = re.compile(r"^```\s*([\w+-]*)\s*$")


@dataclass(frozen=True)
class Block:
    lang: str  # the fence's language tag: "sh", "python", or "" for none
    code: str  # the lines between the fences, each ending in a newline
    line: int  # README line number of the block's first code line
    section: str  # the `## ` heading it sits under, without the hashes
    subsection: str | None  # the `### ` heading within that section, or None

    def where(self):
        return f"README.md:{self.line} ({self.section}, {self.lang or 'untagged'} block)"


def blocks(section, subsection=..., path=README):
    """The fenced blocks under `## {section}` in document order; with `subsection` given (None
    for the section's own text before its first `### `), only those under it. Raises if the
    section is missing, so a renamed heading fails loudly instead of testing nothing."""
    found, in_section, seen, current_sub, fence = [], False, False, None, None
    for n, text in enumerate(path.read_text().splitlines(), start=1):
        if fence is not None:  # inside a block: only its closing fence ends it
            if text.strip() == "```":
                lang, first, lines, keep = fence
                if keep:
                    found.append(Block(lang, "".join(lines), first, section, current_sub))
                fence = None
            else:
                fence[2].append(text + "\n")
            continue
        if text.startswith("## "):
            in_section = text[3:].strip() == section
            seen |= in_section
            current_sub = None
        elif text.startswith("### ") and in_section:
            current_sub = text[4:].strip()
        elif m := FENCE.match(text):
            fence = (m[1], n + 1, [], in_section)
    if fence is not None:
        raise ValueError(f"{path}: a code block opened at line {fence[1] - 1} is never closed")
    if not seen:
        raise ValueError(f"{path} has no `## {section}` section")
    if subsection is not ...:
        found = [b for b in found if b.subsection == subsection]
    return found


class BlockFailed(AssertionError):
    """A README block that exited non-zero (or ran past its bound), with what it printed."""


def run_sh(block, env, cwd, timeout_s):
    """Runs an sh block whole, as a reader pasting it would but stopping at the first failure:
    `bash -euxo pipefail`, so the transcript shows each command (`+ ...`) before its output.
    Returns the transcript; raises BlockFailed with it otherwise."""
    assert block.lang == "sh", block.where()
    try:
        result = subprocess.run(["bash", "-euxo", "pipefail", "-c", block.code], cwd=cwd, env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as e:
        raise BlockFailed(f"{block.where()} still running after {timeout_s}s:\n{_text(e.output)}") from None
    if result.returncode != 0:
        raise BlockFailed(f"{block.where()} failed (exit {result.returncode}):\n{result.stdout}")
    return result.stdout


# One interpreter for a run of python blocks, as a reader pasting them into one `python3`
# session: later blocks use the imports and names of earlier ones. Each block is compiled as
# README.md with its own line numbers, so a traceback points at the README's line.
_SESSION = """
import json, sys
ns = {"__name__": "__main__"}
for block in json.load(sys.stdin):
    print(f"--- README.md:{block['line']} ---", flush=True)
    exec(compile("\\n" * (block["line"] - 1) + block["code"], "README.md", "exec"), ns)
"""


def run_python(blocks, python, env, cwd, timeout_s):
    """Runs python blocks in order in one interpreter; returns what they printed, or raises
    BlockFailed with it and the traceback."""
    assert blocks and all(b.lang == "python" for b in blocks), [b.where() for b in blocks]
    payload = json.dumps([{"line": b.line, "code": b.code} for b in blocks])
    where = ", ".join(b.where() for b in blocks)
    try:
        result = subprocess.run([python, "-c", _SESSION], cwd=cwd, env=env, input=payload,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as e:
        raise BlockFailed(f"{where} still running after {timeout_s}s:\n{_text(e.output)}") from None
    if result.returncode != 0:
        raise BlockFailed(f"{where} failed (exit {result.returncode}):\n{result.stdout}")
    return result.stdout


def steps(section_blocks):
    """Groups blocks into the steps a reader takes, in document order: each sh block alone, each
    run of consecutive python blocks together (one interpreter session)."""
    out = []
    for b in section_blocks:
        if b.lang == "python" and out and out[-1][0].lang == "python":
            out[-1].append(b)
        else:
            out.append([b])
    return out


def _text(output):
    if output is None:
        return ""
    return output.decode(errors="replace") if isinstance(output, bytes) else output

"""Refuse a ``# type: ignore`` that does not say which error it silences and why.

mypy (``ignore-without-code``) and ruff (``PGH003``) already insist on the error code; this
check adds the reason: every ``# type: ignore[code]`` in the project must be followed by a
comment, as in ``x = f()  # type: ignore[attr-defined]  # faiss stubs lack id_map``.
Run by ``make lint``; exits 1 and lists the offenders.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tokenize

IGNORE = re.compile(r"^#\s*type:\s*ignore(?P<code>\[[^\]]*\])?(?P<rest>.*)$")


def offenders(paths: list[str]) -> list[str]:
    """``path:line: comment`` for each type-ignore comment (real comments only, via tokenize)."""
    out = []
    for path in paths:
        with open(path, "rb") as fh:
            for tok in tokenize.tokenize(fh.readline):
                if tok.type != tokenize.COMMENT:
                    continue
                m = IGNORE.search(tok.string)
                if m is None:
                    continue
                reason = m.group("rest").strip().lstrip("#").strip()
                if not m.group("code") or not reason:
                    out.append(f"{path}:{tok.start[0]}: {tok.line.strip()}")
    return out


def main() -> int:
    files = subprocess.run(["git", "ls-files", "*.py"], capture_output=True, text=True, check=True).stdout.split()
    bad = offenders(files)
    for line in bad:
        print(line)
    if bad:
        print(f"{len(bad)} `type: ignore` without an error code and a reason ('# type: ignore[code]  # why')")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

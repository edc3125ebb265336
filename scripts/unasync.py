#!/usr/bin/env python3
"""Generate the sync twins of async modules (the httpcore / psycopg approach).

    python scripts/unasync.py          # rewrite the generated files
    python scripts/unasync.py --check  # fail if they are out of date (CI)

Each async source is the one to edit; its sync twin carries a DO NOT EDIT
header. The rewrite is purely textual, by the table below.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "src" / "sessiondb"
FILES = {"_async_store.py": "store.py"}
RULES = [
    (r"\bAsyncSessionStore\b", "SessionStore"),
    (r"\bAsyncIterator\b", "Iterator"),
    (r"\basync def\b", "def"),
    (r"\basync for\b", "for"),
    (r"\basync with\b", "with"),
    (r"\bawait ", ""),
    (r"__aenter__", "__enter__"),
    (r"__aexit__", "__exit__"),
    (r"open_async_store", "open_store"),
    (r"\bThe async session store\b", "The sync session store"),
]
HEADER = "# DO NOT EDIT: generated from {source} by scripts/unasync.py.\n"


def generate(source: str) -> str:
    text = (ROOT / source).read_text()
    for pattern, replacement in RULES:
        text = re.sub(pattern, replacement, text)
    # The async source's docstring points here; say what this file is instead.
    text = re.sub(r'^""".*?"""', f'"""The sync session store, generated from {source}."""',
                  text, count=1, flags=re.S)
    return HEADER.format(source=source) + text


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for source, target in FILES.items():
        wanted = generate(source)
        path = ROOT / target
        if path.exists() and path.read_text() == wanted:
            continue
        if check:
            stale.append(target)
        else:
            path.write_text(wanted)
            print(f"wrote {path.relative_to(ROOT.parent.parent)}")
    if stale:
        print(f"out of date: {', '.join(stale)}; run python scripts/unasync.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

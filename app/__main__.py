"""`unmasker` (and `python -m app`): with no arguments, or with photo files, the editor opens;
with a command (unmask, batch, faces, info, --version, ...) the command line runs."""
from __future__ import annotations

import sys
from pathlib import Path


def wants_editor(argv: list[str]) -> bool:
    from app.cli import build_parser

    if not argv:
        return True
    commands = set(build_parser()._subparsers._group_actions[0].choices)  # unmask, batch, faces, info
    return argv[0] not in commands and not argv[0].startswith("-") and all(Path(a).exists() for a in argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if wants_editor(argv):
        from app.ui.launch import run

        return run(argv)
    from app.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    raise SystemExit(main())

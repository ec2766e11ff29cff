"""Turn a submission (glob, template, plain) into commands. Runs in the daemon."""

from __future__ import annotations

import glob
import os
import re
import shlex

from stratos.errors import InvalidSubmission

FILE_PLACEHOLDER = "%f%"
PARAM_PLACEHOLDER = "%c%"
#: characters that never need shell quoting in a path.
_SHELL_SAFE = re.compile(r"[A-Za-z0-9_@%+=:,./-]+")


def shell_path(path: str) -> str:
    """The path as a shell word: unchanged unless it holds characters the shell would interpret."""
    return path if _SHELL_SAFE.fullmatch(path) else shlex.quote(path)


def expand_glob(template: str, patterns: list[str], cwd: str) -> list[str]:
    """One command per matching file, per pattern, matches sorted; `**` recurses."""
    if FILE_PLACEHOLDER not in template:
        raise InvalidSubmission(
            f"the command {template!r} has no {FILE_PLACEHOLDER} placeholder for the file name: "
            f"write it where the file goes, e.g. 'wc -c {FILE_PLACEHOLDER}'."
        )
    if not patterns:
        raise InvalidSubmission("no file pattern was given.")
    commands: list[str] = []
    for pattern in patterns:
        matches = sorted(
            m for m in glob.glob(pattern, root_dir=cwd, recursive=True)
            if os.path.isfile(os.path.join(cwd, m))
        )
        if not matches:
            raise InvalidSubmission(
                f"the pattern {pattern!r} matches no file (relative paths are taken from {cwd}). "
                "Check the path, or list the directory to see what is there."
            )
        commands.extend(template.replace(FILE_PLACEHOLDER, shell_path(m)) for m in matches)
    return commands


def expand_template(template: str, rows: list[list[str]]) -> list[str]:
    """Fill each row's values into the template's %c% placeholders, in order, as given."""
    pieces = template.split(PARAM_PLACEHOLDER)
    wanted = len(pieces) - 1
    if wanted == 0:
        raise InvalidSubmission(
            f"the template {template!r} has no {PARAM_PLACEHOLDER} placeholder: "
            "use the plain batch()/stream() methods for fixed commands."
        )
    if not rows:
        raise InvalidSubmission("params is empty: give one row of values per command.")
    commands = []
    for number, row in enumerate(rows):
        if len(row) != wanted:
            raise InvalidSubmission(
                f"params row {number} has {len(row)} value(s) {row!r} but the template has {wanted} "
                f"{PARAM_PLACEHOLDER} placeholder(s): give exactly {wanted} per row."
            )
        out = [pieces[0]]
        for value, piece in zip(row, pieces[1:], strict=True):
            out.append(value)
            out.append(piece)
        commands.append("".join(out))
    return commands

"""Turn a submission (glob, template, plain) into commands. Runs in the daemon."""

from __future__ import annotations

import fnmatch
import glob
import os
import re
import shlex

from stratos_wire.errors import InvalidSubmission

FILE_PLACEHOLDER = "%f%"
PARAM_PLACEHOLDER = "%c%"
#: a template value quoted for the shell (one word whatever it holds), as %f% is.
QUOTED_PLACEHOLDER = "%q%"
_PARAM_PLACEHOLDERS = re.compile("(%c%|%q%)")
#: characters that never need shell quoting in a path.
_SHELL_SAFE = re.compile(r"[A-Za-z0-9_@%+=:,./-]+")


def shell_path(path: str) -> str:
    """The path as a shell word: unchanged unless it holds characters the shell would interpret."""
    return path if _SHELL_SAFE.fullmatch(path) else shlex.quote(path)


def on_mount(path: str, mount_prefix: str | None) -> bool:
    """Whether an absolute path lies on the HDFS mount (`/dfs/a` does, `/dfsx/a` does not)."""
    return bool(mount_prefix) and os.path.isabs(path) and \
        (path + "/").startswith((mount_prefix or "").rstrip("/") + "/")


def marked(path: str, mount_prefix: str | None) -> str:
    """The path as it goes into %f%: shell-safe, and in `<[ ]>` when it lies on the HDFS mount."""
    return f"<[{shell_path(path)}]>" if on_mount(path, mount_prefix) else shell_path(path)


def fill_glob(template: str, paths: list[str], mount_prefix: str | None) -> list[str]:
    return [template.replace(FILE_PLACEHOLDER, marked(p, mount_prefix)) for p in paths]


def glob_files(pattern: str, cwd: str) -> list[str]:
    """The regular files matching ``pattern`` (relative to ``cwd`` unless absolute), sorted, as matched.

    The usual pattern, wildcards in its last part and no ``**`` (`run*/snap_*.hdf5`), reads each
    matching directory once with os.scandir, which gives each name's type with it: no ``stat`` per
    match, which was a tenth of a 100,000-file submission. Names are matched as ``glob`` matches
    them (fnmatch; hidden names only by a pattern that starts with a dot); other patterns go
    through ``glob`` itself.
    """
    head, tail = os.path.split(pattern)
    if "**" in pattern or not glob.has_magic(tail):
        return sorted(m for m in glob.glob(pattern, root_dir=cwd, recursive=True)
                      if os.path.isfile(os.path.join(cwd, m)))
    matches = re.compile(fnmatch.translate(tail)).match
    hidden = tail.startswith(".")
    found: list[str] = []
    # Sorted a directory at a time, not all matches at once: one sort of a million paths holds
    # the GIL (this runs in a thread) for about 0.24 s here, and the daemon answers nothing. The
    # directories all lie at the same depth, so ordering them by "DIR/" and each one's names
    # gives exactly the order of sorting every path.
    directories = glob.glob(head, root_dir=cwd) if glob.has_magic(head) else [head]
    for directory in sorted(directories, key=lambda d: os.path.join(d, "")):
        try:
            with os.scandir(os.path.join(cwd, directory)) as entries:
                names = sorted(e.name for e in entries
                               if (hidden or e.name[0] != ".") and matches(e.name) and e.is_file())
        except OSError:  # not a directory, gone, or not readable: no match there, as with glob
            continue
        found.extend(os.path.join(directory, name) for name in names)
    return found


def command_for(template: str, match: str, cwd: str, mount_prefix: str | None) -> str:
    """The command for one matched file: `%f%` is the path as matched, shell-quoted when needed; a
    match on the HDFS mount is marked `<[ ]>` (by its absolute path), so its task is placed near its data."""
    if not mount_prefix:
        return template.replace(FILE_PLACEHOLDER, shell_path(match))
    absolute = os.path.normpath(os.path.join(cwd, match))
    word = marked(absolute, mount_prefix) if on_mount(absolute, mount_prefix) else shell_path(match)
    return template.replace(FILE_PLACEHOLDER, word)


def check_template(template: str) -> None:
    if FILE_PLACEHOLDER not in template:
        raise InvalidSubmission(
            f"the command {template!r} has no {FILE_PLACEHOLDER} placeholder for the file name: "
            f"write it where the file goes, e.g. 'wc -c {FILE_PLACEHOLDER}'."
        )


def expand_glob(template: str, patterns: list[str], cwd: str, mount_prefix: str | None = None,
                found: dict[str, list[str]] | None = None, files: list[str] | None = None,
                allow_empty: bool = False) -> list[str]:
    """One command per matching file, per pattern, matches sorted; `**` recurses.

    ``found`` holds patterns already expanded elsewhere (`hdfs://` ones, through WebHDFS).
    Matches on the HDFS mount are marked `<[ ]>`, so their tasks are placed near their data.
    ``files``, when given, gets each command's file as matched (what ``glob.glob`` gives in the
    user's script), in the order of the commands: the input a result record names. ``allow_empty``:
    a pattern that matches nothing is no error (a followed pattern: files come later).
    """
    check_template(template)
    if not patterns:
        raise InvalidSubmission("no file pattern was given.")
    commands: list[str] = []
    for pattern in patterns:
        if found is not None and pattern in found:
            if not found[pattern]:
                raise InvalidSubmission(f"the pattern {pattern!r} matches no file in HDFS.")
            commands.extend(fill_glob(template, found[pattern], mount_prefix))
            if files is not None:
                files.extend(found[pattern])
            continue
        matches = glob_files(pattern, cwd)
        if not matches and not allow_empty:
            raise InvalidSubmission(
                f"the pattern {pattern!r} matches no file (relative paths are taken from {cwd}). "
                "Check the path, or list the directory to see what is there."
            )
        for match in matches:
            commands.append(command_for(template, match, cwd, mount_prefix))
            if files is not None:
                files.append(match)
    return commands


def expand_template(template: str, rows: list[list[str]]) -> list[str]:
    """Fill each row's values into the template's placeholders, in order.

    ``%c%`` inserts the value as given (the shell then splits it: one value may carry several
    words, as the seed's galaxy_view example needs); ``%q%`` inserts it as one shell word,
    quoted only when it holds characters the shell would interpret.
    """
    pieces = _PARAM_PLACEHOLDERS.split(template)
    texts, kinds = pieces[0::2], pieces[1::2]
    wanted = len(kinds)
    if wanted == 0:
        raise InvalidSubmission(
            f"the template {template!r} has no {PARAM_PLACEHOLDER} or {QUOTED_PLACEHOLDER} placeholder: "
            "use the plain batch()/stream() methods for fixed commands."
        )
    if not rows:
        raise InvalidSubmission("params is empty: give one row of values per command.")
    commands = []
    for number, row in enumerate(rows):
        if len(row) != wanted:
            raise InvalidSubmission(
                f"params row {number} has {len(row)} value(s) {row!r} but the template has {wanted} "
                f"placeholder(s) ({PARAM_PLACEHOLDER} or {QUOTED_PLACEHOLDER}): give exactly {wanted} per row."
            )
        out = [texts[0]]
        for value, kind, text in zip(row, kinds, texts[1:], strict=True):
            out.append(shell_path(value) if kind == QUOTED_PLACEHOLDER else value)
            out.append(text)
        command = "".join(out)
        if not command.strip():
            raise InvalidSubmission(f"params row {number} {row!r} makes an empty command: give every row a value.")
        commands.append(command)
    return commands

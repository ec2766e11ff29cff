"""Turning what a script passes to glob/template/batch/stream into Submit messages.

The client only normalises shapes (command strings into commands, parameter strings
into rows) and cuts them into bounded chunks; the daemon expands patterns, fills
templates and reports what it cannot run.
"""

from __future__ import annotations

import logging
import numbers
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TypeVar

from stratos_wire import stratos_pb2 as pb

from ._connection import Connection
from .errors import InvalidSubmission

__all__ = [
    "MAX_CHUNK_BYTES",
    "MAX_CHUNK_ITEMS",
    "Commands",
    "Params",
    "chunked",
    "make_chunks",
    "normalize_params",
    "normalize_patterns",
    "split_commands",
    "submit",
]

#: items (commands, patterns or parameter rows) per Submit message.
MAX_CHUNK_ITEMS = 1000
#: approximate bytes per Submit message (one larger item still travels alone).
MAX_CHUNK_BYTES = 1 << 20

Commands = str | Iterable[str]
Params = Iterable[str | Sequence[object]]

logger = logging.getLogger("stratos")

_SEPARATORS = re.compile(r"[;\r\n]")
T = TypeVar("T")


def split_commands(commands: Commands) -> list[str]:
    """The commands in ``commands``, stripped, empty ones dropped.

    Args:
        commands: one string of commands separated by newlines or semicolons, or an
            iterable of commands (each kept whole, semicolons included).

    Returns:
        The commands.

    Raises:
        InvalidSubmission: an element of the iterable is not a string.
    """
    if isinstance(commands, str):
        parts: Iterable[object] = _SEPARATORS.split(commands)
    elif isinstance(commands, bytes):
        raise InvalidSubmission("commands must be text (str), not bytes: decode them first")
    elif not isinstance(commands, Iterable):
        raise InvalidSubmission(
            f"commands must be a string or a list of strings, not {_short(commands)}; e.g. "
            "batch('echo one; echo two') or batch(['echo one', 'echo two'])"
        )
    else:
        parts = commands
    result = []
    for part in parts:
        if not isinstance(part, str):
            raise InvalidSubmission(
                f"each command must be a string, got {part!r}; pass a list of strings or one "
                "string separated by newlines or semicolons"
            )
        part = part.strip()
        if part:
            result.append(part)
    return result


def normalize_patterns(pattern: str | Iterable[str]) -> list[str]:
    """One pattern, or several, as a list, ``~`` expanded as a shell would (the daemon never sees it).

    Raises:
        InvalidSubmission: a pattern is not a string.
    """
    if isinstance(pattern, str):
        patterns: list[object] = [pattern]
    elif isinstance(pattern, Iterable) and not isinstance(pattern, bytes):
        patterns = list(pattern)
    else:
        raise InvalidSubmission(
            f"pattern must be a glob pattern (a string) or a list of them, not {_short(pattern)}"
        )
    out = []
    for item in patterns:
        if not isinstance(item, str):
            raise InvalidSubmission(f"a glob pattern must be a string, got {_short(item)}")
        out.append(os.path.expanduser(item) if item.startswith("~") else str(item))
    return out


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def normalize_params(params: Params) -> list[list[str]]:
    """Parameter rows for a template: strings are split on commas, values are stripped.

    Args:
        params: a list of comma-delimited strings (``["0.3 1.1, file1", ...]``) or a
            list of lists of strings (``[["0.3 1.1", "file1"], ...]``); numbers in the
            inner lists are converted with ``str()``.

    Returns:
        One list of values per row.

    Raises:
        InvalidSubmission: ``params`` is a single string, or a row or value has another type.
    """
    if params is None or not isinstance(params, Iterable):
        raise InvalidSubmission(
            f"params must be a list of rows (strings or lists of strings), not {_short(params)}"
        )
    if isinstance(params, str):
        raise InvalidSubmission(
            f"params must be a list of rows, not one string ({params[:40]!r}); "
            "wrap it in a list: [" + repr(params[:40]) + "]"
        )
    rows = []
    for row in params:
        if isinstance(row, str):  # numpy's str_ too: a 1-D array of strings is a list of rows
            rows.append([value.strip() for value in str(row).split(",")])
        elif isinstance(row, Iterable) and not isinstance(row, bytes | Mapping):
            rows.append([_param_value(value) for value in row])  # a list, tuple, or numpy row
        else:
            hint = (
                "; for one value per command give [[v] for v in values] (numpy: values.reshape(-1, 1))"
                if _is_number(row) else ""
            )
            raise InvalidSubmission(
                f"each row of params must be a comma-delimited string or a list of strings, "
                f"got {_short(row)}{hint}"
            )
    return rows


def _is_number(value: object) -> bool:
    # numpy's integer and floating types register as numbers.Number; bool is not a parameter
    return isinstance(value, numbers.Number) and not isinstance(value, bool) and type(value).__name__ != "bool_"


def _param_value(value: object) -> str:
    if isinstance(value, str):
        return str(value).strip()
    if _is_number(value):
        return str(value)
    raise InvalidSubmission(f"a template parameter must be a string, got {_short(value)}")


def chunked(
    values: Sequence[T],
    size: Callable[[T], int],
    max_items: int = MAX_CHUNK_ITEMS,
    max_bytes: int = MAX_CHUNK_BYTES,
) -> Iterator[list[T]]:
    """Consecutive slices of ``values`` of at most ``max_items`` and about ``max_bytes``."""
    chunk: list[T] = []
    total = 0
    for value in values:
        cost = size(value)
        if chunk and (len(chunk) >= max_items or total + cost > max_bytes):
            yield chunk
            chunk, total = [], 0
        chunk.append(value)
        total += cost
    if chunk:
        yield chunk


def _item_size(item: str) -> int:
    return len(item.encode()) + 4  # tag + length prefix


def _row_size(row: Sequence[str]) -> int:
    return sum(_item_size(value) for value in row) + 4


def make_chunks(
    header: pb.SubmitHeader,
    items: Sequence[str] = (),
    rows: Sequence[Sequence[str]] = (),
) -> Iterator[pb.SubmitChunk]:
    """The Submit stream: the header alone, then the items or rows in bounded chunks."""
    yield pb.SubmitChunk(header=header)
    for part in chunked(items, _item_size):
        yield pb.SubmitChunk(items=part)
    for row_part in chunked(rows, _row_size):
        yield pb.SubmitChunk(rows=[pb.ParamRow(values=row) for row in row_part])


def task_ids(reply: pb.SubmitReply) -> Sequence[int]:
    """The ids of a submission's tasks, in submission order: one run of ids, or (a large
    submission that another call's tasks joined while it was applied) the runs ``ranges`` lists."""
    if not reply.ranges:
        return range(reply.first_task_id, reply.first_task_id + reply.count)
    return [i for run in reply.ranges for i in range(run.first, run.first + run.count)]


def submit(
    conn: Connection,
    job_id: str,
    kind: pb.SubmitKind,
    mode: pb.SubmitMode,
    template: str = "",
    items: Sequence[str] = (),
    rows: Sequence[Sequence[str]] = (),
    follow: bool = False,
) -> pb.SubmitReply:
    """Send one submission with this process's working directory and environment.

    Args:
        conn: the daemon.
        job_id: the job.
        kind: PLAIN (items are commands), GLOB (items are patterns) or TEMPLATE (rows).
        mode: BATCH or STREAM.
        template: the command with ``%f%`` (GLOB) or ``%c%`` (TEMPLATE) placeholders.
        items: commands or patterns.
        rows: parameter rows.
        follow: GLOB and STREAM: the daemon keeps making tasks of new files under the patterns.

    Returns:
        The daemon's reply; its warnings have been logged to the "stratos" logger.

    Raises:
        InvalidSubmission: the working directory is gone, or the daemon cannot make
            tasks from the submission.
        JobNotFound: the job does not exist.
    """
    if not isinstance(template, str):
        raise InvalidSubmission(f"the command template must be a string, got {template!r}")
    try:
        cwd = os.getcwd()
    except FileNotFoundError:
        raise InvalidSubmission(
            "the working directory no longer exists; cd somewhere else and submit again"
        ) from None
    header = pb.SubmitHeader(
        job_id=job_id, kind=kind, mode=mode, template=template, cwd=cwd, env=dict(os.environ), follow=follow
    )
    reply = conn.submit(make_chunks(header, items, rows))
    for warning in reply.warnings:
        logger.warning("%s", warning)
    return reply

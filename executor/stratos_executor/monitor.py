"""The monitor/relauncher protocol of the usage doc.

Every ``update_interval`` seconds the monitor is called as
``monitor PID TASK_OUTPUT``, TASK_OUTPUT being
``<stdout>NEW</stdout><stderr>NEW</stderr>`` with only the output written
since the previous call. ``stratos_relaunch`` in its stdout ends the task;
the relauncher then gets the rest of the monitor's output and prints one
replacement command per line. The pure functions here are the protocol;
the coroutines run the programs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

from ._helper import HelperResult, run_helper
from ._notes import Notes
from .spec import Relaunch

RELAUNCH_KEYWORD = "stratos_relaunch"
#: Linux's limit on one exec argument, its terminating NUL included.
MAX_ARG_STRLEN = 128 << 10
#: new output kept per stream between two monitor calls: never more than one argument can carry.
NEW_OUTPUT_WINDOW = MAX_ARG_STRLEN
#: a relauncher is a short script; one that runs longer than this is killed.
RELAUNCHER_TIMEOUT = 60.0
#: update intervals below this are raised to it.
MIN_INTERVAL = 0.01

_OPEN_OUT, _CLOSE_OUT = "<stdout>", "</stdout>"
_OPEN_ERR, _CLOSE_ERR = "<stderr>", "</stderr>"


def decode_output(data: bytes) -> str:
    """Program output as text: UTF-8, undecodable bytes replaced."""
    return data.decode("utf-8", errors="replace")


def _clean(data: bytes) -> bytes:
    # NUL cannot travel in an argument; re-encoding makes the bytes valid UTF-8 for the tail cut.
    return decode_output(data.replace(b"\0", b"")).encode("utf-8")


def _tail(data: bytes, size: int) -> str:
    if len(data) > size:
        data = data[len(data) - size :]
        start = 0
        while start < len(data) and 0x80 <= data[start] <= 0xBF:  # cut inside a character
            start += 1
        data = data[start:]
    return data.decode("utf-8")


def build_task_output(stdout: bytes, stderr: bytes, *, limit: int = MAX_ARG_STRLEN - 1) -> tuple[str, bool]:
    """The TASK_OUTPUT argument, and whether it had to be cut to fit ``limit`` UTF-8 bytes.

    NUL bytes are dropped and invalid UTF-8 replaced. When both streams do
    not fit, each keeps its newest part: a stream smaller than half the room
    keeps all of it and the other gets the rest.
    """
    out, err = _clean(stdout), _clean(stderr)
    room = limit - len(_OPEN_OUT) - len(_CLOSE_OUT) - len(_OPEN_ERR) - len(_CLOSE_ERR)
    cut = len(out) + len(err) > room
    if cut:
        half = room // 2
        if len(err) <= half:
            out_room, err_room = room - len(err), len(err)
        elif len(out) <= half:
            out_room, err_room = len(out), room - len(out)
        else:
            out_room, err_room = half, room - half
    else:
        out_room, err_room = len(out), len(err)
    text = _OPEN_OUT + _tail(out, out_room) + _CLOSE_OUT + _OPEN_ERR + _tail(err, err_room) + _CLOSE_ERR
    return text, cut


def parse_monitor_output(text: str) -> tuple[bool, str]:
    """(relaunch requested?, the relauncher's argument: the output without the first keyword, stripped)."""
    if RELAUNCH_KEYWORD not in text:
        return False, ""
    return True, text.replace(RELAUNCH_KEYWORD, "", 1).strip()


def relauncher_argument(monitor_output: str, *, limit: int = MAX_ARG_STRLEN - 1) -> tuple[str, bool]:
    """The monitor's message made fit for one argument: NULs dropped, cut to its first ``limit`` bytes."""
    data = monitor_output.replace("\0", "").encode("utf-8", errors="replace")
    if len(data) <= limit:
        return data.decode("utf-8", errors="replace"), False
    return data[:limit].decode("utf-8", errors="ignore"), True


def parse_relauncher_output(text: str) -> list[str]:
    """The replacement commands: every non-empty line, stripped."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def _failure(what: str, program: str, result: HelperResult) -> str:
    code = result.returncode
    how = f"was killed by signal {-code}" if code is not None and code < 0 else f"exited with status {code}"
    text = f"{what} {program} {how}"
    last = decode_output(result.stderr_tail).strip().splitlines()
    return f"{text}: {last[-1][-300:]}" if last else text


async def monitor_loop(
    program: str,
    pid: int,
    *,
    interval: float,
    cwd: str | None,
    env: Mapping[str, str],
    take_new: Callable[[], tuple[bytes, bytes, bool]],
    running: Callable[[], bool],
    notes: Notes,
    on_output: Callable[[str], None],
) -> str | None:
    """Call the monitor every ``interval`` seconds while ``running()``.

    Returns the relauncher's argument once the monitor asks for a relaunch,
    None when monitoring stops otherwise (task gone, monitor unusable). The
    caller cancels it when the task exits; the monitor in flight is then killed.
    """
    loop = asyncio.get_running_loop()
    interval = max(interval, MIN_INTERVAL)
    next_call = loop.time() + interval
    while True:
        await asyncio.sleep(max(0.0, next_call - loop.time()))
        if not running():
            return None
        next_call = loop.time() + interval
        out, err, dropped = take_new()
        argument, cut = build_task_output(out, err)
        if dropped or cut:
            notes.add(
                "monitor input truncated: more new output than one argument can hold (Linux allows"
                " 128 KiB); the monitor was given the newest part",
                kind="monitor-input",
            )
        result = await run_helper([program, str(pid), argument], cwd=cwd, env=env, timeout=interval)
        if result.error is not None:
            notes.add(f"monitor {program} could not be started: {result.error}; monitoring stopped")
            return None
        if result.timed_out:
            notes.add(
                f"monitor {program} ran longer than update_interval ({interval:g} s) and was killed",
                kind="monitor-timeout",
            )
            continue
        text = decode_output(result.stdout)
        on_output(text)
        if result.returncode != 0:
            notes.add(_failure("monitor", program, result), kind="monitor-failed")
        relaunch, rest = parse_monitor_output(text)
        if relaunch and running():
            return rest


async def relaunch_commands(
    program: str,
    monitor_output: str,
    *,
    cwd: str | None,
    env: Mapping[str, str],
    notes: Notes,
    timeout: float = RELAUNCHER_TIMEOUT,
) -> tuple[Relaunch, list[str], str]:
    """Run ``relauncher OUTPUT_FROM_MONITOR``; its non-empty lines are the replacement commands.

    Returns (what came of it, the commands, why it failed): the core decides the task's fate
    from the outcome, so a failed relauncher is reported as such, never as "nothing to run".
    """
    argument, cut = relauncher_argument(monitor_output)
    if cut:
        notes.add("the monitor's output was too long for one argument; the relauncher got its beginning")
    result = await run_helper([program, argument], cwd=cwd, env=env, timeout=timeout)
    if result.error is not None:
        error = f"relauncher {program} could not be started: {result.error}"
    elif result.timed_out:
        error = f"relauncher {program} ran longer than {timeout:g} s and was killed"
    elif result.returncode != 0:
        error = _failure("relauncher", program, result)
        notes.add(error + "; its output was ignored, nothing relaunched")
        return Relaunch.FAILED, [], error
    else:
        commands = parse_relauncher_output(decode_output(result.stdout))
        if not commands:
            notes.add(f"relauncher {program} printed no command; nothing relaunched")
            return Relaunch.NO_COMMANDS, [], ""
        return Relaunch.REPLACED, commands, ""
    notes.add(error + "; nothing relaunched")
    return Relaunch.FAILED, [], error

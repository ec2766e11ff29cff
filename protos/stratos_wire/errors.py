"""Errors a StratOS user can act on.

Every error the daemon raises travels over gRPC as a status code plus the error's
class name in the ``stratos-error`` trailing metadata key, so the client re-raises the
same type (``from_rpc_error``). Each message says what went wrong and what to do.
This module imports no gRPC: the daemon's pure core raises these too.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BackendUnavailable",
    "DaemonStopped",
    "DaemonUnavailable",
    "HandleDetached",
    "InsufficientResources",
    "InvalidJobSpec",
    "InvalidSubmission",
    "JobIdInUse",
    "JobNotEnded",
    "JobNotFound",
    "JournalUnavailable",
    "MissingDependency",
    "PermissionDenied",
    "ProtocolMismatch",
    "StratosError",
    "TaskAlreadyEnded",
    "TaskNotFound",
    "UnknownDependency",
]

ERROR_METADATA_KEY = "stratos-error"


class StratosError(Exception):
    """Base of every StratOS error."""

    status: str = "UNKNOWN"  # the gRPC status code name


class InvalidJobSpec(StratosError, ValueError):
    """A Processor parameter (or Settings value) is invalid."""

    status = "INVALID_ARGUMENT"


class InvalidSubmission(StratosError, ValueError):
    """A submission cannot be turned into tasks (no matches, bad template, no commands)."""

    status = "INVALID_ARGUMENT"


class InsufficientResources(InvalidSubmission):
    """No host of the job's backend could ever run a task of this size."""


class JobNotFound(StratosError, LookupError):
    status = "NOT_FOUND"


class UnknownDependency(JobNotFound):
    """``after=`` names a job that does not exist: create that job first, or check its name."""


class TaskNotFound(StratosError, LookupError):
    status = "NOT_FOUND"


class TaskAlreadyEnded(StratosError):
    """A task asked to be stopped had already ended: there was nothing to kill."""

    status = "FAILED_PRECONDITION"


class JobIdInUse(StratosError):
    """The job id names a job that still has unended tasks."""

    status = "ALREADY_EXISTS"


class JobNotEnded(JobIdInUse):
    """The job still has pending or running tasks, so it cannot be removed yet."""

    status = "FAILED_PRECONDITION"


class DaemonUnavailable(StratosError, ConnectionError):
    """stratosd could not be reached or started."""

    status = "UNAVAILABLE"


class DaemonStopped(DaemonUnavailable):
    """stratosd was stopped in an orderly way (``stratosd stop``); a client does not restart it."""


class BackendUnavailable(StratosError):
    """The job's cluster (a Mesos master, Slurm) does not answer, or its tools are not installed."""

    status = "UNAVAILABLE"


class JournalUnavailable(StratosError):
    """The daemon cannot write its journal (a full disk): nothing of the request was done."""

    status = "UNAVAILABLE"


class ProtocolMismatch(StratosError):
    """Client and daemon speak different protocol versions."""

    status = "FAILED_PRECONDITION"


class PermissionDenied(StratosError, PermissionError):
    status = "PERMISSION_DENIED"


class MissingDependency(StratosError, ImportError):
    """An optional feature needs a package that is not installed; the message names the extra."""

    status = "FAILED_PRECONDITION"


class HandleDetached(StratosError):
    """A Processor left its ``with`` block (it was detached); ``Processor.attach(JOB)`` makes a new handle."""

    status = "FAILED_PRECONDITION"


_BY_NAME: dict[str, type[StratosError]] = {
    cls.__name__: cls
    for cls in (
        StratosError, InvalidJobSpec, InvalidSubmission, InsufficientResources, JobNotFound,
        TaskNotFound, JobIdInUse, DaemonUnavailable, DaemonStopped, BackendUnavailable, JournalUnavailable,
        ProtocolMismatch, PermissionDenied, JobNotEnded, TaskAlreadyEnded, UnknownDependency,
    )
}


def from_rpc_error(err: Any) -> StratosError:
    """Rebuild the typed error the daemon raised; unknown failures become DaemonUnavailable."""
    name = ""
    trailing = err.trailing_metadata() if hasattr(err, "trailing_metadata") else None
    for key, value in trailing or ():
        if key == ERROR_METADATA_KEY:
            name = value if isinstance(value, str) else value.decode()
    details = err.details() if hasattr(err, "details") else str(err)
    cls = _BY_NAME.get(name)
    if cls is not None:
        return cls(details or name)
    code = err.code() if hasattr(err, "code") else None
    code_name = getattr(code, "name", "")
    if code_name == "UNAVAILABLE":
        return DaemonUnavailable(
            f"stratosd is not reachable ({details}). Start it with `stratosd run`, or check "
            "STRATOS_SOCKET / the `socket` setting."
        )
    if code_name in ("UNAUTHENTICATED", "PERMISSION_DENIED"):
        return PermissionDenied(details or "the daemon refused the request")
    return StratosError(f"stratosd failed: {code}: {details}")

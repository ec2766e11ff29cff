"""Errors a StratOS user can act on (``except stratos.errors.JobNotFound``).

They are defined with the wire contract (``stratos_wire.errors``), which the daemon raises and
the client re-raises by name; this module is their public home.
"""

from stratos_wire.errors import (
    ERROR_METADATA_KEY,
    BackendUnavailable,
    DaemonStopped,
    DaemonUnavailable,
    HandleDetached,
    InsufficientResources,
    InvalidJobSpec,
    InvalidSubmission,
    JobIdInUse,
    JobNotEnded,
    JobNotFound,
    JournalUnavailable,
    MissingDependency,
    PermissionDenied,
    ProtocolMismatch,
    StratosError,
    TaskAlreadyEnded,
    TaskNotFound,
    UnknownDependency,
    from_rpc_error,
)

__all__ = [
    "ERROR_METADATA_KEY",
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
    "from_rpc_error",
]

"""Errors a StratOS user can act on (``except stratos.errors.JobNotFound``).

They are defined with the wire contract (``stratos_wire.errors``), which the daemon raises and
the client re-raises by name; this module is their public home and re-exports every one.
"""

from stratos_wire import errors as _wire
from stratos_wire.errors import *  # noqa: F403 - the public names are the wire contract's own
from stratos_wire.errors import ERROR_METADATA_KEY, from_rpc_error

__all__ = [*_wire.__all__, "ERROR_METADATA_KEY", "from_rpc_error"]

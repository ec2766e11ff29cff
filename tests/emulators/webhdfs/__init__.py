"""A WebHDFS namenode for tests: the files under a directory, with blocks placed on named hosts.

See ``server.WebHdfsEmulator`` (in-process) and ``python -m tests.emulators.webhdfs --help`` (CLI).
The product never imports this package.
"""

from .namespace import Datanode, Namespace, RemoteError, parse_hosts
from .server import WebHdfsEmulator

__all__ = ["Datanode", "Namespace", "RemoteError", "WebHdfsEmulator", "parse_hosts"]

"""Executor credentials that never pass through the cluster manager.

Mesos stores a task's command and environment (``/master/state``, agents' ``/state``),
Slurm a job's environment and script (its state files, ``sacct --env-vars``). So what
travels with a Mesos task or a Slurm pilot is only a **bootstrap**: a one-time secret
bound to the job (and, for a Mesos task, to its executor id). The executor trades it,
over the executor listener (TLS), for its **credential**, which it keeps in memory only.
A bootstrap is refused once spent, so the copy the cluster manager keeps is worthless
as soon as the executor started; someone who reads it first gets at most the one
executor's credential, and the real executor then fails loudly (its task is retried).

Both are HMACs under a daemon key kept in ``<state dir>/executor-key`` (0600), so they
survive a daemon restart without being stored: a credential is
``HMAC(key, "credential", job token, executor id)``. Spent bootstraps are remembered in
memory (and for a restart, in ``<state dir>/spent-bootstraps``, one nonce a line).

A shared pilot pool's pilots hold a **pool credential** instead, made the same way from the
pool's id in place of a job token (``pool_secret``): a Slurm pilot's is bound to its executor id
(it trades a bootstrap for it), a user's (`stratosctl pilot-credential`) to none, so any number
of hand-started pilots can use it. Either is good for the executor calls of that pool's jobs only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

#: a bootstrap bound to one executor id (a Mesos task) or to any executor id (a Slurm pilot).
BOUND, ANY = "b", "a"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def pool_secret(pool: str) -> str:
    """What stands for a job token in a pool's credentials and bootstraps (a job token is never this)."""
    return "pool\0" + pool


class Enrollment:
    def __init__(self, state_dir: Path) -> None:
        self._spent_path = state_dir / "spent-bootstraps"
        key_path = state_dir / "executor-key"
        try:
            self._key = bytes.fromhex(key_path.read_text().strip())
        except (OSError, ValueError):
            self._key = secrets.token_bytes(32)
            fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, self._key.hex().encode())
            finally:
                os.close(fd)
        try:
            self._spent = set(self._spent_path.read_text().split())
        except OSError:
            self._spent = set()

    def _mac(self, *parts: str) -> str:
        return _b64(hmac.new(self._key, "\0".join(parts).encode(), hashlib.sha256).digest())

    def credential(self, job_token: str, executor_id: str) -> str:
        return "c." + self._mac("credential", job_token, executor_id)

    def pool_credential(self, pool: str, executor_id: str = "") -> str:
        """A pool pilot's credential: bound to ``executor_id``, or ("") good for any pilot of the pool."""
        return self.credential(pool_secret(pool), executor_id)

    def valid_pool_credential(self, pool: str, executor_id: str, offered: str) -> bool:
        if not pool or not executor_id:
            return False
        secret = pool_secret(pool)
        return any(hmac.compare_digest(offered.encode(), self.credential(secret, who).encode())
                   for who in (executor_id, ""))

    def valid_credential(self, job_token: str, executor_id: str, offered: str) -> bool:
        return bool(executor_id) and hmac.compare_digest(offered.encode(),
                                                         self.credential(job_token, executor_id).encode())

    def bootstrap(self, job_token: str, executor_id: str | None = None) -> str:
        """A one-time secret; with ``executor_id`` only that executor may spend it."""
        nonce = secrets.token_hex(12)
        kind = BOUND if executor_id else ANY
        return f"{kind}.{nonce}.{self._mac('bootstrap', kind, job_token, nonce, executor_id or '')}"

    def redeem(self, job_token: str, executor_id: str, bootstrap: str) -> str | None:
        """The executor's credential for a valid, unspent bootstrap (which is spent now), else None."""
        kind, _, rest = bootstrap.partition(".")
        nonce, _, mac = rest.partition(".")
        if kind not in (BOUND, ANY) or not nonce or not executor_id:
            return None
        expected = self._mac("bootstrap", kind, job_token, nonce, executor_id if kind == BOUND else "")
        if not hmac.compare_digest(mac.encode(), expected.encode()) or nonce in self._spent:
            return None
        self._spent.add(nonce)
        with open(self._spent_path, "a", encoding="ascii") as f:
            f.write(nonce + "\n")
        return self.credential(job_token, executor_id)

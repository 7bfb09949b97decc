"""Keep the gateway's API token fresh: rotate it well before it expires, and write the new
one to the token file so that a restart uses it.

A gateway token expires 90 days after it was issued (``api/auth/tokens.py``). The gateway
rotates it when its token file is older than ``ROTATE_AFTER`` (the file is written only at
enrollment and at rotation, so its age is the token's), asking the ingest service with the
current token. The new token is written atomically (a temporary file, fsync, rename)
before it is used; the old one keeps working for an hour, so a crash in between only means
asking again. A refused or failed rotation changes nothing and is retried later: uploads go
on with the current token, and the spool keeps everything while a token is refused.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Protocol

logger = logging.getLogger(__name__)

ROTATE_AFTER_S = 30 * 86_400.0
RETRY_AFTER_S = 3600.0


class IssuesTokens(Protocol):
    async def new_token(self) -> str: ...
    def use_token(self, token: str) -> None: ...


def rotation_due(token_file: Path, now: float, *, rotate_after_s: float = ROTATE_AFTER_S,
                 ) -> bool:
    """Whether the token in ``token_file`` is old enough to rotate (False if unreadable)."""
    try:
        return now - token_file.stat().st_mtime >= rotate_after_s
    except OSError:
        return False


def write_token(token_file: Path, token: str) -> None:
    """Replace the token file atomically, mode 0600."""
    tmp = token_file.with_name(token_file.name + ".new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, token_file)


class TokenRotation:
    """Rotates when due, at most one attempt per ``retry_after_s`` after a failure."""

    def __init__(self, issuer: IssuesTokens, token_file: Path, *,
                 rotate_after_s: float = ROTATE_AFTER_S,
                 retry_after_s: float = RETRY_AFTER_S) -> None:
        self.issuer = issuer
        self.token_file = token_file
        self.rotate_after_s = rotate_after_s
        self.retry_after_s = retry_after_s
        self._next_try = 0.0

    async def maybe_rotate(self) -> bool:
        """Rotate if due; True if a new token is now in use."""
        now = time.time()
        if now < self._next_try or not rotation_due(self.token_file, now,
                                                    rotate_after_s=self.rotate_after_s):
            return False
        try:
            token = await self.issuer.new_token()
            write_token(self.token_file, token)
        except Exception as exc:  # a failed rotation must never stop uploads
            self._next_try = now + self.retry_after_s
            logger.warning("token rotation failed (%s); trying again in %.0f s", exc,
                           self.retry_after_s)
            return False
        self.issuer.use_token(token)
        logger.info("rotated the gateway's API token (%s)", self.token_file)
        return True

"""A lock with a lease, kept in the object store: one publish per dataset at a time, on any machine.

Why in the object store: a `/catalog publish` in one Actions job and a merge
publish in another (or a laptop) share nothing but the buckets they write
to, so that is where the lock must live.  The lock is one small JSON object
(``<dataset>/.catalog-bot/lock.json``) written with a *conditional* PUT:

- acquire: ``If-None-Match: *`` (create only if absent), or -- when the
  holder's lease has expired (a killed job) -- ``If-Match: <its ETag>`` so
  that of several waiters exactly one takes it over;
- renew: ``If-Match`` with our own ETag, from a heartbeat thread, every
  third of the lease, so a long conversion keeps it;
- release: delete, after checking the lock is still ours.

S3 and SeaweedFS evaluate both conditions atomically on the server
(``tests/test_lease.py`` races 16 writers against real SeaweedFS); the local
folder store emulates them under a file lock.  A holder that cannot renew
(its lease was taken over after a stall) is told so by :meth:`Lease.check`
before it makes anything current.
"""

from __future__ import annotations

import json
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.errors import BotError

LOCK_KEY = ".catalog-bot/lock.json"
DEFAULT_TTL = 120.0
DEFAULT_WAIT = 1800.0


class LockBusy(BotError):
    """The dataset stayed locked by another publish for longer than we were willing to wait."""


class LeaseLost(BotError):
    """Our lease expired and another publish took the lock over: stop before making anything current."""


def lock_key(dataset: str) -> str:
    """The lock object of a dataset in its object store."""
    return f"{dataset}/{LOCK_KEY}"


@dataclass
class Lease:
    """A held lock: renewed in the background until :meth:`release`."""

    store: Any
    key: str
    owner: str
    ttl: float
    tag: str
    waited: float = 0.0
    clock: Callable[[], float] = time.time
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _lost: bool = field(default=False, repr=False)
    _mutex: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def _body(self) -> bytes:
        now = self.clock()
        return json.dumps({"owner": self.owner, "acquired": now, "expires": now + self.ttl}).encode()

    def renew(self) -> bool:
        """Extend the lease (conditional on our ETag); False when it is no longer ours."""
        with self._mutex:
            if self._lost:
                return False
            current = self.store.get_versioned(self.key)
            if current is None or current[1] != self.tag:
                self._lost = True
                return False
            body = self._body()
            if not self.store.put_if(self.key, body, tag=self.tag):
                self._lost = True
                return False
            fresh = self.store.get_versioned(self.key)
            if fresh is None or json.loads(fresh[0]).get("owner") != self.owner:
                self._lost = True
                return False
            self.tag = fresh[1]
            return True

    def start_heartbeat(self) -> None:
        """Renew every third of the lease in a daemon thread."""

        def beat() -> None:
            while not self._stop.wait(self.ttl / 3):
                try:
                    if not self.renew():
                        return
                except BotError:
                    continue  # a transient store fault: the next beat tries again within the lease

        self._thread = threading.Thread(target=beat, name=f"lease-{self.key}", daemon=True)
        self._thread.start()

    def check(self) -> None:
        """Raise :class:`LeaseLost` when the lock is no longer ours (call before making a version current)."""
        if self._lost or not self.renew():
            raise LeaseLost(
                f"the publish lock {self.key} was taken over by another publish (our lease expired)",
                hint="publish the dataset again; nothing was made current by this run after the takeover",
            )

    def release(self) -> None:
        """Stop renewing and delete the lock if it is still ours."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._mutex:
            current = self.store.get_versioned(self.key)
            if current is not None and current[1] == self.tag:
                self.store.delete([self.key])

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def default_owner() -> str:
    """Who holds a lock, for messages: host, process and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def acquire(
    store: Any,
    dataset: str,
    *,
    owner: str | None = None,
    ttl: float = DEFAULT_TTL,
    wait: float = DEFAULT_WAIT,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    heartbeat: bool = True,
) -> Lease:
    """Take the dataset's lock, waiting (with jittered backoff) while another live lease holds it."""
    key = lock_key(dataset)
    me = owner or default_owner()
    started = clock()
    delay = 0.2
    while True:
        now = clock()
        body = json.dumps({"owner": me, "acquired": now, "expires": now + ttl}).encode()
        current = store.get_versioned(key)
        holder: dict[str, Any] = {}
        if current is None:
            won = store.put_if(key, body, tag=None)
        else:
            try:
                holder = json.loads(current[0])
            except ValueError:
                holder = {}
            expired = float(holder.get("expires") or 0) < now
            won = expired and store.put_if(key, body, tag=current[1])
        if won:
            fresh = store.get_versioned(key)
            if fresh is not None and json.loads(fresh[0]).get("owner") == me:
                lease = Lease(store, key, me, ttl, fresh[1], waited=clock() - started, clock=clock)
                if heartbeat:
                    lease.start_heartbeat()
                return lease
        if clock() - started > wait:
            raise LockBusy(
                f"{dataset} is being published by {holder.get('owner', 'another run')} "
                f"(lock {key}, lease until {time.strftime('%H:%M:%S', time.gmtime(float(holder.get('expires') or 0)))}"
                " UTC)",
                hint="wait for that publish to finish; a crashed holder's lock expires by itself",
            )
        sleep(delay * (0.5 + random.random()))
        delay = min(delay * 2, 5.0)

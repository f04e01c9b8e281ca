"""Run one reconcile per search at a time, coalescing triggers, with delayed requeues.

Why: kopf calls our handlers for HyperSearch and Pod events independently, possibly at once for
the same search. Each trigger here either starts a run or, when one is in flight, marks the
search dirty so that exactly one more run follows it: every event is seen, none waits behind a
queue of identical runs, and two reconciles of one search never race (which could overshoot
the parallelism cap). Requeues (``call_later``) keep only the earliest deadline per search.

asyncio only, single event loop: no locks needed. Must not know what a reconcile does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeAlias

log = logging.getLogger("hypersearch.operator")

Key: TypeAlias = tuple[str, str]
"""(namespace, name) of a HyperSearch."""
Work: TypeAlias = Callable[[Key], Awaitable[float | None]]


class Scheduler:
    """``trigger(key)`` runs ``work(key)`` soon; ``work`` returns seconds until the next look."""

    def __init__(self, work: Work):
        self._work = work
        self._running: set[Key] = set()
        self._dirty: set[Key] = set()
        self._timers: dict[Key, tuple[float, asyncio.TimerHandle]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def trigger(self, key: Key) -> None:
        """Reconcile ``key`` now, or right after the run in flight."""
        if key in self._running:
            self._dirty.add(key)
            return
        self._running.add(key)
        task = asyncio.get_running_loop().create_task(self._run(key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def forget(self, key: Key) -> None:
        """Drop a pending requeue (the object is gone)."""
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer[1].cancel()

    @property
    def waiting(self) -> int:
        """Requeues pending (one per search at most; ``forget`` drops a deleted search's)."""
        return len(self._timers)

    @property
    def idle(self) -> bool:
        """Nothing running and nothing dirty (tests wait for this)."""
        return not self._running and not self._dirty

    async def _run(self, key: Key) -> None:
        try:
            while True:
                self._dirty.discard(key)
                delay = await self._work(key)
                if delay is not None:
                    self._schedule(key, delay)
                if key not in self._dirty:
                    return
        finally:
            self._running.discard(key)

    def _schedule(self, key: Key, delay: float) -> None:
        loop = asyncio.get_running_loop()
        when = loop.time() + delay
        existing = self._timers.get(key)
        if existing is not None:
            if existing[0] <= when and not existing[1].cancelled():
                return
            existing[1].cancel()
        handle = loop.call_later(delay, self._fire, key)
        self._timers[key] = (when, handle)

    def _fire(self, key: Key) -> None:
        self._timers.pop(key, None)
        self.trigger(key)

    async def close(self) -> None:
        """Cancel timers and wait for runs in flight."""
        for _, handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

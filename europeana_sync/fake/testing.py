"""Time stand-ins for tests of code that waits: nothing really sleeps, waits are recorded.

``ManualClock`` and its ``sleep`` move time forward together, so the HTTP layer's total
time budget behaves exactly as in production while a test asserts the waits it chose.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from ..http import RetryingSession, RetryPolicy


@dataclass
class ManualClock:
    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)

    def advance(self, seconds: float) -> None:
        self.now += seconds

    @property
    def slept(self) -> float:
        return sum(self.sleeps)


def instant_session(clock: ManualClock, **policy: float | int) -> RetryingSession:
    """A :class:`RetryingSession` that never really sleeps, with short timeouts for loopback.

    ``policy`` overrides :class:`RetryPolicy` fields (e.g. ``max_attempts=3``).
    """
    settings: dict[str, float | int] = {"connect_timeout": 2.0, "read_timeout": 5.0}
    settings.update(policy)
    return RetryingSession(
        RetryPolicy(**settings),
        sleep=clock.sleep,
        clock=clock,  # type: ignore[arg-type]  # a ManualClock is called like time.monotonic
        rng=random.Random(7),
    )

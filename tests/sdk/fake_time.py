"""A clock that only sleeping moves, so retry schedules can be checked without waiting."""

from __future__ import annotations

from modelgates import ModelGates


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)

    def install(self, mg: ModelGates) -> FakeTime:
        mg.core._clock = self.clock
        mg.core._sleep = self.sleep
        mg.core._async_sleep = self.async_sleep
        mg.core._rand = lambda: 0.0  # no jitter: schedules become exact
        return self

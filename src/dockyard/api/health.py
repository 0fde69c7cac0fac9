"""Healthchecks: engine/health.py's state machine run on the daemon's event loop, probing through
the engine's exec (a forked exec monitor per probe, as Docker runs one exec per probe)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from dockyard.errors import DockyardError


def starter(engine: Any) -> Callable[[Any], Any]:
    loop = asyncio.get_running_loop()

    def start(c: Any) -> Any:
        from dockyard.engine import health
        from dockyard.engine.config import Config

        try:
            check = health.effective_healthcheck(Config.read(c.config, "Config"))
        except NotImplementedError:
            return None
        if check is None:
            return None

        async def probe(argv: list[str], timeout: float) -> health.ProbeResult:
            try:
                code, output = await loop.run_in_executor(None, engine.execs.run, c.id, argv, timeout)
            except DockyardError as err:
                return health.ProbeResult(-1, str(err))
            if code == -1:
                return health.ProbeResult(-1, f"Health check exceeded timeout ({timeout:g}s)")
            return health.ProbeResult(code, output.decode("utf-8", "replace"))

        def on_change(h: Any) -> None:
            engine.set_health(c.id, h.to_json())

        previous = health.Health.from_json(c.state.health) if c.state.health else None
        monitor = health.HealthMonitor(check, probe, shell=c.config.get("Shell"), on_change=on_change,
                                       health=previous)
        engine.set_health(c.id, monitor.health.to_json())
        task = asyncio.run_coroutine_threadsafe(monitor.run(), loop)

        class Handle:
            def stop(self) -> None:
                with contextlib.suppress(Exception):
                    monitor.stop()
                task.cancel()

        return Handle()

    return start

"""The HTTP side of every service, in the same process as its consumers:
`/metrics`, `/health/live`, `/health/ready`, plus routes a service adds (prefix matched)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from shared.metrics import DEPENDENCY_UP, SERVICE_READY

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Check = Callable[[], Awaitable[bool]]


async def send_response(send: Send, status: int, body: bytes,
                        content_type: str = "application/json") -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type.encode()),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def send_json(send: Send, status: int, payload: Any) -> None:
    await send_response(send, status, json.dumps(payload, ensure_ascii=False).encode())


class Readiness:
    """Ready only after start-up finished and while every dependency answers."""

    def __init__(self, service: str, checks: dict[str, Check], timeout: float = 2.0) -> None:
        self.service = service
        self.checks = checks
        self.timeout = timeout
        self.started = False

    async def status(self) -> tuple[bool, dict[str, bool]]:
        async def run(check: Check) -> bool:
            try:
                return bool(await asyncio.wait_for(check(), self.timeout))
            except Exception:
                return False

        names = list(self.checks)
        results = await asyncio.gather(*(run(self.checks[n]) for n in names))
        detail = dict(zip(names, results, strict=True))
        for name, up in detail.items():
            DEPENDENCY_UP.labels(self.service, name).set(1 if up else 0)
        ready = self.started and all(results)
        SERVICE_READY.labels(self.service).set(1 if ready else 0)
        return ready, detail


class ServiceHttp:
    """ASGI front: health and metrics here, routes by path prefix, the rest to `inner`
    (FastStream's ASGI app, which also owns the lifespan that starts the broker)."""

    def __init__(self, inner: ASGIApp, readiness: Readiness,
                 routes: dict[str, ASGIApp] | None = None) -> None:
        self.inner = inner
        self.readiness = readiness
        self.routes = routes or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.inner(scope, receive, send)
            return
        path = scope["path"]
        if path == "/health/live":
            await send_json(send, 200, {"status": "alive", "service": self.readiness.service})
        elif path == "/health/ready":
            ready, detail = await self.readiness.status()
            await send_json(send, 200 if ready else 503,
                            {"ready": ready, "started": self.readiness.started, **detail})
        elif path == "/metrics":
            await send_response(send, 200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST)
        else:
            for prefix, app in self.routes.items():
                if path.startswith(prefix):
                    await app(scope, receive, send)
                    return
            await send_json(send, 404, {"error": "not_found"})

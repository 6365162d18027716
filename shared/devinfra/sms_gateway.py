"""A real HTTP server playing the SMS gateway of CONTRACT.md section 7, for the demo and
tests: it keeps every accepted message and can be told which statuses to answer."""

from __future__ import annotations

import json
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from shared.devinfra.launcher import free_port


class SmsGatewayServer:
    def __init__(self, token: str | None = None) -> None:
        self.port = free_port()
        self.token = token
        self.accepted: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.scripted: deque[int] = deque()  # statuses to answer before accepting again
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/sms"

    @property
    def env(self) -> dict[str, str]:
        env = {"LAPOR_SMS_GATEWAY_URL": self.url}
        if self.token:
            env["LAPOR_SMS_GATEWAY_TOKEN"] = self.token
        return env

    def answer(self, *statuses: int) -> None:
        with self.lock:
            self.scripted.extend(statuses)

    def start(self) -> SmsGatewayServer:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                authorised = (gateway.token is None or self.headers.get("Authorization")
                              == f"Bearer {gateway.token}")
                with gateway.lock:
                    gateway.requests.append(body)
                    status = gateway.scripted.popleft() if gateway.scripted else 202
                    if not authorised:
                        status = 401
                    if 200 <= status < 300:
                        gateway.accepted.append(body)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"ok": %s}' % (b"true" if status < 300 else b"false"))

            def log_message(self, *args: Any) -> None:  # keep numbers out of logs
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def to(self, number: str) -> list[dict[str, Any]]:
        with self.lock:
            return [m for m in self.accepted if m.get("to") == number]

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> SmsGatewayServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

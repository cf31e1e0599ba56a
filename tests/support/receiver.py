"""A webhook receiver on loopback: a real HTTP peer that records every request."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    raw: bytes

    received_at: float = 0.0

    @property
    def event(self) -> str:
        return self.body.get("event", "")


@dataclass
class WebhookReceiver:
    server: ThreadingHTTPServer
    requests: list[Received] = field(default_factory=list)
    # path -> answers in turn (the last one repeats): a status code, or (code, headers)
    answers: dict[str, list[int | tuple[int, dict[str, str]]]] = field(default_factory=dict)
    condition: threading.Condition = field(default_factory=threading.Condition)

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def record(self, received: Received) -> tuple[int, dict[str, str]]:
        with self.condition:
            self.requests.append(received)
            self.condition.notify_all()
            answers = self.answers.get(received.path)
            if not answers:
                return 200, {}
            answer = answers.pop(0) if len(answers) > 1 else answers[0]
            return answer if isinstance(answer, tuple) else (answer, {})

    def matching(self, predicate: Callable[[Received], bool]) -> list[Received]:
        with self.condition:
            return [r for r in self.requests if predicate(r)]

    def wait_for(
        self, predicate: Callable[[Received], bool], count: int = 1, timeout: float = 15
    ) -> list[Received]:
        deadline = time.monotonic() + timeout
        with self.condition:
            while True:
                found = [r for r in self.requests if predicate(r)]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [(r.path, r.event) for r in self.requests][-10:]
                    raise AssertionError(f"waited {timeout}s for {count} webhook(s); last: {seen}")
                self.condition.wait(left)

    def events_for(self, kickoff_id: str) -> list[Received]:
        return self.matching(lambda r: r.body.get("kickoff_id") == kickoff_id)


def start_receiver(port: int = 0) -> WebhookReceiver:
    holder: dict[str, WebhookReceiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length", 0)))
            try:
                body = json.loads(raw)
            except ValueError:
                body = {}
            headers = {k.lower(): v for k, v in self.headers.items()}
            received = Received(self.path, headers, body, raw, time.monotonic())
            code, extra = holder["receiver"].record(received)
            self.send_response(code)
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    receiver = WebhookReceiver(server)
    holder["receiver"] = receiver
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return receiver

"""A fake OpenAI-compatible server on loopback: a real HTTP peer that records every request
and answers from a script (status, body) or with a default completion."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class ModelServer:
    server: ThreadingHTTPServer
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    script: list[tuple[int, dict[str, Any], dict[str, str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def answer(self, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self.lock:
            self.requests.append(body)
            if self.script:
                return self.script.pop(0)
            number = len(self.requests)
        content = f"Completion {number} for: {body['messages'][-1]['content'][:60]}"
        return 200, completion(content, prompt=100 + number, completion_tokens=10), {}

    def for_subject(self, subject: str) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.requests if subject in json.dumps(r)]


def completion(content: str, prompt: int = 100, completion_tokens: int = 10) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "model": "test-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt + completion_tokens,
        },
    }


def start_model_server() -> ModelServer:
    holder: dict[str, ModelServer] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length", 0)))
            model = holder["server"]
            with model.lock:
                model.headers.append({k.lower(): v for k, v in self.headers.items()})
            status, body, extra = model.answer(json.loads(raw))
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    model = ModelServer(server)
    holder["server"] = model
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return model

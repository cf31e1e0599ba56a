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
    # (request, answer) for every request answered 200
    served: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)

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
        if REFUSE in json.dumps(body):
            # Echoing the key, as some endpoints do: the service must not repeat it.
            with self.lock:
                key = self.headers[-1].get("authorization", "").removeprefix("Bearer ")
            refused = {"error": {"message": f"Incorrect API key provided: {key}"}}
            return 401, refused, {}
        if body.get("tools") and not any(m.get("role") == "tool" for m in body["messages"]):
            # An agent with tools: first ask for the first tool, then answer with its result.
            return 200, tool_call(body["tools"][0], number), {}
        content = f"Completion {number} for: {body['messages'][-1]['content'][:60]}"
        return 200, completion(content, prompt=100 + number, completion_tokens=10), {}

    def for_subject(self, subject: str) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.requests if subject in json.dumps(r)]

    def tokens_for(self, subject: str) -> int:
        """Total tokens of the answers to requests that mention `subject`."""
        with self.lock:
            return sum(
                answer["usage"]["total_tokens"]
                for request, answer in self.served
                if subject in json.dumps(request)
            )


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


TOOL_ARGUMENT = "bees dance to point at flowers"
# A request that mentions this is answered 401, as an endpoint refusing the key would.
REFUSE = "refuse-this-key"


def tool_call(tool: dict[str, Any], number: int) -> dict[str, Any]:
    """A completion asking for `tool`, with every parameter of its schema filled in."""
    function = tool["function"]
    properties = function.get("parameters", {}).get("properties", {})
    arguments = {name: TOOL_ARGUMENT for name in properties}
    call = {
        "id": f"call_{number}",
        "type": "function",
        "function": {"name": function["name"], "arguments": json.dumps(arguments)},
    }
    body = completion("", prompt=200 + number, completion_tokens=20)
    body["choices"][0]["message"] = {"role": "assistant", "content": None, "tool_calls": [call]}
    body["choices"][0]["finish_reason"] = "tool_calls"
    return body


def start_model_server() -> ModelServer:
    holder: dict[str, ModelServer] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length", 0)))
            model = holder["server"]
            with model.lock:
                model.headers.append({k.lower(): v for k, v in self.headers.items()})
            request = json.loads(raw)
            status, body, extra = model.answer(request)
            if status == 200:
                with model.lock:
                    model.served.append((request, body))
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

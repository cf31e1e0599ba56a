"""The API keeps an idle connection open longer than HTTP clients do (httpx drops one idle for
5 s), so a client's request on a reused connection never meets a server that just closed it."""

from __future__ import annotations

import socket
import time

from support import TOKEN


def ask_for_unknown_run(connection: socket.socket, host: str) -> bytes:
    connection.sendall(
        f"GET /status/no-such-run HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Bearer {TOKEN}\r\n\r\n".encode()
    )
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = connection.recv(65536)
        if not chunk:
            return answer
        answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += connection.recv(65536)
    return head


def test_a_connection_idle_longer_than_clients_keep_one_is_still_open(stack):
    host, port = stack.settings.api_host, stack.settings.api_port
    with socket.create_connection((host, port), timeout=10) as connection:
        assert ask_for_unknown_run(connection, host).startswith(b"HTTP/1.1 404")
        time.sleep(6.5)  # past httpx's 5 s and the 5 s uvicorn closes at by default
        assert ask_for_unknown_run(connection, host).startswith(b"HTTP/1.1 404")

"""A fake OpenAI-compatible chat endpoint on localhost, in a thread, for the judge tests.

`behaviour(request_number, body) -> (status, reply)` decides each answer: a status code and the
reply text (wrapped as a chat completion), or raw bytes sent as they are, or None to hang.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = tuple[int, str | bytes | None]
Behaviour = Callable[[int, dict[str, Any]], Reply]
HANG_S = 5.0  # longer than any timeout the tests use


class FakeJudge:
    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.requests: list[dict[str, Any]] = []  # body and headers of every POST
        self.lock = threading.Lock()
        self.base_url = ""


def _handler(judge: FakeJudge) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with judge.lock:
                number = len(judge.requests)
                judge.requests.append(
                    {"path": self.path, "body": body, "headers": dict(self.headers)}
                )
            status, reply = judge.behaviour(number, body)
            if reply is None:
                time.sleep(HANG_S)
                return
            raw = (
                reply
                if isinstance(reply, bytes)
                else json.dumps(
                    {"choices": [{"message": {"role": "assistant", "content": reply}}]}
                ).encode()
            )
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *args: Any) -> None:  # keep test output quiet
            pass

    return Handler


@contextmanager
def fake_judge(behaviour: Behaviour) -> Iterator[FakeJudge]:
    """Serve `behaviour` on a free localhost port for the duration of the block."""
    judge = FakeJudge(behaviour)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(judge))
    server.daemon_threads = True
    server.block_on_close = False  # a hanging handler must not hold up the test's exit
    judge.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield judge
    finally:
        server.shutdown()
        server.server_close()


def prefers_good(number: int, body: dict[str, Any]) -> Reply:
    """A sensible judge: picks the answer that contains the word 'good'."""
    prompt = body["messages"][-1]["content"]
    answer_a = prompt.split("Answer A:\n")[1].split("\n\nAnswer B:")[0]
    return 200, "A" if "good" in answer_a else "B"

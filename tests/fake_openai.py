"""A real OpenAI-compatible HTTP server on 127.0.0.1 for the judge tests (http.server in a
thread). Its behaviour per request is chosen by a marker in the prediction text
("Ours: ... [marker]") and counted per (prediction, dimension), so a test can script good,
malformed and failing answers and check exactly what was sent."""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DIM_SCORES = {"Reasonability": 0.8, "Detail": 0.6, "Consistency": 0.4}


class FakeOpenAI:
    def __init__(self, api_key: str = "test-key", delay: float = 0.0, echo_auth: bool = False) -> None:
        self.api_key = api_key
        self.delay = delay
        self.echo_auth = echo_auth  # a leaky proxy: error messages quote the Authorization header
        self.requests: list[dict] = []
        self.calls: dict[tuple[str, str], int] = {}
        self.inflight = 0
        self.max_inflight = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server._lock:
                    server.inflight += 1
                    server.max_inflight = max(server.max_inflight, server.inflight)
                try:
                    if server.delay:
                        time.sleep(server.delay)
                    status, payload, headers = server.respond(self.path, self.headers.get("Authorization", ""), body)
                    if server.echo_auth and status >= 400:
                        payload["error"]["message"] += f" (received {self.headers.get('Authorization', '')})"
                finally:
                    with server._lock:
                        server.inflight -= 1
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.max_inflight = 0

    # ---- behaviour ----

    def respond(self, path: str, auth: str, body: dict):
        with self._lock:
            self.requests.append(body)
        if path != "/v1/chat/completions":
            return 404, {"error": {"message": f"no route {path}"}}, {}
        if auth != f"Bearer {self.api_key}":
            return 401, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}}, {}
        user = body["messages"][-1]["content"]
        dim = re.search(r"only as a (\w+) score", user).group(1)
        ours = re.search(r"Ours: (.*)", user).group(1)
        marker = re.search(r"\[(\w+)\]", ours)
        marker = marker.group(1) if marker else "good"
        with self._lock:
            n = self.calls[(ours, dim)] = self.calls.get((ours, dim), 0) + 1
        score = DIM_SCORES[dim]
        if marker == "good":
            return self._answer(body, f"{{'score': {score}}}")
        if marker == "fenced":
            return self._answer(body, f'```json\n{{"score": {score}}}\n```')
        if marker == "prose":
            return self._answer(body, f"Sure. Considering everything, the {dim} score: {score}.")
        if marker == "flaky":  # unparseable once, then fine
            return self._answer(body, "I cannot decide." if n == 1 else f"{{'score': {score}}}")
        if marker == "bad":
            return self._answer(body, "Great answer! Very detailed.")
        if marker == "outofrange":
            return self._answer(body, "{'score': 7}")
        if marker == "err500":  # server error twice, then fine
            if n <= 2:
                return 500, {"error": {"message": "boom", "type": "server_error"}}, {}
            return self._answer(body, f"{{'score': {score}}}")
        if marker == "ratelimited":
            if n == 1:
                return 429, {"error": {"message": "slow down", "type": "rate_limit"}}, {"Retry-After": "0"}
            return self._answer(body, f"{{'score': {score}}}")
        if marker == "down":
            return 503, {"error": {"message": "unavailable"}}, {}
        raise AssertionError(f"unknown marker {marker}")

    def _answer(self, body: dict, text: str):
        return 200, {
            "id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 7, "total_tokens": 107},
        }, {}

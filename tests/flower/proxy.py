"""A loopback TCP proxy that records the bytes each side sends (capture tests)."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections import defaultdict


class CaptureProxy:
    """Listens on 127.0.0.1:``port`` and forwards to 127.0.0.1:``target``, recording traffic.

    ``upstream[label]`` holds what clients sent (SuperNode -> SuperLink) while ``label`` was
    current; ``downstream[label]`` what came back.
    """

    def __init__(self, target: int) -> None:
        self.target = target
        self.label = "start"
        self.upstream: dict[str, bytearray] = defaultdict(bytearray)
        self.downstream: dict[str, bytearray] = defaultdict(bytearray)
        self._lock = threading.Lock()
        self._server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(64)
        self.port = self._server.getsockname()[1]
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                client.close()
                continue
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, up: bool) -> None:
        try:
            while data := src.recv(65536):
                with self._lock:
                    (self.upstream if up else self.downstream)[self.label].extend(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    def close(self) -> None:
        self._stop = True
        self._server.close()

"""Whether a loopback port is free: asked by `init` when it hands out ports and by the
node's preflight before it starts (a module of its own so neither imports the other)."""

from __future__ import annotations

import socket

__all__ = ["port_free"]


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True

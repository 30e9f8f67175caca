"""Whether a port is free: asked by `init` when it hands out ports and by the node's
preflight before it starts (a module of its own so neither imports the other)."""

from __future__ import annotations

import errno
import socket

__all__ = ["LOOPBACK", "foreign_host", "port_free"]

LOOPBACK = "127.0.0.1"


def port_free(port: int, host: str = LOOPBACK) -> bool:
    """Whether a server could listen on `port` at `host` (default loopback; "0.0.0.0":
    every address of this host; a name: every address it resolves to), so a port in use
    on the address a node listens on is found before it starts, not when its server fails.

    On loopback any bind error counts as in use. Elsewhere only 'address in use' does: a
    host that cannot be resolved, or an address that is not this host's, is for the
    server's own start to report, which says so."""
    if host == LOOPBACK:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((LOOPBACK, port))
            except OSError:
                return False
        return True
    try:
        infos = socket.getaddrinfo(host.strip("[]") or None, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError):
        return True
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    return False
    return True


def foreign_host(host: str) -> str | None:
    """Why a server of this host could not listen on `host` now (it names no address of
    this host, or cannot be resolved), or None when it could. Not a refusal by itself: an
    address may come later (a floating service address), so callers warn."""
    if host.strip("[]") in ("", "0.0.0.0", "::", LOOPBACK, "localhost"):
        return None
    try:
        infos = socket.getaddrinfo(host.strip("[]"), 0, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError):
        return f"{host} cannot be resolved here"
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as s:
            try:
                s.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRNOTAVAIL:
                    continue
            return None
    return f"{host} is not an address of this host"

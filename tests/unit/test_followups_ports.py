"""`port_free(port, host)`: a port in use on the address a node's API listens on (not
loopback) is found by the start's checks, not when the API server fails to bind."""

from __future__ import annotations

import socket

from consortium.network.ports import port_free

ELSEWHERE = "127.0.0.2"  # Linux routes all of 127/8 to lo: an address that is not 127.0.0.1


def test_a_port_in_use_on_the_given_host_is_not_free() -> None:
    with socket.socket() as listener:
        listener.bind((ELSEWHERE, 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert port_free(port)  # loopback's 127.0.0.1: free there
        assert not port_free(port, ELSEWHERE)
        assert not port_free(port, "0.0.0.0")  # every address: this one too
        assert port_free(port, "127.0.0.3")
    assert port_free(port, ELSEWHERE)


def test_a_host_that_is_not_this_ones_is_left_to_the_server_to_report() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert port_free(port, "192.0.2.1")  # TEST-NET: not an address of this host

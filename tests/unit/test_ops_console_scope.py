"""The console's CSV import check (`POST /console/invoices/check`) writes nothing: it needs
the `read` scope, as the page it serves does, not `admin` (an invoice clerk's token is a
`submit` one). Other POST routes off JSON-RPC still need `admin`."""

from __future__ import annotations

from consortium.api.auth import SCOPES, needed_for_route


def test_the_csv_check_needs_only_read() -> None:
    assert needed_for_route("POST", "/console/invoices/check") == "read"
    assert SCOPES.index("read") < SCOPES.index("submit")  # a submit token covers it too
    # only that route, only as a POST
    assert needed_for_route("POST", "/console/invoices/check/x") == "admin"
    assert needed_for_route("POST", "/console/invoices") == "admin"
    assert needed_for_route("DELETE", "/console/invoices/check") == "admin"

"""A service's surface declared once (`consortium.apps.surface`) and served by
`consortium.api.service_surface`: parameters parsed with one message per bad value on every
transport, filter objects, and the OpenAPI paths built from the declaration. (The registry's
routes and methods answered exactly as their hand-written predecessors, call by call, when
they were replaced; tests/unit/test_registry_api.py keeps testing them end to end.)"""

from __future__ import annotations

import re
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from consortium.api.encoding import Params
from consortium.api.rpc_error import InvalidParams
from consortium.api.service_surface import openapi_paths, rest_routes, rpc_handlers, rpc_mixin
from consortium.apps.registry.surface import REGISTRY
from consortium.apps.surface import (
    ACCOUNT,
    AMOUNT,
    FLAG,
    ID,
    BadValue,
    Param,
    Read,
    Service,
    choice,
)


class FakeReader:
    def __init__(self, _call: Any, _logs: Any) -> None:
        pass

    def things(self, **filters: Any) -> list[Any]:
        return [filters]

    def thing(self, thing_id: int, depth: int = 10) -> Any:
        return None if thing_id > 5 else {"id": thing_id, "depth": depth}


THINGS = Service("things", "Things", FakeReader, (
    Read("things", "Things", rpc="x_things", rest="/things", filters=(
        Param("owner", ACCOUNT, "its owner"), Param("state", choice(("new", "old")), "state"),
        Param("kind", ID, "its kind", arg="kind_id"))),
    Read("thing", "One thing", rpc="x_thing", rest="/things/{id}",
         params=(Param("id", ID), Param("depth", ID, "how deep", default=10)),
         nullable=True, noun="thing"),
))


def test_kinds_parse_every_transport_s_values_with_one_message() -> None:
    assert ID.parse(7, "id") == 7 and ID.parse(" 7 ", "id") == 7
    for bad in (0, -1, True, "x", 2**256, None, 1.5):
        with pytest.raises(BadValue, match="id: expected an id"):
            ID.parse(bad, "id")
    assert ACCOUNT.parse("0x" + "AB" * 20, "a") == "0x" + "ab" * 20
    with pytest.raises(BadValue, match="a: expected a 0x account address"):
        ACCOUNT.parse("0x12", "a")
    with pytest.raises(BadValue, match="s: one of new, old"):
        choice(("new", "old")).parse("lost", "s")


def test_one_parser_of_whole_numbers_and_of_flags() -> None:
    """AMOUNT (and securities' COUNT) read JSON integers and decimal or 0x text; FLAG reads
    a boolean or the text of one (a REST query key)."""
    for given, want in ((5, 5), ("5", 5), (" 12 ", 12), ("0100", 100), ("0x10", 16), (0, 0)):
        assert AMOUNT.parse(given, "n") == want
    for bad in (-1, "-3", 1.5, True, "x", "0xzz", None):
        with pytest.raises(BadValue, match="n: expected an amount"):
            AMOUNT.parse(bad, "n")
    assert FLAG.parse(True, "f") is True and FLAG.parse("false", "f") is False
    with pytest.raises(BadValue, match="f: expected true or false"):
        FLAG.parse("yes", "f")


def test_json_rpc_handlers_parse_params_and_filters() -> None:
    handlers = rpc_handlers((THINGS,))
    ledger: Any = object()
    owner = "0x" + "11" * 20
    assert handlers["x_things"](ledger, Params([{"owner": owner, "kind": "3"}], "x_things")) \
        == [{"owner": owner, "kind_id": 3}]
    assert handlers["x_thing"](ledger, Params([9], "x_thing")) is None
    for params, says in [([{"colour": 1}], "unknown filter 'colour'"),
                         (["all"], "expected a filter object (owner, state, kind)"),
                         ([{"state": "lost"}], "params[0].state: one of new, old"),
                         ([{}, 1], "too many arguments")]:
        with pytest.raises(InvalidParams, match=re.escape(says)):
            handlers["x_things"](ledger, Params(params, "x_things"))
    with pytest.raises(InvalidParams, match="missing value"):
        handlers["x_thing"](ledger, Params([], "x_thing"))
    mixin, table = rpc_mixin((THINGS,))
    assert table == {"x_things": "read_x_things", "x_thing": "read_x_thing"}
    holder = type("Api", (mixin,), {"ledger": ledger})()
    assert holder.read_x_thing(Params([2], "x_thing")) == {"id": 2, "depth": 10}
    assert holder.read_x_thing(Params([2, 3], "x_thing")) == {"id": 2, "depth": 3}
    assert holder.read_x_thing(Params([2, None], "x_thing")) == {"id": 2, "depth": 10}


def test_rest_routes_take_path_and_query_parameters() -> None:
    async def run_sync(fn: Any) -> Any:
        return fn()

    http = TestClient(Starlette(routes=rest_routes(THINGS, object(), run_sync)))  # type: ignore[arg-type]
    assert http.get("/api/v1/things/things/2").json() == {"id": 2, "depth": 10}
    assert http.get("/api/v1/things/things/2?depth=4").json() == {"id": 2, "depth": 4}
    assert http.get("/api/v1/things/things/9").status_code == 404
    assert http.get("/api/v1/things/things/9").json() == {"error": "thing not found"}
    bad = http.get("/api/v1/things/things/2?depth=x")
    assert (bad.status_code, bad.json()) == (400, {"error": "depth: expected an id (a positive "
                                                            "integer)"})
    assert http.get("/api/v1/things/things?kind=3").json() == [{"kind_id": 3}]
    assert http.get("/api/v1/things/things?colour=red").status_code == 400


def test_openapi_paths_come_from_the_declaration() -> None:
    paths = openapi_paths(THINGS)
    assert set(paths) == {"/api/v1/things/things", "/api/v1/things/things/{id}"}
    listing = paths["/api/v1/things/things"]["get"]
    assert [p["name"] for p in listing["parameters"]] == ["owner", "state", "kind"]
    assert listing["parameters"][1]["schema"] == {"type": "string", "enum": ["new", "old"]}
    one = paths["/api/v1/things/things/{id}"]["get"]
    assert [(p["name"], p["in"]) for p in one["parameters"]] == [("id", "path"), ("depth", "query")]
    assert "404" in one["responses"]
    assert "404" not in listing["responses"]
    registry = openapi_paths(REGISTRY)
    assert set(registry) == {"/api/v1/registry/classes", "/api/v1/registry/classes/{ref}",
                             "/api/v1/registry/assets", "/api/v1/registry/assets/{id}"}


def test_parameters_the_path_does_not_name_are_query_keys() -> None:
    """A required positional parameter the REST path does not name is a query key, refused
    when missing with its kind's message (JSON-RPC: positional as ever)."""

    class Checker:
        def __init__(self, _call: Any, _logs: Any) -> None:
            pass

        def check(self, src: str, dest: str, amount: int = 0) -> Any:
            return [src[:4], dest[:4], amount]

    checks = Service("checks", "Checks", Checker, (
        Read("check", "A check", rpc="x_check", rest="/check", params=(
            Param("from", ACCOUNT), Param("to", ACCOUNT), Param("amount", ID, default=0))),))
    one, two = "0x" + "11" * 20, "0x" + "22" * 20

    async def run_sync(fn: Any) -> Any:
        return fn()

    http = TestClient(Starlette(routes=rest_routes(checks, object(), run_sync)))  # type: ignore[arg-type]
    assert http.get(f"/api/v1/checks/check?from={one}&to={two}&amount=3").json() == [
        "0x11", "0x22", 3]
    assert http.get(f"/api/v1/checks/check?to={two}&from={one}").json() == ["0x11", "0x22", 0]
    missing = http.get(f"/api/v1/checks/check?from={one}")
    assert (missing.status_code, missing.json()) == (
        400, {"error": "to: expected a 0x account address"})
    assert rpc_handlers((checks,))["x_check"](object(), Params([one, two], "x_check")) == [  # type: ignore[arg-type]
        "0x11", "0x22", 0]
    params = openapi_paths(checks)["/api/v1/checks/check"]["get"]["parameters"]
    assert [(p["name"], p["in"]) for p in params] == [
        ("from", "query"), ("to", "query"), ("amount", "query")]


def test_a_write_takes_its_values_by_position_or_by_name_and_its_cli_arguments() -> None:
    import typer

    from consortium.apps.surface import TEXT, Write
    from consortium.cli.kit import add_writes

    deliver = Write("deliver", "deliverReport", "Deliver.", "deliver", (
        Param("id", ID), Param("report", TEXT, "the file", positional=True),
        Param("location", TEXT, "where", default="")), "delivered")
    assert deliver.call_args((3, "r"), {"location": "x"}) == [3, "r", "x"]
    assert deliver.call_args(("3",), {"report": "r"}) == [3, "r", ""]
    with pytest.raises(BadValue, match="deliver: unknown argument 'where'"):
        deliver.call_args((3, "r"), {"where": "x"})
    with pytest.raises(BadValue, match="deliver: report is required"):
        deliver.call_args((3,))
    app = typer.Typer()
    app.command("other")(lambda: None)  # two commands: a group
    client_only = Write("", "setFlag", "Set.", "set_flag", (Param("id", ID),))
    add_writes(app, Service("things", "Things", FakeReader, (), (deliver, client_only)),
               lambda *_: None)
    commands = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    assert sorted(commands) == ["deliver", "other"]  # a write without a cli name: no command
    params = commands["deliver"].params
    assert [p.name for p in params if p.param_type_name == "argument"] == ["id", "report"]
    assert "--location" in [o for p in params for o in p.opts]

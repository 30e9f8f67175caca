"""docs/services/new-service.md, proved step by step on its worked example, the notary
(tests/support/notary/, laid out as src/consortium/apps/notary/ would be): its contract on
a real Ledger on both engines (same outcomes, gas and app hashes), a running chain getting
it by a software upgrade, and what its declared surface generates — the JSON-RPC method,
REST route and OpenAPI path, the client method, the CLI commands, the console's table and
the docs' tables.

The few lines a real service adds in src/ (its role in ROLES, its native in
`chain_natives()`, its opt-in entries, its upgrade handler) are made here for this module
only (`notary_served`), since natives and roles are process-wide."""

from __future__ import annotations

import hashlib
import json
import re
import runpy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from starlette.applications import Starlette
from starlette.testclient import TestClient

from consortium.api.encoding import Params
from consortium.api.rpc_error import InvalidParams
from consortium.api.service_surface import openapi_paths, rest_routes, rpc_handlers
from consortium.errors import ExecutionReverted
from consortium.evm import fork, native
from consortium.evm.native import native_address
from consortium.ledger.genesis import AppState
from consortium.ledger.genesis_state import OPT_IN_NATIVES
from consortium.ledger.ledger import Ledger
from consortium.ledger.system_genesis import NATIVE_ADDRESSES
from consortium.ledger.upgrades import register_upgrade, unregister_upgrade
from consortium.natives import chain_natives
from consortium.system import model as system_model
from consortium.system.upgrade_plan import LATEST_NATIVE_VERSIONS
from tests.support.governance_testkit import BANKS, Gov, governed_state
from tests.support.notary import cli
from tests.support.notary.abi import SHIPPED
from tests.support.notary.client import NotaryClient
from tests.support.notary.contract import Notary
from tests.support.notary.model import NOTARY_ADDRESS, NOTARY_ROLE
from tests.support.notary.reader import CALLS, NotaryReader
from tests.support.notary.surface import NOTARY
from tests.support.notary.upgrade import NOTARY_UPGRADE, enable_notary
from tests.support.services_api_testkit import LiveNode
from tests.support.services_testkit import ServiceChain, low

ROOT = Path(__file__).resolve().parents[2]
NOTARY_HEX = "0x" + NOTARY_ADDRESS.hex()
CLERK, SIGNER = BANKS[2], BANKS[1]  # a member without the role; the notary
DEED = hashlib.sha256(b"deed of sale, lot 7").digest()
OTHER = hashlib.sha256(b"never notarized").digest()


@pytest.fixture(scope="module", autouse=True)
def notary_served() -> Iterator[None]:
    """The guide's one-line edits in src/, for this module only."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(system_model, "ROLES", (*system_model.ROLES, NOTARY_ROLE))
        patch.setitem(LATEST_NATIVE_VERSIONS, "Notary", 1)  # system/upgrade_plan.py
        patch.setitem(NATIVE_ADDRESSES, "Notary", NOTARY_ADDRESS)  # ledger/system_genesis.py
        patch.setitem(OPT_IN_NATIVES, NOTARY_ADDRESS, "Notary")  # ledger/genesis_state.py
        native.register(Notary)  # the class's @register
        register_upgrade(NOTARY_UPGRADE, "0.1.0", migrate=enable_notary)  # ledger/upgrades.py
        try:
            yield
        finally:
            unregister_upgrade(NOTARY_UPGRADE)
            native._REGISTRY.pop(NOTARY_ADDRESS, None)
            fork.PRECOMPILES.pop(NOTARY_ADDRESS, None)  # type: ignore[call-overload]


def notary_state(named: bool = True) -> AppState:
    """Four banks; Bank B holds the notary role. `named`: a chain made now, whose genesis
    names the notary in `native_versions` (else one made before it existed)."""
    state = governed_state(roles={SIGNER.address.lower(): [NOTARY_ROLE]})
    if named:
        state.native_versions["Notary"] = 1
    return state


def notary_ledger(path: Path, engine: str = "revm", named: bool = True) -> Ledger:
    """A node's ledger: `chain_natives()` with the notary added, as SERVICE_NATIVES would."""
    ledger = Ledger(path, engine=engine, natives={**chain_natives(), NOTARY_ADDRESS: Notary})
    ledger.init_chain(notary_state(named), 1)
    return ledger


def notary_chain(ledger: Ledger) -> tuple[ServiceChain, NotaryReader]:
    chain = ServiceChain(ledger, NOTARY_ADDRESS, CALLS)
    return chain, NotaryReader(chain._call, chain.logs)


def test_the_guide_quotes_the_example_as_it_is() -> None:
    """Each python block of the guide names its file on its first line and stands in that
    file as written."""
    guide = (ROOT / "docs/services/new-service.md").read_text()
    quotes = re.findall(r"```python\n# (\S+)\n(.*?)```", guide, re.S)
    assert len(quotes) == guide.count("```python") >= 10
    for path, code in quotes:
        assert code in (ROOT / path).read_text(), f"the guide's quote of {path} is stale"


def test_the_shipped_abi_is_the_contract_s() -> None:
    assert SHIPPED.path.read_text() == SHIPPED.render(), (
        "Notary.json is stale: run python -m tests.support.notary.abi")


def test_the_contract_runs_alike_on_both_engines(tmp_path: Path) -> None:
    """Notarize, the role check, a second notarization and a zero hash refused with the
    contract's reasons; the record and its history read back; every outcome, its gas and
    the app hash after it the same on revm and py-evm."""
    runs = []
    for engine in ("revm", "py-evm"):
        ledger = notary_ledger(tmp_path / engine, engine)
        chain, read = notary_chain(ledger)
        steps = [(SIGNER, DEED, "deed of sale"), (CLERK, OTHER, ""), (SIGNER, DEED, "again"),
                 (SIGNER, bytes(32), "")]
        outcomes = []
        for account, digest, note in steps:
            result = chain.send(account, "notarize", digest, note)
            outcomes.append((result.code, result.gas_used, result.data, ledger.info()))
        found = read.document(DEED)
        assert found is not None
        height = found["height"]
        assert found == {"digest": "0x" + DEED.hex(), "notary": low(SIGNER),
                         "note": "deed of sale", "height": height, "history": [
                             {"block": height, "txHash": found["history"][0]["txHash"],
                              "actor": low(SIGNER), "from": "", "to": "notarized",
                              "reason": "deed of sale"}]}
        assert read.document(OTHER) is None
        assert "does not hold the notary role needed to notarize a document" in chain.refused(
            CLERK, "notarize", OTHER, "")
        assert f"was notarized at height {height}" in chain.refused(SIGNER, "notarize", DEED,
                                                                   "")
        assert chain.refused(SIGNER, "notarize", bytes(32), "") == "the document hash is zero"
        runs.append(outcomes)
        ledger.close()
    reverted = ExecutionReverted.abci_code
    assert [code for code, *_ in runs[0]] == [0, reverted, reverted, reverted]
    assert runs[0] == runs[1]


def test_a_running_chain_gets_the_notary_by_a_software_upgrade(tmp_path: Path) -> None:
    """A chain made before the notary: the same genesis root as without it (opt-in), every
    call refused until the upgrade's height — while a node without the new software runs the
    same transaction as a call to an empty account — then served, alike on both engines."""
    roots = []
    for engine in ("revm", "py-evm"):
        without = Ledger(tmp_path / f"{engine}-without", engine=engine, natives=chain_natives())
        without.init_chain(notary_state(named=False), 1)
        ledger = notary_ledger(tmp_path / engine, engine, named=False)
        assert ledger.info() == without.info()  # an older genesis keeps its state root
        without.close()
        gov, (chain, read) = Gov(ledger), notary_chain(ledger)
        assert ledger.get_code(NOTARY_HEX) == b""
        assert chain.refused(SIGNER, "notarize", DEED, "") == (
            "the Notary contract is not enabled on this chain")
        unserved = chain.raw(SIGNER, native_address(0x2F01), CALLS.encode("notarize", DEED, ""))
        assert unserved.code == 0  # what the old software does at NOTARY_ADDRESS
        at = ledger.info()[0] + 12
        gov.pass_("software-upgrade", NOTARY_UPGRADE, at, "0.1.0")
        gov.advance(at - 1 - ledger.info()[0])
        assert ledger.get_code(NOTARY_HEX) == b""  # not before its height
        chain.ok(SIGNER, "notarize", DEED, "deed of sale")  # block `at`: migrated first
        assert ledger.info()[0] == at and ledger.get_code(NOTARY_HEX) != b""
        assert gov.read.upgrades()["applied"] == [{"name": NOTARY_UPGRADE, "height": at}]
        assert read.document(DEED) is not None
        roots.append(ledger.info())
        ledger.close()
    assert roots[0] == roots[1]


def test_the_surface_generates_json_rpc_rest_and_openapi(tmp_path: Path) -> None:
    ledger = notary_ledger(tmp_path)
    chain, read = notary_chain(ledger)
    chain.ok(SIGNER, "notarize", DEED, "deed of sale")
    want = read.document(DEED)
    method = rpc_handlers((NOTARY,))["consortium_notaryDocument"]
    assert method(ledger, Params(["0x" + DEED.hex()], "m")) == want
    assert method(ledger, Params(["0x" + OTHER.hex()], "m")) is None
    with pytest.raises(InvalidParams, match="expected a 0x SHA-256"):
        method(ledger, Params(["deed.pdf"], "m"))

    async def run_sync(fn: Any) -> Any:
        return fn()

    http = TestClient(Starlette(routes=rest_routes(NOTARY, ledger, run_sync)))
    assert http.get(f"/api/v1/notary/documents/0x{DEED.hex()}").json() == want
    missing = http.get(f"/api/v1/notary/documents/0x{OTHER.hex()}")
    assert (missing.status_code, missing.json()) == (404, {"error": "document not found"})
    assert http.get("/api/v1/notary/documents/0x12").status_code == 400
    paths = openapi_paths(NOTARY)
    assert list(paths) == ["/api/v1/notary/documents/{digest}"]
    (param,) = paths["/api/v1/notary/documents/{digest}"]["get"]["parameters"]
    assert param["schema"]["pattern"] == "^0x[0-9a-fA-F]{64}$"
    # the node serves what apps/services.py lists: a service not added there has no method
    from consortium.api.jsonrpc import SERVICE_METHODS

    assert "consortium_notaryDocument" not in SERVICE_METHODS
    ledger.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveNode]:
    node = LiveNode(tmp_path_factory.mktemp("notary-api"), ledger=notary_ledger,
                    parties={"Notary": SIGNER, "Clerk": CLERK}, node_name="notary-node")
    yield node
    node.close()


def test_the_client_methods_come_from_the_surface(live: LiveNode, tmp_path: Path) -> None:
    client = NotaryClient(live.url)
    deed = tmp_path / "deed.pdf"
    deed.write_bytes(b"%PDF deed of sale, lot 9")
    digest = "0x" + hashlib.sha256(deed.read_bytes()).hexdigest()
    out = client.notarize(SIGNER, str(deed), note="lot 9")  # the file is hashed here
    assert (out["object"], out["id"], out["from"], out["state"], out["reason"]) == (
        "document", digest, "", "notarized", "lot 9")
    with pytest.raises(ExecutionReverted, match="does not hold the notary role"):
        client.notarize(CLERK, "0x" + OTHER.hex())
    found = client.document(digest)
    assert found is not None and found["notary"] == low(SIGNER)
    assert [h["to"] for h in client.history("document", digest)] == ["notarized"]


def test_the_cli_commands_come_from_the_surface(
        live: LiveNode, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    command = typer.main.get_command(cli.app)
    assert sorted(command.commands) == ["document", "notarize"]  # type: ignore[attr-defined]
    digest = "0x" + hashlib.sha256(b"will, 2031").hexdigest()
    command.main(args=["notarize", digest, "--note", "will", "--rpc", live.url,
                       *live.signed("Notary"), "--json"], standalone_mode=False)
    assert json.loads(capsys.readouterr().out)["state"] == "notarized"
    command.main(args=["document", digest, "--rpc", live.url, "--json"], standalone_mode=False)
    assert json.loads(capsys.readouterr().out)["note"] == "will"


def test_the_console_and_the_docs_come_from_the_surface(tmp_path: Path) -> None:
    from consortium.console.forms import read_table, service_forms, write_form

    table = read_table(NOTARY, NOTARY.reads[0])
    assert (table.key, table.rpc) == ("notary.document", "consortium_notaryDocument")
    assert service_forms(NOTARY) == []  # no entry in console/forms.py SERVICE_CONTRACTS
    form = write_form(NOTARY, NOTARY.writes[0], NOTARY_HEX, SHIPPED.contract.abi(),
                      (NOTARY_ROLE,))
    assert [(f.name, f.kind) for f in form.fields] == [("document", "digest"), ("note", "text")]
    docs = runpy.run_path(str(ROOT / "scripts/service_docs.py"))
    assert docs["write"]([NOTARY], tmp_path) == [tmp_path / "notary.md"]
    page = (tmp_path / "notary.md").read_text()
    assert "| `consortium_notaryDocument(digest)` | `GET /api/v1/notary/documents/{digest}` |" \
        in page
    assert "| — | `notarize` | `notarize(account, document, note)` |" in page  # no CLI group
    assert docs["stale"]([NOTARY], tmp_path) == []

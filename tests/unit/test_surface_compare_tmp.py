"""TEMPORARY (issue 19): the credit and invoices surfaces' generated JSON-RPC handlers, REST
routes and OpenAPI paths against the hand-written ones, call by call, on real ledgers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from invoices_testkit import BANK_A as I_BANK_A
from invoices_testkit import BANK_B as I_BANK_B
from invoices_testkit import BUYER, KEY, SELLER, TAX, invoice_ledger
from services_api_testkit import LiveNode
from services_testkit import AGENCY_X, BANK_A, BANK_B, BORROWER, BORROWER_2
from starlette.applications import Starlette
from starlette.testclient import TestClient

from consortium.api.credit_rest import credit_openapi_paths
from consortium.api.encoding import Params
from consortium.api.invoices_rest import invoice_openapi_paths
from consortium.api.rpc_error import RpcError
from consortium.api.service_surface import openapi_paths, rest_routes, rpc_handlers
from consortium.apps.credit import CreditClient
from consortium.apps.credit.surface import CREDIT
from consortium.apps.invoices import InvoiceClient
from consortium.apps.invoices.fingerprint import write_key
from consortium.apps.invoices.surface import INVOICES


def _same_names(new: Any, old: Any) -> bool:
    def norm(error: Any) -> Any:
        if not isinstance(error, dict):
            return error
        listed = re.sub(r"\((\w+: )?([^()]*)\)",
                        lambda m: "(" + (m.group(1) or "")
                        + ", ".join(sorted(m.group(2).split(", "))) + ")",
                        error["message"])
        return {**error, "message": listed}

    return bool(new == old)


def _compare_rpc(live: LiveNode, service: Any, calls: list[tuple[str, list[Any]]]) -> None:
    handlers = rpc_handlers((service,))
    assert set(handlers) == {m for m, _ in calls}
    for method, params in calls:
        old = live.rpc(method, *params)
        try:
            new: dict[str, Any] = {"result": handlers[method](live.ledger,
                                                              Params(params, method))}
        except RpcError as err:
            new = {"error": {"code": err.code, "message": err.message}}
        if "error" in old:
            want = {k: old["error"][k] for k in ("code", "message")}
            assert _same_names(new.get("error"), want), (method, params, new, want)
        else:
            assert new == {"result": old["result"]}, (method, params)
        print(method, params, "->", str(new)[:100])


def _compare_rest(live: LiveNode, service: Any, paths: list[str]) -> None:
    async def run_sync(fn: Any) -> Any:
        return fn()

    generated = TestClient(Starlette(routes=rest_routes(service, live.ledger, run_sync)))
    served = TestClient(live.app)
    for path in paths:
        old, new = served.get(service.rest_base + path), generated.get(service.rest_base + path)
        assert (new.status_code, new.json()) == (old.status_code, old.json()), (path, new.json(),
                                                                               old.json())
        print(path, "->", new.status_code, str(new.json())[:100])


@pytest.fixture(scope="module")
def credit_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveNode]:
    node = LiveNode(tmp_path_factory.mktemp("credit-compare"))
    credit = CreditClient(node.url)
    consent = credit.grant_consent(BORROWER_2, BANK_B.address, "credit card",
                                   expires_at=credit.height() + 500, max_uses=2)["id"]
    query = credit.create_query(BANK_B, AGENCY_X.address, consent, "credit card")["id"]
    credit.accept(AGENCY_X, query)
    credit.grant_consent(BORROWER, BANK_A.address, "mortgage", expires_at=credit.height() + 500)
    first = credit.report(BANK_B, BORROWER_2.address, "Loan opened", "0x" + "ab" * 32)["id"]
    fixed = credit.correct(BANK_B, first, "loan opened", "0x" + "cd" * 32, "wrong amount")["id"]
    default = credit.report(BANK_A, BORROWER.address, "default", "0x" + "ef" * 32)["id"]
    credit.blacklist_subject(BANK_A, default, "unpaid 180 days")
    assert fixed
    yield node
    node.close()


B2, BA, AX = BORROWER_2.address, BANK_A.address, AGENCY_X.address


def test_credit(credit_node: LiveNode) -> None:
    calls: list[tuple[str, list[Any]]] = []
    for one in ("consortium_creditConsent", "consortium_creditRecord", "consortium_creditQuery"):
        calls += [(one, p) for p in ([1], [2], [3], ["1"], [999], [0], ["x"], [None], [],
                                      [1, 2], [True], [2**256])]
    calls += [("consortium_creditConsents", p) for p in (
        [], [None], [{}], [{"subject": B2}], [{"grantee": BA}], [{"subject": B2, "grantee": BA}],
        [{"subject": "0x1"}], [{"colour": 1}], ["all"], [{}, 1], [{"subject": None}])]
    calls += [("consortium_creditRecords", p) for p in (
        [], [{"subject": B2}], [{"reporter": BANK_B.address}], [{"reporter": 5}],
        [{"grantee": BA}], [[1]])]
    calls += [("consortium_creditQueries", p) for p in (
        [], [{"subject": B2}], [{"lender": BANK_B.address, "state": "accepted"}],
        [{"agency": AX}], [{"state": "open"}], [{"state": 3}], [{"agency": "x"}],
        [{"colour": "red"}], [7])]
    calls += [("consortium_creditBlacklist", p) for p in ([], [None], [{}])]
    _compare_rpc(credit_node, CREDIT, calls)
    paths = []
    for kind in ("consents", "records", "queries"):
        paths += [f"/{kind}/{i}" for i in ("1", "2", "3", "999", "0", "x", "1?state=lost")]
    paths += ["/consents", f"/consents?subject={B2}", f"/consents?grantee={BA}&subject={B2}",
              "/consents?subject=0x1", "/consents?colour=red", "/records",
              f"/records?reporter={BANK_B.address}", "/records?state=x", "/queries",
              "/queries?state=accepted", "/queries?state=open", f"/queries?agency={AX}",
              "/queries?lender=0x1", "/queries?colour=1", "/blacklist", "/blacklist?x=1"]
    _compare_rest(credit_node, CREDIT, paths)
    assert openapi_paths(CREDIT) == credit_openapi_paths()


@pytest.fixture(scope="module")
def invoice_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveNode, str]]:
    path = tmp_path_factory.mktemp("invoice-compare")
    node = LiveNode(path, ledger=invoice_ledger, node_name="invoice-node")
    write_key(path / "consortium.key", KEY)
    inv = InvoiceClient(node.url, key=KEY)
    fp = inv.fingerprint("91310000MA1FL4XX7J", "CMP-1", "2023-10-01", 500)
    inv.issue(SELLER, fp, buyer=BUYER.address, amount=500, currency="CNY", due_date="2023-11-14")
    inv.confirm(BUYER, fp)
    inv.request_financing(SELLER, fp)
    inv.finance(I_BANK_A, fp, 300)
    inv.finance(I_BANK_B, fp, 200)
    inv.set_tax_verified(TAX, fp, True, "ok")
    other = inv.fingerprint("91310000MA1FL4XX7J", "CMP-2", "2023-10-02", 70)
    inv.issue(SELLER, other, buyer=BUYER.address, amount=70, currency="CNY",
              due_date="2023-11-15")
    yield node, fp
    node.close()


def test_invoices(invoice_node: tuple[LiveNode, str]) -> None:
    node, fp = invoice_node
    missing = "0x" + "00" * 32
    calls: list[tuple[str, list[Any]]] = [("consortium_invoice", p) for p in (
        [fp], [fp.upper().replace("0X", "0x")], [fp[2:]], [" " + fp + " "], [missing], ["0x12"],
        [5], [None], [], [fp, 1], [fp.encode().hex()])]
    calls += [("consortium_invoices", p) for p in (
        [], [None], [{}], [{"seller": SELLER.address}], [{"bank": I_BANK_B.address}],
        [{"state": "financed"}], [{"state": "issued", "buyer": BUYER.address}],
        [{"state": "lost"}], [{"seller": "0x1"}], [{"seller": 1}], [{"colour": 1}], ["all"],
        [{}, 2], [{"bank": None}])]
    _compare_rpc(node, INVOICES, calls)
    _compare_rest(node, INVOICES, [
        "", "?state=financed", f"?seller={SELLER.address}", "?state=lost", "?buyer=0x12",
        "?colour=1", f"?bank={I_BANK_A.address}&state=financed", f"/{fp}", f"/{fp[2:]}",
        f"/{missing}", "/0x12", "/x", f"/{fp}?state=x"])
    old, new = invoice_openapi_paths(), openapi_paths(INVOICES)
    assert set(old) == set(new)
    for path in old:
        o, n = old[path]["get"], new[path]["get"]
        assert (n["summary"], n["tags"], n["parameters"]) == (
            o["summary"], o["tags"], o["parameters"]), path
        assert set(n["responses"]) == set(o["responses"]), path

"""The console's forms and tables come from the declarations: every declared write of every
service, and every kind of proposal, becomes a form whose inputs match its contract method's
ABI, each with an input kind the page checks; reads become tables."""

from __future__ import annotations

import json

import pytest

from consortium.apps.services import SERVICES
from consortium.apps.surface import BadValue
from consortium.console.forms import (
    INPUT_KINDS,
    Form,
    FormError,
    input_kind,
    proposal_forms,
    read_params,
    read_table,
    regulator_forms,
    revoke_form,
    script_json,
    service_contracts,
    service_forms,
    table_rows,
    vote_form,
    write_form,
)
from consortium.system.model import PROPOSAL_KINDS, ROLES, TIERS


def by_key(forms: list[Form]) -> dict[str, Form]:
    return {f.key: f for f in forms}


def check_form(form: Form) -> None:
    """A form the page can sign: its fields are the method's inputs (their ABI types, in
    order), less the fixed ones, each of a kind sign_forms.js checks; its spec is JSON."""
    inputs = form.fragment["inputs"]
    asked = [i for i in inputs if i["name"] not in form.fixed]
    assert [f.abi for f in form.fields] == [i["type"] for i in asked]
    assert all(f.kind in INPUT_KINDS for f in form.fields), form.key
    assert all(f.choices for f in form.fields if f.kind == "choice"), form.key
    spec = json.loads(form.spec())
    assert spec["contract"] == form.contract and spec["fragment"]["name"] == form.method
    assert form.contract.startswith("0x") and len(form.contract) == 42


def test_every_declared_write_is_a_form() -> None:
    contracts = service_contracts()
    for service in SERVICES:
        forms = service_forms(service)
        assert len(forms) == len(service.writes), service.name
        for write, form in zip(service.writes, forms, strict=True):
            assert form.method == write.method
            assert form.contract == contracts[service.name].address
            check_form(form)


def test_input_kinds_follow_the_declared_kind_and_the_abi_type() -> None:
    forms = {f.key: f for s in SERVICES for f in service_forms(s)}
    kinds = {k: {f.name: f.kind for f in form.fields} for k, form in forms.items()}
    assert kinds["invoices.finance"] == {"fingerprint": "hash", "amount": "amount"}
    assert kinds["registry.transfer"] == {"id": "id", "to": "account"}
    assert kinds["cash.mint"] == {"currency": "currency", "to": "account", "amount": "amount"}
    assert kinds["securities.mint"]["isin"] == "isin"
    assert kinds["invoices.set_tax_verified"]["verified"] == "flag"
    assert forms["invoices.finance"].roles == ("financing_bank",)
    assert forms["cash.transfer"].roles == ()  # anyone holding cash
    assert input_kind("uint8", "choice", ("buy", "sell")) == "choice"
    assert input_kind("uint256", "date") == "date"
    assert input_kind("bytes32", "hash or file") == "digest"
    assert input_kind("address[]") == "accounts"
    with pytest.raises(FormError):
        input_kind("tuple")


def test_a_write_whose_method_is_not_in_the_abi_is_refused() -> None:
    service = next(s for s in SERVICES if s.writes)
    with pytest.raises(FormError, match="has no"):
        write_form(service, service.writes[0], "0x" + "00" * 20, [])


def test_every_proposal_kind_is_a_committee_form() -> None:
    forms = by_key(proposal_forms())
    assert sorted(forms) == sorted(f"governance.{k.name}" for k in PROPOSAL_KINDS)
    for kind in PROPOSAL_KINDS:
        form = forms[f"governance.{kind.name}"]
        check_form(form)
        assert form.method == kind.method and form.roles == ("committee",)
        assert [f.name for f in form.fields] == list(kind.params)
        assert ("supermajority" in form.summary.lower()) == kind.supermajority
    grant = {f.name: f for f in forms["governance.grant-role"].fields}
    assert grant["account"].kind == "account" and grant["role"].choices == ROLES
    admit = {f.name: f for f in forms["governance.admit-member"].fields}
    assert admit["tier"].choices == TIERS and admit["tier"].default == "ordinary"
    assert admit["accounts"].required and not admit["nodeIds"].required
    rule = {f.name: f.kind for f in forms["governance.change-rule"].fields}
    assert rule == {"kind": "choice", "participation": "basis-points",
                    "winRate": "basis-points", "period": "integer"}
    assert {f.name: f.kind for f in forms["governance.expel-member"].fields} == {
        "member": "member"}
    assert {f.kind for f in forms["governance.add-validator"].fields} == {"pubkey", "integer"}


def test_vote_revoke_and_regulator_forms() -> None:
    yes, revoke = vote_form(7, True), revoke_form(7)
    assert yes.fields == () and yes.fixed == {"proposal_id": 7, "support": True}
    assert yes.method == "vote" and yes.margin > 1_000_000  # it may execute the proposal
    assert revoke.fixed == {"proposal_id": 7} and revoke.method == "revoke"
    assert [f.roles for f in regulator_forms()] == [("regulator",), ("regulator",)]
    for form in (yes, revoke, *regulator_forms()):
        check_form(form)


def test_reads_are_tables_with_parameters_parsed_by_their_kinds() -> None:
    securities = next(s for s in SERVICES if s.name == "securities")
    instrument = read_table(securities, next(r for r in securities.reads
                                             if r.name == "instrument"))
    assert instrument.needs_input and instrument.params[0].kind == "isin"
    assert read_params(instrument, securities, {"isin": "us0378331005"}) == ["US0378331005"]
    with pytest.raises(BadValue, match="isin"):
        read_params(instrument, securities, {"isin": "US0378331004"})  # wrong check digit
    with pytest.raises(BadValue, match="required"):
        read_params(instrument, securities, {})
    registry = next(s for s in SERVICES if s.name == "registry")
    assets = read_table(registry, next(r for r in registry.reads if r.name == "assets"))
    assert not assets.needs_input
    assert read_params(assets, registry, {"state": "", "owner": ""}) == []
    assert read_params(assets, registry, {"state": "frozen"}) == [{"state": "frozen"}]
    with pytest.raises(BadValue, match="one of"):
        read_params(assets, registry, {"state": "melted"})


def test_table_rows_and_script_json() -> None:
    columns, rows = table_rows([{"a": 1, "b": [1, 2]}, {"a": None, "c": True}])
    assert columns == ["a", "b", "c"]
    assert rows == [["1", "1\n2", ""], ["", "", "yes"]]
    assert table_rows({"x": {"y": 1}}) == (["field", "value"], [["x", '{"y": 1}']])
    assert table_rows(5) == (["value"], [["5"]])
    assert "</script>" not in script_json({"s": "</script><b>"})
    assert json.loads(script_json({"s": "</script>"})) == {"s": "</script>"}


def test_a_reads_filters_are_optional_inputs() -> None:
    registry = next(s for s in SERVICES if s.name == "registry")
    assets = read_table(registry, next(r for r in registry.reads if r.name == "assets"))
    assert assets.filters and not any(f.required for f in assets.filters)

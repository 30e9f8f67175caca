"""Validators and nodes named for their members on the overview and the governance page (the
hex beside the name, whole in its title; the hex alone where the chain records no owner), over
a real governed ledger and a stub engine answering CometBFT's validators and net_info; and
every table of those pages in a box of its own that scrolls (div.table-scroll)."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from consortium.api.app import create_app
from consortium.ledger.ledger import Ledger
from consortium.system.reader import validator_address
from tests.support.governance_testkit import BANKS, Gov, governed_state, node_id, pub_key
from tests.support.jsonrpc_testkit import StubEngine

pytestmark = pytest.mark.timeout(120)


class CometEngine(StubEngine):
    """The stub engine, also answering `validators` (the four banks' keys) and `net_info`
    (Bank B's and Bank C's nodes as peers) as CometBFT does."""

    def answer(self, req: dict[str, Any]) -> dict[str, Any]:
        if req["method"] == "validators":
            return {"jsonrpc": "2.0", "id": req.get("id"), "result": {"validators": [
                {"address": validator_address(pub_key(i)), "voting_power": "10",
                 "pub_key": {"type": "tendermint/PubKeyEd25519",
                             "value": base64.b64encode(pub_key(i)).decode()}}
                for i in range(4)]}}
        if req["method"] == "net_info":
            return {"jsonrpc": "2.0", "id": req.get("id"), "result": {"peers": [
                {"node_info": {"id": node_id(i), "moniker": f"node{i}"},
                 "remote_ip": f"10.0.0.{i}", "is_outbound": True} for i in (1, 2)]}}
        return super().answer(req)


def serve(path: Path, owners_recorded: bool) -> Iterator[tuple[TestClient, Gov]]:
    """A governed ledger (Nodes version 2 records each validator's owner; version 1 not)."""
    state = governed_state(4)
    if owners_recorded:
        state = replace(state, native_versions={**state.native_versions, "Nodes": 2})
    ledger = Ledger(path)
    ledger.init_chain(state, 1)
    engine = CometEngine(ledger)
    try:
        with TestClient(create_app(ledger, engine.url, node_name="t")) as client:
            yield client, Gov(ledger)
    finally:
        engine.close()
        ledger.close()


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[tuple[TestClient, Gov]]:
    yield from serve(tmp_path / "ledger", owners_recorded=True)


def rows(html: str, table_id: str) -> list[str]:
    """The rows of table `table_id` (or of the section with that id), tags stripped."""
    found = re.search(rf'id="{table_id}".*?<tbody>(.*?)</tbody>', html, re.S)
    assert found, table_id
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", r)).strip()
            for r in re.findall(r"<tr.*?</tr>", found.group(1), re.S)]


def test_the_overview_names_validators_and_peers(chain: tuple[TestClient, Gov]) -> None:
    client, _ = chain
    page = client.get("/console/overview/consensus")
    assert page.status_code == 200, page.text
    validators = rows(page.text, "validators")
    assert len(validators) == 4
    for i, row in enumerate(validators):
        address = validator_address(pub_key(i))
        # the member's name first, its validator's address beside it, shortened
        assert row.startswith(f"Bank {chr(65 + i)} {address[:10]}…{address[-4:]}"), row
        assert f'title="address {address}, key {base64.b64encode(pub_key(i)).decode()}"' \
            in page.text
    peers = rows(page.text, "peers")
    assert [r.split()[:4] for r in peers] == [["node1", "–", "Bank", "B"],
                                             ["node2", "–", "Bank", "C"]]
    assert f'title="{node_id(1)}"' in page.text


def test_the_governance_page_names_validators_and_node_ids(
        chain: tuple[TestClient, Gov]) -> None:
    client, gov = chain
    gov.propose(BANKS[0], "remove-node", bytes.fromhex(node_id(1)))
    gov.propose(BANKS[0], "remove-validator", pub_key(2))
    html = client.get("/console/governance/live").text
    validators = rows(html, "validators")
    assert [r.split()[:2] for r in validators] == [["Bank", c] for c in "ABCD"]
    nodes = rows(html, "nodes")
    assert nodes == [f"Bank {chr(65 + i)} {node_id(i)[:10]}…{node_id(i)[-4:]}"
                     for i in range(4)]
    assert f'title="{node_id(3)}"' in html  # the whole id, on hover
    # a proposal's node id and validator key, with their member's name
    assert f"{node_id(1)} (Bank B)" in html
    assert f"{base64.b64encode(pub_key(2)).decode()} (Bank C)" in html


def test_without_recorded_owners_the_hex_stays(tmp_path: Path) -> None:
    """A chain from before Nodes version 2 records no validator's owner: the validators keep
    their hex; nodes, recorded since genesis, are named."""
    for client, _ in serve(tmp_path / "ledger", owners_recorded=False):
        consensus = client.get("/console/overview/consensus").text
        address = validator_address(pub_key(0))
        assert rows(consensus, "validators")[0].startswith(f"{address[:10]}…{address[-4:]} 10")
        assert "Bank" not in " ".join(rows(consensus, "validators"))
        assert rows(consensus, "peers")[0].split()[2:4] == ["Bank", "B"]
        html = client.get("/console/governance/live").text
        assert "Bank" not in " ".join(rows(html, "validators"))
        assert rows(html, "nodes")[0].startswith("Bank A ")


def test_every_table_scrolls_in_a_box_of_its_own(chain: tuple[TestClient, Gov]) -> None:
    client, gov = chain
    gov.propose(BANKS[0], "grant-role", BANKS[1].address, "auditor")
    block = client.post("/", json={"jsonrpc": "2.0", "id": 1, "method": "eth_getBlockByNumber",
                                   "params": ["0x1", False]}).json()["result"]
    for path in ("/console/", "/console/governance", "/console/explorer", "/console/block/1",
                 f"/console/tx/{block['transactions'][0]}",
                 f"/console/address/{BANKS[0].address}"):
        html = client.get(path).text
        tables = html.count("<table")
        assert tables, path
        assert len(re.findall(r'<div class="table-scroll">\s*<table', html)) == tables, path
    assert client.get("/console/static/js/tables.js").status_code == 200
    assert 'src="/console/static/js/tables.js"' in client.get("/console/").text

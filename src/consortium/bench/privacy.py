"""`consortium bench privacy`: private ERC-20 transfers per second against public ones, on
one network in the same run (issue 22: goal, private ≥ 0.5× public).

A network of two validators, one member each; each member registers its node's privacy key
and the two form a group. The same token (bench/contracts/BenchToken.sol) is deployed on
the public chain and in the group, both giving the two members' accounts a balance. Then the
same number of transfers is sent each way, signed ahead of time (EIP-1559, fees 0; the
private ones with the group's chain id), one lane per member to its own node, in JSON-RPC
batches: `eth_sendRawTransaction` for the public run, `priv_distributeRawTransaction` for
the private one (each node seals what is queued for the group into marker transactions).
A run ends when node0 has the receipt (`eth_getTransactionReceipt` /
`priv_getTransactionReceipt`) of each sender's last transaction (a sender's transactions
execute in nonce order); the rate is transactions over the time from the first request to
then. The private run also records how much later node1 had them too (both group nodes in
step) and how many public transactions the node accounts sent (markers and attestations);
both check a sample of receipts for status 1. Rounds alternate which run goes first, so the
machine's drift falls on both; the figure is the ratio of the median rates.
"""

from __future__ import annotations

import functools
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import httpx
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_hash.auto import keccak
from eth_keys.datatypes import PrivateKey

from consortium.bench.networks import LedgerNet, wait_height
from consortium.bench.report import (
    OutConfig,
    RunOutcome,
    default_out,
    loadavg,
    report_head,
    write_json,
)
from consortium.bench.workloads import BenchAccount, PreSigned, TokenTransfer, recipient, sign
from consortium.errors import ConfigError, NetworkError

PRIVACY = (0x1004).to_bytes(20, "big")
GOAL = 0.5
PUBLIC, PRIVATE = "public", "private"
SETUP_TIMEOUT = 120.0
RUN_TIMEOUT = 600.0


class Ui(Protocol):
    def step(self, text: str) -> None: ...


@dataclass
class PrivacyBenchConfig(OutConfig):
    txs: int = 2_000  # transfers in each run (public and private)
    batch: int = 100  # JSON-RPC requests per HTTP request
    rounds: int = 3  # each a public and a private run, alternating which goes first
    timeout_commit: str = "500ms"
    out: Path = field(default_factory=default_out)

    def check(self) -> None:
        if self.txs < 2 or self.batch < 1 or self.rounds < 1:
            raise ConfigError("--txs must be at least 2, --batch and --rounds positive")


def _selector(signature: str) -> bytes:
    return keccak(signature.encode())[:4]


class Rpc:
    """JSON-RPC of one node's API: single calls (errors raise NetworkError) and batches."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(timeout=300)

    def __call__(self, method: str, *params: Any) -> Any:
        answer = self.http.post(self.url, json={"jsonrpc": "2.0", "id": 1, "method": method,
                                                "params": list(params)}).json()
        if answer.get("error"):
            raise NetworkError(f"{method} at {self.url}: {answer['error'].get('message')}")
        return answer.get("result")

    def batch(self, method: str, params: Sequence[list[Any]]) -> list[str]:
        """One HTTP request of `method` calls: the error messages (empty: all accepted)."""
        body = [{"jsonrpc": "2.0", "id": i, "method": method, "params": p}
                for i, p in enumerate(params)]
        answer = self.http.post(self.url, json=body).json()
        answers = answer if isinstance(answer, list) else [answer]
        return [str(a["error"].get("message")) for a in answers if a.get("error")]

    def wait(self, what: str, check: Callable[[], Any], timeout: float = SETUP_TIMEOUT) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            time.sleep(0.1)
        raise NetworkError(f"timed out after {timeout:.0f} s waiting for {what}")

    def close(self) -> None:
        self.http.close()


class Member:
    """A bench member: its account, its node's API, its public and private nonces."""

    def __init__(self, account: BenchAccount, index: int, url: str, chain_id: int) -> None:
        self.account, self.index, self.rpc, self.chain_id = account, index, Rpc(url), chain_id
        self.key = PrivateKey(account.key)
        self.hex = "0x" + account.address.hex()
        self.nonce = 0
        self.private_nonce = 0

    def sign(self, chain_id: int, nonce: int, to: bytes, data: bytes, gas: int) -> PreSigned:
        return sign(self.key, self.index, nonce, chain_id, to, 0, data, gas)

    def transact(self, to: bytes, data: bytes, gas: int = 3_000_000) -> dict[str, Any]:
        """A public transaction, waited for; its receipt (status 1, else NetworkError)."""
        tx = self.sign(self.chain_id, self.nonce, to, data, gas)
        self.nonce += 1
        tx_hash = self.rpc("eth_sendRawTransaction", "0x" + tx.raw.hex())
        got: dict[str, Any] = self.rpc.wait(f"receipt of {tx_hash}", lambda: self.rpc(
            "eth_getTransactionReceipt", tx_hash))
        if got.get("status") != "0x1":
            raise NetworkError(f"setup transaction {tx_hash} failed: {got}")
        return got

    def call(self, to: bytes, data: bytes) -> bytes:
        out = self.rpc("eth_call", {"to": "0x" + to.hex(), "data": "0x" + data.hex()}, "latest")
        return bytes.fromhex(str(out)[2:])

    def executed(self, method: str, txs: Sequence[PreSigned]) -> bool:
        """Whether this node has a receipt for each of `txs` (`method`: eth_ or
        priv_getTransactionReceipt): the last of each sender's nonces is enough (a sender's
        transactions execute in nonce order)."""
        return all(self.rpc(method, "0x" + t.hash.hex()) for t in txs)


def _synced(members: Sequence[Member], receipt: dict[str, Any]) -> None:
    """Wait until every member's node holds the block of `receipt` (the next step reads it
    there)."""
    height = int(receipt["blockNumber"], 16)
    for m in members:
        m.rpc.wait(f"{m.rpc.url} at block {height}", functools.partial(_reached, m, height))


def _height(m: Member) -> int:
    return int(m.rpc("eth_blockNumber"), 16)


def _reached(m: Member, height: int) -> bool:
    return _height(m) >= height


def _form_group(a: Member, b: Member, ui: Ui) -> tuple[str, int]:
    """Both members register their node's key; A founds the group, B joins; (id, chain id)."""
    for m in (a, b):
        key = m.rpc("priv_proveNodeKey", m.hex)  # with the node key's proof for m's account
        _synced((a, b), m.transact(PRIVACY, _selector("registerNode(bytes,bytes)") + abi_encode(
            ["bytes", "bytes"], [bytes.fromhex(key["publicKey"][2:]),
                                 bytes.fromhex(key["signature"][2:])])))
    ui.step("nodes registered; founding the group")
    made = a.rpc("priv_createPrivacyGroup", {"name": "bench", "members": [a.hex, b.hex]})
    _synced((a, b), a.transact(bytes.fromhex(made["to"][2:]), bytes.fromhex(made["data"][2:])))
    group = str(made["privacyGroupId"])
    _synced((a, b), b.transact(PRIVACY, _selector("joinGroup(bytes32)")
                               + bytes.fromhex(group[2:])))

    def active() -> bool:
        out = b.call(PRIVACY, _selector("group(bytes32)") + bytes.fromhex(group[2:]))
        types = ["string", "uint8", "uint32", "uint256[]", "uint64", "uint64"]
        return int(abi_decode(types, out)[1]) == 2

    a.rpc.wait("the group to be active", active)
    return group, int(str(made["chainId"]), 0)


def _deploy(members: Sequence[Member], group: str | None, chain_id: int, code: bytes) -> bytes:
    """The token deployed by the first member, publicly (group None) or in the group: its
    address."""
    holders = [m.hex for m in members]
    init = code + abi_encode(["address[]", "uint256"], [holders, 10**30])
    deployer = members[0]
    if group is None:
        return bytes.fromhex(deployer.transact(b"", init, 3_000_000)["contractAddress"][2:])
    tx = deployer.sign(chain_id, deployer.private_nonce, b"", init, 3_000_000)
    deployer.private_nonce += 1
    tx_hash = deployer.rpc("priv_distributeRawTransaction", "0x" + tx.raw.hex(), group)
    got = deployer.rpc.wait("the private deployment", lambda: deployer.rpc(
        "priv_getTransactionReceipt", tx_hash))
    if got.get("status") != "0x1":
        raise NetworkError(f"private deployment {tx_hash} failed: {got}")
    return bytes.fromhex(got["contractAddress"][2:])


def _transfers(members: Sequence[Member], count: int, chain_id: int, token: bytes,
               private: bool) -> list[list[PreSigned]]:
    """`count` transfers of 1 token unit, alternating senders: one list per member."""
    out: list[list[PreSigned]] = [[] for _ in members]
    for i in range(count):
        m = members[i % len(members)]
        nonce = (m.private_nonce if private else m.nonce) + len(out[m.index])
        data = TokenTransfer.selector + abi_encode(["address", "uint256"], [recipient(i), 1])
        out[m.index].append(m.sign(chain_id, nonce, token, data, TokenTransfer.gas))
    for m in members:
        if private:
            m.private_nonce += len(out[m.index])
        else:
            m.nonce += len(out[m.index])
    return out


def _drive(members: Sequence[Member], lanes: list[list[PreSigned]], method: str,
           group: str | None, batch: int, done: Callable[[], bool]) -> dict[str, Any]:
    """Each member's lane sends its batches to its own node, one after the other; the clock
    stops when `done()` says every transaction executed."""
    errors: list[str] = []

    def lane(m: Member, txs: list[PreSigned]) -> None:
        for start in range(0, len(txs), batch):
            params = [["0x" + t.raw.hex()] + ([group] if group else [])
                      for t in txs[start:start + batch]]
            errors.extend(m.rpc.batch(method, params))

    started = time.perf_counter()
    threads = [threading.Thread(target=lane, args=(m, lanes[m.index]), daemon=True)
               for m in members]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    submitted = time.perf_counter() - started
    if errors:
        raise NetworkError(f"{len(errors)} transaction(s) refused, e.g. {errors[0]}")
    members[0].rpc.wait("every transaction executed", done, RUN_TIMEOUT)
    seconds = time.perf_counter() - started
    txs = sum(len(lane) for lane in lanes)
    return {"txs": txs, "submit_s": round(submitted, 2), "seconds": round(seconds, 2),
            "tps": round(txs / seconds, 1)}


@dataclass
class _Setup:
    """What the rounds share: the members, the group and both tokens."""

    members: list[Member]
    chain_id: int
    group: str
    group_chain: int
    public_token: bytes
    private_token: bytes
    node_accounts: list[str]


def _round(s: _Setup, kind: str, txs: int, batch: int) -> dict[str, Any]:
    """One measured run of `txs` transfers, public or private, signed before the clock."""
    a, b = s.members
    if kind == PUBLIC:
        lanes = _transfers(s.members, txs, s.chain_id, s.public_token, private=False)
        last = [lane[-1] for lane in lanes]
        out = _drive(s.members, lanes, "eth_sendRawTransaction", None, batch,
                     lambda: a.executed("eth_getTransactionReceipt", last))
        out["sample_status_1"] = _sample(a, "eth_getTransactionReceipt", lanes)
        return out
    lanes = _transfers(s.members, txs, s.group_chain, s.private_token, private=True)
    last = [lane[-1] for lane in lanes]
    height, sent = _height(a), _count(a, s.node_accounts)
    out = _drive(s.members, lanes, "priv_distributeRawTransaction", s.group, batch,
                 lambda: a.executed("priv_getTransactionReceipt", last))
    t0 = time.perf_counter()
    b.rpc.wait("node1 in step", lambda: b.executed("priv_getTransactionReceipt", last),
               RUN_TIMEOUT)
    out["node1_later_s"] = round(time.perf_counter() - t0, 2)
    out["public_blocks"] = _height(a) - height
    out["node_account_txs"] = _count(a, s.node_accounts) - sent  # markers and attestations
    out["sample_status_1"] = _sample(a, "priv_getTransactionReceipt", lanes)
    return out


def _count(m: Member, accounts: list[str]) -> int:
    return sum(int(m.rpc("eth_getTransactionCount", x, "latest"), 16) for x in accounts)


def run_privacy_bench(cfg: PrivacyBenchConfig, ui: Ui) -> RunOutcome:
    cfg.check()
    started = datetime.now(UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    load_at_start = loadavg()
    work = Path(tempfile.mkdtemp(prefix="consortium-bench-privacy-"))
    members: list[Member] = []
    runs: dict[str, list[dict[str, Any]]] = {PUBLIC: [], PRIVATE: []}
    try:
        ui.step("creating a 2-validator network, one member per node")
        net = LedgerNet(work / "net", validators=2, accounts=2,
                        timeout_commit=cfg.timeout_commit)
        chain_id = net.network.eth_chain_id
        members = [Member(acct, i, url, chain_id)
                   for i, (acct, url) in enumerate(zip(net.accounts(), net.api_urls,
                                                       strict=True))]
        code = TokenTransfer().bytecode()
        net.up()
        try:
            wait_height(net.rpc_urls, 2)
            group, group_chain = _form_group(members[0], members[1], ui)
            ui.step(f"group {group[:10]}… active (chain id {group_chain}); deploying the "
                    "token publicly and in the group")
            setup = _Setup(members, chain_id, group, group_chain,
                           _deploy(members, None, chain_id, code),
                           _deploy(members, group, group_chain, code),
                           [str(m.rpc("priv_getNodeKey")["address"]) for m in members])
            for n in range(cfg.rounds):
                for kind in (PUBLIC, PRIVATE) if n % 2 == 0 else (PRIVATE, PUBLIC):
                    out = _round(setup, kind, cfg.txs, cfg.batch)
                    runs[kind].append(out)
                    ui.step(f"round {n + 1}, {kind}: {cfg.txs:,} transfers, "
                            f"{out['tps']:,.0f} tx/s")
        finally:
            net.down()
    finally:
        for m in members:
            m.rpc.close()
        shutil.rmtree(work, ignore_errors=True)
    median = {k: statistics.median(r["tps"] for r in rs) for k, rs in runs.items()}
    ratio = median[PRIVATE] / median[PUBLIC] if median[PUBLIC] else 0.0
    report = report_head("consortium-bench-privacy/1", started, cfg.to_json())
    report["machine"]["loadavg_at_start"] = load_at_start
    report |= {
        "runs": runs, "median_tps": {k: round(v, 1) for k, v in median.items()},
        "ratio": round(ratio, 3), "goal": GOAL, "met": ratio >= GOAL,
        "loadavg_at_end": loadavg(),
    }
    return RunOutcome(report, write_json(report, Path(cfg.out) / f"{stamp}-privacy.json"))


def _sample(m: Member, method: str, lanes: list[list[PreSigned]]) -> str:
    """Receipts of up to 20 transfers spread over the run: how many have status 1."""
    txs = [t for lane in lanes for t in lane]
    chosen = txs[:: max(1, len(txs) // 20)][:20]
    ok = sum(bool((got := m.rpc(method, "0x" + t.hash.hex())) and got.get("status") == "0x1")
             for t in chosen)
    return f"{ok}/{len(chosen)}"


def summary_rows(report: dict[str, Any]) -> list[list[str]]:
    rows = []
    for kind, label in ((PUBLIC, "public (eth_sendRawTransaction)"),
                        (PRIVATE, "private (priv_distributeRawTransaction)")):
        runs = report["runs"][kind]
        median = report["median_tps"][kind]
        rows.append([label, f"{runs[0]['txs']:,}", " / ".join(f"{r['tps']:,.0f}" for r in runs),
                     f"{median:,.0f}", "1.00" if kind == PUBLIC else f"{report['ratio']:.2f}"])
    return rows


TABLE_COLUMNS = ["ERC-20 transfers", "txs a round", "tx/s per round", "median tx/s",
                 "× public"]

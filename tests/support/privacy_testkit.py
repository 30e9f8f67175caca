"""Privacy groups (issue 22) on a real network: a 4-member, 4-node CometBFT network (Bank A
on node0 … Bank D on node3), each member working through its own node's JSON-RPC; the
private ERC-20 (bench/contracts/BenchToken.sol, compiled once); and `plaintext_search`, which
looks for known byte strings in every file of a node's home (LMDB data.mdb files, CometBFT's
data/: blockstore, state, WAL; the tx journal; logs).

Everything here goes through the interfaces of docs/privacy.md (JSON-RPC `priv_*` and the
Privacy contract's Solidity signatures, encoded here with eth_abi), so the harness needs no
Python import of the feature's internals."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import httpx
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_hash.auto import keccak
from web3 import Web3

from consortium.contracts.compiler import CompiledContract, compile_file
from tests.support.evmutil import dev_accounts, receipt, send, web3_for
from tests.support.localnet import LocalNet, wait_for

MEMBERS = ["Bank A", "Bank B", "Bank C", "Bank D"]
VIA = {"Bank A": "node0", "Bank B": "node1", "Bank C": "node2", "Bank D": "node3"}
# The invoices service inside a group: Bank A sells, Bank B buys (and is a financing bank,
# but may not finance what it buys), Bank C finances.
ROLES = {"Bank A": ["seller"], "Bank B": ["buyer", "financing_bank"],
         "Bank C": ["financing_bank"]}
PRIVACY = "0x" + (0x1004).to_bytes(20, "big").hex()
TOKEN_SOURCE = Path(__file__).resolve().parents[2] / "bench" / "contracts" / "BenchToken.sol"
PRIVATE_GAS = 1_000_000


@cache
def token() -> CompiledContract:
    """The private ERC-20: the bench's BenchToken (constructor(address[] holders, uint256
    amount)), compiled once per session."""
    return compile_file(TOKEN_SOURCE, "BenchToken")


def selector(signature: str) -> bytes:
    return keccak(signature.encode())[:4]


def calldata(signature: str, *args: Any) -> bytes:
    """ABI calldata of `signature` (e.g. "transfer(address,uint256)") with `args`."""
    types = signature[signature.index("(") + 1:-1]
    return selector(signature) + abi_encode(_split_types(types), list(args))


def _split_types(types: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in types:
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
            continue
        depth += ch == "("
        depth -= ch == ")"
        cur += ch
    return [*out, cur] if cur else out


def hexb(data: bytes) -> str:
    return "0x" + data.hex()


def unhex(text: str) -> bytes:
    return bytes.fromhex(text.removeprefix("0x"))


def quantity(value: Any) -> int:
    """A JSON-RPC quantity: 0x-hex text, decimal text or a number."""
    return int(value, 0) if isinstance(value, str) else int(value)


class RpcError(Exception):
    def __init__(self, method: str, error: dict[str, Any]) -> None:
        self.error = error
        self.message = str(error.get("message", ""))
        super().__init__(f"{method}: {error}")


def rpc(url: str, method: str, *params: Any, timeout: float = 60) -> Any:
    """One JSON-RPC call; an error answer raises RpcError."""
    answer = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method,
                                   "params": list(params)}, timeout=timeout).json()
    if answer.get("error"):
        raise RpcError(method, answer["error"])
    return answer.get("result")


def answer_or_error(url: str, method: str, *params: Any) -> tuple[Any, RpcError | None]:
    try:
        return rpc(url, method, *params), None
    except RpcError as exc:
        return None, exc


# --- plaintext search -----------------------------------------------------------------------


def forms(value: bytes) -> list[bytes]:
    """The ways `value` may sit in a node's files: raw bytes, 0x-less hex (both cases: JSON
    logs and journals), and base64 at each of the three alignments (CometBFT's JSON-RPC and
    logs; the edges of each alignment trimmed so they do not depend on neighbours)."""
    out = [value, value.hex().encode(), value.hex().upper().encode()]
    if len(value) >= 12:
        for shift in range(3):
            enc = base64.b64encode(value[shift:])
            usable = (len(value) - shift) // 3 * 4
            out.append(enc[: usable][4 if shift else 0:])
    return [f for f in out if len(f) >= 8]


def _files(root: Path) -> Iterable[Path]:
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            path = Path(dirpath) / name
            try:
                if stat.S_ISREG(path.lstat().st_mode):
                    yield path
            except OSError:  # removed while walking (a WAL rotated)
                continue


def plaintext_search(root: Path, needles: Iterable[bytes]) -> dict[bytes, list[Path]]:
    """For each needle, every file under `root` that contains it (an empty list: none). Files
    are read while the node runs, each as it is at that moment (LMDB's data.mdb is readable
    while open; read() rather than mmap, so a file truncated meanwhile cannot fault)."""
    wanted = list(dict.fromkeys(needles))
    hits: dict[bytes, list[Path]] = {n: [] for n in wanted}
    for path in _files(root):
        try:
            data = path.read_bytes()
        except OSError:  # removed meanwhile (a rotated WAL, a compacted table)
            continue
        for needle in wanted:
            if needle in data:
                hits[needle].append(path)
    return hits


def search_named(root: Path, named: Mapping[str, bytes]) -> dict[str, list[str]]:
    """`plaintext_search` of each named value in all its `forms`: name -> the files (relative
    to `root`, with the form that matched) holding it; names found nowhere map to []."""
    by_form = {name: forms(value) for name, value in named.items()}
    hits = plaintext_search(root, [f for fs in by_form.values() for f in fs])
    out: dict[str, list[str]] = {}
    for name, fs in by_form.items():
        out[name] = sorted({f"{p.relative_to(root)} ({'raw' if f == named[name] else 'enc'})"
                            for f in fs for p in hits[f]})
    return out


# --- the network ----------------------------------------------------------------------------


class PrivacyNet:
    """The members, their nodes and the calls of the privacy feature, each member through its
    own node. `tip` is the highest public block a step made; a member's node is waited for
    until it holds it before the member acts (as the forum test does)."""

    def __init__(self, net: LocalNet) -> None:
        self.net = net
        self.keys: dict[str, LocalAccount] = dev_accounts(net)
        self.tip = 0
        self._w3: dict[str, Web3] = {}

    # -- plumbing
    def node(self, member: str) -> str:
        return VIA[member]

    def url(self, member: str) -> str:
        return self.net.node(VIA[member]).api_url

    def home(self, member: str) -> Path:
        return self.net.network.node_home(self.net.node(VIA[member]))

    def addr(self, member: str) -> str:
        return str(self.keys[member].address)

    def w3(self, member: str) -> Web3:
        if member not in self._w3:
            self._w3[member] = web3_for(self.net, VIA[member])
        return self._w3[member]

    def height(self, member: str) -> int:
        return int(self.w3(member).eth.block_number)

    def synced(self, member: str, timeout: float = 60) -> str:
        """`member`'s API url once its node holds every block the steps so far made."""
        wait_for(lambda: self.height(member) >= self.tip, timeout,
                 f"{VIA[member]} to reach block {self.tip}")
        return self.url(member)

    def rpc(self, member: str, method: str, *params: Any) -> Any:
        return rpc(self.synced(member), method, *params)

    # -- public transactions and reads
    def transact(self, member: str, to: str, data: bytes, gas: int = 3_000_000) -> Any:
        """A public transaction of `member` through its node, committed with status 1."""
        self.synced(member)
        w3 = self.w3(member)
        rcpt = receipt(w3, send(w3, self.keys[member], {"to": Web3.to_checksum_address(to),
                                                        "data": hexb(data), "gas": gas}))
        assert rcpt["status"] == 1, f"{member}'s call to {to} failed: {rcpt}"
        self.tip = max(self.tip, int(rcpt["blockNumber"]))
        return rcpt

    def call(self, member: str, to: str, data: bytes) -> bytes:
        self.synced(member)
        return bytes(self.w3(member).eth.call({"to": Web3.to_checksum_address(to),
                                              "data": hexb(data)}))

    # -- group lifecycle (Privacy contract, docs/privacy.md)
    def cli(self, member: str, *argv: str) -> dict[str, Any]:
        """`consortium privacy ARGV --from MEMBER --json` through `member`'s node, as a user
        runs it (a subprocess): its JSON answer; the block it made becomes the tip."""
        proc = subprocess.run(
            [str(Path(sys.executable).parent / "consortium"), "privacy", *argv, "--from", member,
             "--dir", str(self.net.root), "--rpc", self.synced(member), "--json"],
            capture_output=True, text=True, timeout=120, check=False)
        assert proc.returncode == 0, f"consortium privacy {argv}: {proc.stderr or proc.stdout}"
        out: dict[str, Any] = json.loads(proc.stdout)
        if out.get("block") is not None:
            self.tip = max(self.tip, quantity(out["block"]))
        return out

    def register_node(self, member: str) -> dict[str, Any]:
        key: dict[str, Any] = self.rpc(member, "priv_proveNodeKey", self.addr(member))
        self.transact(member, PRIVACY, calldata("registerNode(bytes,bytes)",
                                                unhex(key["publicKey"]), unhex(key["signature"])))
        return key

    def create_group(self, founder: str, members: list[str], name: str) -> tuple[str, int]:
        """The group's id (0x-hex) and private chain id; founded by `founder`, pending until
        the others join."""
        made = self.rpc(founder, "priv_createPrivacyGroup",
                        {"name": name, "members": [self.addr(m) for m in members]})
        self.transact(founder, made["to"], unhex(made["data"]))
        return str(made["privacyGroupId"]), quantity(made["chainId"])

    def join(self, member: str, group: str) -> None:
        self.transact(member, PRIVACY, calldata("joinGroup(bytes32)", unhex(group)))

    def propose_change(self, member: str, group: str, add: list[str] | None = None,
                       remove: list[str] | None = None) -> Any:
        made = self.rpc(member, "priv_proposeMembersChange",
                        {"privacyGroupId": group, "add": [self.addr(m) for m in add or []],
                         "remove": [self.addr(m) for m in remove or []]})
        return self.transact(member, made["to"], unhex(made["data"]))

    def approve(self, member: str, group: str) -> Any:
        return self.transact(member, PRIVACY, calldata("approveChange(bytes32)", unhex(group)))

    def group(self, member: str, group: str) -> tuple[str, int, int, list[int], int, int]:
        out = self.call(member, PRIVACY, calldata("group(bytes32)", unhex(group)))
        return tuple(abi_decode(  # type: ignore[return-value]
            ["string", "uint8", "uint32", "uint256[]", "uint64", "uint64"], out))

    def root_at(self, member: str, group: str, height: int) -> tuple[bytes, int, bool]:
        """Privacy.rootAt: (first attested root, attestations, mismatch)."""
        out = self.call(member, PRIVACY, calldata("rootAt(bytes32,uint64)", unhex(group),
                                                  height))
        first, count, mismatch = abi_decode(["bytes32", "uint32", "bool"], out)
        return bytes(first), int(count), bool(mismatch)

    # -- private transactions (priv_*)
    def private_nonce(self, member: str, group: str, of: str | None = None) -> int:
        return int(rpc(self.url(member), "priv_getTransactionCount",
                       self.addr(of or member), group), 16)

    def sign_private(self, member: str, chain_id: int, nonce: int, to: str | None,
                     data: bytes, gas: int = PRIVATE_GAS) -> bytes:
        """`member`'s private transaction: the group's chain id, fees 0."""
        tx: dict[str, Any] = {"chainId": chain_id, "nonce": nonce, "gas": gas, "value": 0,
                              "maxFeePerGas": 0, "maxPriorityFeePerGas": 0, "data": hexb(data)}
        if to is not None:
            tx["to"] = Web3.to_checksum_address(to)
        return bytes(self.keys[member].sign_transaction(tx).raw_transaction)

    def distribute(self, member: str, group: str, raw: bytes) -> str:
        return str(rpc(self.url(member), "priv_distributeRawTransaction", hexb(raw), group))

    def private_receipt(self, member: str, tx_hash: str, timeout: float = 90) -> dict[str, Any]:
        url = self.url(member)
        try:
            found: dict[str, Any] = wait_for(
                lambda: rpc(url, "priv_getTransactionReceipt", tx_hash), timeout,
                f"{VIA[member]}'s private receipt of {tx_hash}")
        except AssertionError as exc:
            status = answer_or_error(url, "priv_getTransactionStatus", tx_hash)
            raise AssertionError(f"{exc}; its status there: {status}") from None
        marker = found.get("markerHash")
        if marker:  # the public block that carried it: later steps wait for it
            mined = self.w3(member).eth.get_transaction_receipt(marker)
            self.tip = max(self.tip, int(mined["blockNumber"]))
        return found

    def send_private(self, member: str, group: str, chain_id: int, to: str | None,
                     data: bytes, gas: int = PRIVATE_GAS) -> dict[str, Any]:
        """Sign, distribute through `member`'s node, wait for its private receipt (status
        1 asserted)."""
        nonce = self.private_nonce(member, group)
        tx_hash = self.distribute(member, group, self.sign_private(member, chain_id, nonce, to,
                                                                   data, gas))
        rcpt = self.private_receipt(member, tx_hash)
        assert int(rcpt["status"], 16) == 1, f"private tx of {member} failed: {rcpt}"
        return rcpt

    def deploy_token(self, member: str, group: str, chain_id: int, holders: list[str],
                     amount: int) -> str:
        init = token().bytecode + abi_encode(["address[]", "uint256"],
                                             [[self.addr(h) for h in holders], amount])
        rcpt = self.send_private(member, group, chain_id, None, init, gas=3_000_000)
        return str(rcpt["contractAddress"])

    def priv_call(self, member: str, group: str, to: str, data: bytes,
                  block: str | int = "latest") -> bytes:
        tag = hex(block) if isinstance(block, int) else block
        out = rpc(self.url(member), "priv_call", group, {"to": to, "data": hexb(data)}, tag)
        return unhex(str(out))

    def balance(self, member: str, group: str, token_at: str, holder: str,
                block: str | int = "latest") -> int:
        out = self.priv_call(member, group, token_at,
                             calldata("balanceOf(address)", self.addr(holder)), block)
        return int.from_bytes(out, "big")

    def state_root(self, member: str, group: str, block: str | int = "latest") -> dict[str, Any]:
        tag = hex(block) if isinstance(block, int) else block
        out: dict[str, Any] = rpc(self.url(member), "priv_getStateRoot", group, tag)
        return out


def new_privacy_net(root: Path) -> PrivacyNet:
    net = LocalNet(root, validators=4, members=MEMBERS, roles=ROLES)
    return PrivacyNet(net)

"""The explorer: the search box (a block number or hash, a transaction hash, an address, a
member name, an ISIN, an invoice fingerprint), block, transaction and address pages, the
member, instrument and invoice pages search lands on, and links to the CSV export.

Everything is read through the node's JSON-RPC in process: the explorer methods
(`consortium_decodeTransaction`, `consortium_getAddressTransactions`, the CSV route
`/api/v1/explorer/export.csv`) when the node has them, the Ethereum and service reads
otherwise. A bad or unknown identifier is the 404 page naming it, never an error trace.
"""

from __future__ import annotations

import importlib.util
import re
from typing import Any
from urllib.parse import urlencode

from eth_abi import decode
from eth_abi.exceptions import DecodingError
from eth_utils import to_checksum_address
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from consortium.console.app import PREFIX, Console, ConsoleRpcError, hexint

PAGE = 25  # an address page's transactions
EXPORT = "/api/v1/explorer/export.csv"
HASH = re.compile(r"(0x)?[0-9a-fA-F]{64}")
ADDRESS = re.compile(r"(0x)?[0-9a-fA-F]{40}")
ISIN = re.compile(r"[A-Z]{2}[A-Z0-9]{9}[0-9]")
HEIGHT = re.compile(r"[0-9]{1,19}")
CURSOR = re.compile(r"[0-9]{1,19}:[0-9]{1,9}")
NATIVE_LIMIT = 0x10000  # the native contracts' addresses are below this (their own pages)
MAX_TOKENS = 10  # ERC-20 contracts asked for an address's balance
BALANCE_OF, SYMBOL, DECIMALS = "0x70a08231", "0x95d89b41", "0x313ce567"


def routes(console: Console) -> list[BaseRoute]:
    pages = ExplorerPages(console)
    return [
        Route("/explorer", pages.home, methods=["GET"]),
        Route("/search", pages.search, methods=["GET"]),
        Route("/block/{ident}", pages.block, methods=["GET"]),
        Route("/tx/{hash}", pages.transaction, methods=["GET"]),
        Route("/address/{address}", pages.address, methods=["GET"]),
        Route("/member/{name}", pages.member, methods=["GET"]),
        Route("/isin/{isin}", pages.instrument, methods=["GET"]),
        Route("/invoice/{fingerprint}", pages.invoice, methods=["GET"]),
    ]


def _hash(text: str) -> str | None:
    return ("0x" + text.removeprefix("0x").lower()) if HASH.fullmatch(text) else None


def _address(text: str) -> str | None:
    return to_checksum_address("0x" + text.removeprefix("0x")) if ADDRESS.fullmatch(text) else None


def _known(status: Any) -> bool:
    return isinstance(status, dict) and status.get("status") not in (None, "unknown")


def export_url(kind: str, **query: Any) -> str:
    """A link to the node's CSV export (the REST route, same origin)."""
    params = {"kind": kind, **{k: v for k, v in query.items() if v not in (None, "")}}
    return f"{EXPORT}?{urlencode(params)}"


class ExplorerPages:
    """The explorer's handlers over one node's console."""

    def __init__(self, console: Console) -> None:
        self.console = console

    async def _rpc(self, request: Request, method: str, *params: Any) -> Any:
        """A read that answers None for a bad or unknown identifier (the node's refusal)
        or a method the node does not have."""
        if not self.console.has_method(method):
            return None
        try:
            return await self.console.rpc(method, *params, request=request)
        except ConsoleRpcError:
            return None

    # --- search -----------------------------------------------------------------------

    async def search(self, request: Request) -> Response:
        query = request.query_params.get("q", "").strip()
        target = await self.resolve(request, query) if query else None
        if target is None:
            return self.console.not_found(request, what="block, transaction, address, member, "
                                          "ISIN or invoice", searched=query)
        return RedirectResponse(PREFIX + target, status_code=303)

    async def resolve(self, request: Request, query: str) -> str | None:
        """The console path `query` names, or None."""
        if HEIGHT.fullmatch(query):
            latest = hexint(await self.console.rpc("eth_blockNumber", request=request))
            return f"/block/{int(query)}" if int(query) <= latest else None
        if (digest := _hash(query)) is not None:
            if (await self._rpc(request, "eth_getTransactionByHash", digest) is not None
                    or await self._known_status(request, digest)):
                return f"/tx/{digest}"
            if await self._rpc(request, "eth_getBlockByHash", digest, False) is not None:
                return f"/block/{digest}"
            if await self._rpc(request, "consortium_invoice", digest) is not None:
                return f"/invoice/{digest}"
            return None
        if (address := _address(query)) is not None:
            return f"/address/{address}"
        if ISIN.fullmatch(query.upper()) and await self._rpc(
                request, "consortium_instrument", query.upper()) is not None:
            return f"/isin/{query.upper()}"
        member = await self._rpc(request, "consortium_member", query)
        if member is not None:
            return f"/member/{member.get('name', query)}"
        return None

    async def _known_status(self, request: Request, digest: str) -> bool:
        """Whether this node knows the transaction (pending, queued or refused too)."""
        return _known(await self._rpc(request, "consortium_getTransactionStatus", digest))

    # --- pages --------------------------------------------------------------------------

    async def home(self, request: Request) -> Response:
        latest = hexint(await self.console.rpc("eth_blockNumber", request=request))
        calls = [{"jsonrpc": "2.0", "id": h, "method": "eth_getBlockByNumber",
                  "params": [hex(h), False]} for h in range(latest, max(0, latest - 10), -1)]
        answers = await self.console.jsonrpc.handle(calls) if calls else []
        blocks = [a["result"] for a in answers or [] if a.get("result")]
        return self.console.page(request, "explorer.html", active="explorer", latest=latest,
                                 blocks=blocks, export=EXPORT)

    async def block(self, request: Request) -> Response:
        ident = request.path_params["ident"]
        if HEIGHT.fullmatch(ident):
            found = await self._rpc(request, "eth_getBlockByNumber", hex(int(ident)), True)
        elif (digest := _hash(ident)) is not None:
            found = await self._rpc(request, "eth_getBlockByHash", digest, True)
        else:
            found = None
        if found is None:
            return self.console.not_found(request, what="block", searched=ident)
        number = hexint(found["number"])
        latest = hexint(await self.console.rpc("eth_blockNumber", request=request))
        return self.console.page(
            request, "block.html", active="explorer", block=found, number=number,
            latest=latest, csv=export_url("transactions", fromBlock=number, toBlock=number))

    async def transaction(self, request: Request) -> Response:
        ident = request.path_params["hash"]
        digest = _hash(ident)
        if digest is None:
            return self.console.not_found(request, what="transaction", searched=ident)
        tx = await self._rpc(request, "eth_getTransactionByHash", digest)
        receipt = await self._rpc(request, "eth_getTransactionReceipt", digest)
        decoded = await self._rpc(request, "consortium_decodeTransaction", digest)
        status = await self._rpc(request, "consortium_getTransactionStatus", digest)
        if tx is None and decoded is None and not _known(status):
            return self.console.not_found(request, what="transaction", searched=ident)
        return self.console.page(
            request, "transaction.html", active="explorer", hash=digest, tx=tx or {},
            receipt=receipt, decoded=decoded, tx_status=status or {},
            decoding=self.console.has_method("consortium_decodeTransaction"))

    async def address(self, request: Request) -> Response:
        ident = request.path_params["address"]
        address = _address(ident)
        if address is None:
            return self.console.not_found(request, what="address", searched=ident)
        before = request.query_params.get("before")
        if before is not None and not CURSOR.fullmatch(before):
            return self.console.not_found(request, what="page of transactions", searched=before)
        options: dict[str, Any] = {"limit": PAGE}
        if before:
            options["before"] = before
        # one batch: the ledger answers them all in one worker thread
        balance, nonce, code, history, member, holdings, cash, abi = \
            await self.console.rpc_batch([
                ("eth_getBalance", [address, "latest"]),
                ("eth_getTransactionCount", [address, "latest"]),
                ("eth_getCode", [address, "latest"]),
                ("consortium_getAddressTransactions", [address, options]),
                ("consortium_member", [address]), ("consortium_holdings", [address]),
                ("consortium_cashBalances", [address]), ("consortium_getAbi", [address]),
            ], request=request)
        if balance is None or nonce is None or code is None:
            raise ConsoleRpcError(f"the node did not answer the reads of {address}", 0)
        return self.console.page(
            request, "address.html", active="explorer", address=address,
            tokens=await self.token_balances(request, address, history),
            balance=balance, nonce=hexint(nonce), code_size=(len(code) - 2) // 2,
            member=member, holdings=holdings, cash=cash, abi=abi,
            history=history, before=before,
            indexed=self.console.has_method("consortium_getAddressTransactions"),
            csv=export_url("transactions", address=address),
            csv_events=export_url("events", address=address))

    async def token_balances(self, request: Request, address: str,
                             history: dict[str, Any] | None) -> list[dict[str, Any]]:
        """ERC-20 balances of `address` in the contracts its listed transactions went to
        (its own transfers, and the token transfers to it the index lists by their event):
        balanceOf, symbol and decimals read with eth_call; contracts that do not answer
        them are left out."""
        contracts = []
        for tx in (history or {}).get("transactions", []):
            to = tx.get("to")
            if to and int(to, 16) >= NATIVE_LIMIT and to not in contracts:
                contracts.append(to)
        # only those with code are asked (an account's eth_call costs as much as a contract's)
        codes = await self.console.rpc_batch(
            [("eth_getCode", [c, "latest"]) for c in contracts], request=request)
        contracts = [c for c, code in zip(contracts, codes, strict=True)
                     if isinstance(code, str) and code != "0x"][:MAX_TOKENS]
        if not contracts:
            return []
        word = bytes.fromhex(address[2:]).rjust(32, b"\0").hex()
        calls = [("eth_call", [{"to": c, "data": data}, "latest"]) for c in contracts
                 for data in (BALANCE_OF + word, SYMBOL, DECIMALS)]
        answers = await self.console.rpc_batch(calls, request=request)
        out = []
        for i, contract in enumerate(contracts):
            balance, symbol, decimals = answers[i * 3: i * 3 + 3]
            if not isinstance(balance, str):  # not an ERC-20 (or the call was refused)
                continue
            try:
                amount = decode(["uint256"], bytes.fromhex(balance[2:]))[0]
                name = decode(["string"], bytes.fromhex(symbol[2:]))[0] if symbol else ""
                places = decode(["uint8"], bytes.fromhex(decimals[2:]))[0] if decimals else 0
            except (TypeError, ValueError, DecodingError):
                continue
            out.append({"contract": to_checksum_address(contract), "symbol": name,
                        "balance": amount, "decimals": places})
        return out

    async def member(self, request: Request) -> Response:
        name = request.path_params["name"]
        found = await self._rpc(request, "consortium_member", name)
        if found is None:
            return self.console.not_found(request, what="member", searched=name)
        return self.console.page(request, "record.html", active="explorer",
                                 kind="Member", title=found.get("name", name), record=found)

    async def instrument(self, request: Request) -> Response:
        isin = request.path_params["isin"].upper()
        found = await self._rpc(request, "consortium_instrument", isin) if ISIN.fullmatch(
            isin) else None
        if found is None:
            return self.console.not_found(request, what="instrument", searched=isin)
        holders = await self._rpc(request, "consortium_holders", isin)
        # the securities page (order book, trading) when this console has it
        market = (f"/securities/{isin}"
                  if importlib.util.find_spec("consortium.console.securities") else None)
        return self.console.page(request, "record.html", active="explorer",
                                 kind="Instrument", title=isin, record=found, market=market,
                                 extra={"holders": holders} if holders else None)

    async def invoice(self, request: Request) -> Response:
        ident = request.path_params["fingerprint"]
        digest = _hash(ident)
        found = await self._rpc(request, "consortium_invoice", digest) if digest else None
        if found is None:
            return self.console.not_found(request, what="invoice", searched=ident)
        return self.console.page(request, "record.html", active="explorer", kind="Invoice",
                                 title=digest, record=found)

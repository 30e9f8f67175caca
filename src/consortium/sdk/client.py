"""`ConsortiumClient`: web3.py set up for a Consortium node, plus the few things every
application repeats — send a signed transaction and wait for its receipt, deploy, call."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from typing import Any, cast
from urllib.parse import urlsplit

import requests
from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from requests.adapters import HTTPAdapter
from web3 import Web3
from web3.exceptions import ContractLogicError, TransactionNotFound, Web3RPCError
from web3.providers.rpc.utils import ExceptionRetryConfiguration
from web3.types import TxParams

from consortium.errors import ConsortiumError, ExecutionReverted, NetworkError, TxError
from consortium.sdk.credentials import (
    CA_ENV,
    CERT_ENV,
    KEY_ENV,
    TOKEN_ENV,
    ApiCredentials,
    same_origin,
)


class TxFailed(TxError):
    """A transaction was included but reverted (receipt status 0)."""


def call_tx(to: bytes, data: bytes, sender: LocalAccount | str | None = None) -> dict[str, Any]:
    """The transaction fields of a call of `data` at `to` (from `sender`, if given)."""
    tx = {"to": Web3.to_checksum_address(to), "data": Web3.to_hex(data)}
    if sender is not None:
        tx["from"] = Web3.to_checksum_address(sender if isinstance(sender, str)
                                              else sender.address)
    return tx


def refusal_message(url: str, response: requests.Response | None) -> str:
    """One line for an HTTP refusal: the node's own reason (its JSON-RPC error body) and
    what to set when it is about the credential."""
    if response is None:
        return f"{url} refused the request"
    try:
        reason = str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        reason = response.reason or "refused"
    hint = {401: f" (set {TOKEN_ENV} to a token of this node)",
            403: " (a token of a larger scope is needed)"}.get(response.status_code, "")
    return f"{url} answered HTTP {response.status_code}: {reason}{hint}"


# What the TLS library says of a certificate from a CA the client does not trust
UNKNOWN_CA = ("unable to get local issuer certificate", "self-signed certificate",
              "self signed certificate", "unable to verify the first certificate")
# What a plain-HTTP request to a TLS port ends with: the server drops the connection
DROPPED = ("RemoteDisconnected", "Connection reset by peer", "Connection aborted",
           "BadStatusLine")


# What a TLS connection ends with when the server wants a client certificate and gets none
# (or one it does not take): it closes the connection (EOF, no HTTP answer) or sends an alert
CLIENT_CERT_REFUSALS = ("EOF occurred in violation of protocol", "UNEXPECTED_EOF",
                        "CERTIFICATE_REQUIRED", "certificate required", "UNKNOWN_CA",
                        "unknown ca", "BAD_CERTIFICATE", "bad certificate",
                        "UNSUPPORTED_CERTIFICATE", "unsupported certificate")


def unreachable_message(url: str, exc: BaseException,
                        credentials: ApiCredentials | None = None) -> str:
    """One line for a request to `url` that failed before any answer: the cause and, for
    the TLS mistakes an operator makes, what to set (the CA of `CONSORTIUM_API_CA`, an
    https URL, the client certificate of `CONSORTIUM_API_CERT` a node with `auth = "mtls"`
    asks for). `credentials`: what the request presented (default: the environment's)."""
    text = str(exc)
    scheme = urlsplit(url).scheme
    client_cert = (credentials.client_cert if credentials is not None
                   else os.environ.get(CERT_ENV) or None)
    if "CERTIFICATE_VERIFY_FAILED" in text:
        found = re.search(r"certificate verify failed: (.+?)\.?(?: \(_ssl\.c:\d+\)|'\)|$)",
                          text)
        reason = found.group(1).strip() if found else "certificate verify failed"
        if any(what in reason for what in UNKNOWN_CA):
            ca = os.environ.get(CA_ENV)
            hint = (f"it is not signed by the CA in {CA_ENV} ({ca}): set {CA_ENV} to the "
                    "consortium's CA certificate file" if ca else
                    f"set {CA_ENV} to the consortium's CA certificate file (the ca.pem of "
                    "`consortium tls ca`)")
        elif "mismatch" in reason.lower():
            hint = (f"it was not made for {urlsplit(url).hostname}: dial a host name or "
                    "address it names, or make one that names this one (`consortium tls "
                    "cert --host`)")
        elif "expired" in reason:
            hint = "give the node a new certificate (`consortium tls cert`)"
        else:
            hint = f"check it with `consortium tls check` ({CA_ENV} names the CA to trust)"
        return f"cannot reach {url}: its TLS certificate is refused ({reason}); {hint}"
    if scheme == "https" and any(what in text for what in (*CLIENT_CERT_REFUSALS, *DROPPED)):
        if client_cert is None:
            return (f"cannot reach {url}: the node closed the TLS connection without an "
                    "answer, as a node does that asks for a client certificate (auth = "
                    f"\"mtls\"): set {CERT_ENV} and {KEY_ENV} to one (the .pem and .key "
                    "`consortium tls cert --client-scope` wrote)")
        return (f"cannot reach {url}: the node closed the TLS connection without an answer; "
                f"if it takes client certificates (auth = \"mtls\"), it refused the one in "
                f"{CERT_ENV} ({client_cert}): it must be a client certificate of the CA in "
                "its api.tls_client_ca (`consortium tls check --ca … --cert …`)")
    if scheme == "http" and any(what in text for what in DROPPED):
        https = "https" + url[len("http"):]
        return (f"cannot reach {url}: the node closed the connection without an answer; if "
                f"its API serves TLS (tls_cert in its consortium.toml), use {https}")
    if scheme == "https" and ("WRONG_VERSION_NUMBER" in text or "record layer" in text):
        plain = "http" + url[len("https"):]
        return (f"cannot reach {url}: the node does not answer TLS there; if its API serves "
                f"plain HTTP (no tls_cert in its consortium.toml), use {plain}")
    return f"cannot reach {url}: {exc}"


class TlsRefused(requests.RequestException):
    """The node's TLS certificate was refused, or it answered no TLS: a mistake of
    configuration that no retry mends. Not a `requests.ConnectionError`, which web3 retries
    (five times, about 3 s) before the error shows."""


# What TLS says when the certificate is refused (unknown CA, wrong host, expired) and when
# the port speaks no TLS
TLS_REFUSALS = ("CERTIFICATE_VERIFY_FAILED", "WRONG_VERSION_NUMBER")


class _FailFastTls(HTTPAdapter):
    """requests' adapter raising `TlsRefused` instead of its SSLError when the node's
    certificate is refused or its port speaks no TLS, so the client says so at once; other
    TLS errors (a connection cut during the handshake) stay connection errors, retried."""

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
             ) -> requests.Response:
        try:
            return super().send(request, *args, **kwargs)
        except requests.exceptions.SSLError as exc:
            if not any(what in str(exc) for what in TLS_REFUSALS):
                raise
            raise TlsRefused(*exc.args, request=exc.request, response=exc.response) from exc


class ConsortiumClient:
    def __init__(self, rpc_url: str, timeout: float = 30.0,
                 credentials: ApiCredentials | None = None) -> None:
        """`credentials`: the token or client certificate, and the CA, for a node whose API
        needs them (default: from the environment, `CONSORTIUM_API_TOKEN`,
        `CONSORTIUM_API_CERT` and `CONSORTIUM_API_KEY`, `CONSORTIUM_API_CA`)."""
        self.rpc_url = rpc_url
        self.credentials = credentials or ApiCredentials.from_env()
        # requests takes the CA as a file path (httpx, in http_options, a context)
        request: dict[str, Any] = {"timeout": timeout,
                                   "verify": self.credentials.ca_cert or True}
        if self.credentials.client_cert is not None:  # a node with auth = "mtls"
            request["cert"] = self.credentials.cert()
        if self.credentials.token:
            request["headers"] = {"Content-Type": "application/json",
                                  **self.credentials.headers()}
        # Retry what may pass on a second try (no connection yet, a timeout), not a refusal:
        # web3 would repeat a 401 or 403 five times before saying so, and a refused TLS
        # certificate (`_FailFastTls`) too.
        retry = ExceptionRetryConfiguration(errors=(requests.ConnectionError, requests.Timeout))
        session = requests.Session()
        session.mount("https://", _FailFastTls())
        self.w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs=request, session=session,
                                         exception_retry_configuration=retry))

    def http_options(self, url: str) -> dict[str, Any]:
        """`httpx` options for a request to `url`: this client's credentials when `url` is
        on its node, none for another node (a token is for its own node only)."""
        if not same_origin(url, self.rpc_url):
            return {}
        return {"headers": self.credentials.headers(), "verify": self.credentials.verify()}

    @property
    def chain_id(self) -> int:
        return self._rpc(lambda: self.w3.eth.chain_id)

    def _rpc(self, fn: Any) -> Any:
        try:
            return fn()
        except ContractLogicError as exc:
            raise ExecutionReverted(str(exc.message or exc), data=None) from None
        except Web3RPCError as exc:
            message = exc.rpc_response.get("error", {}).get("message") if exc.rpc_response else None
            raise TxError(message or str(exc)) from None
        except requests.HTTPError as exc:
            raise NetworkError(refusal_message(self.rpc_url, exc.response)) from None
        except (ConnectionError, OSError) as exc:
            raise NetworkError(unreachable_message(
                self.rpc_url, exc, self.credentials)) from None

    def send(self, account: LocalAccount, tx: dict[str, Any], *, wait: bool = True,
             timeout: float = 60) -> dict[str, Any]:
        """Fill nonce, chain id, gas and fees; sign; submit; wait for the receipt."""
        tx = {"from": account.address, "maxFeePerGas": 0, "maxPriorityFeePerGas": 0, **tx}
        tx.setdefault("chainId", self.chain_id)
        tx.setdefault("nonce", self._rpc(
            lambda: self.w3.eth.get_transaction_count(account.address, "pending")))
        if "gas" not in tx:
            estimate = self._rpc(lambda: self.w3.eth.estimate_gas(cast(TxParams, tx)))
            tx["gas"] = int(estimate * 1.2) + 10_000
        signed = account.sign_transaction(tx)
        tx_hash = self._submit(signed.raw_transaction, bytes(signed.hash))
        if not wait:
            return {"transactionHash": tx_hash}
        receipt = self.wait_receipt(tx_hash, timeout)
        if receipt["status"] != 1:
            raise TxFailed(
                f"transaction {tx_hash.hex()} reverted in block {receipt['blockNumber']}")
        return receipt

    def _submit(self, raw: bytes, tx_hash: bytes) -> Any:
        """eth_sendRawTransaction of `raw`; its hash. web3 sends it again after a connection
        error (a keep-alive connection the node closed as it was sent): when the first try
        had reached the node, the second is "already known" with this very hash — the node
        holds the transaction, which is what the send was for."""
        try:
            return self._rpc(lambda: self.w3.eth.send_raw_transaction(raw))
        except TxError as exc:
            if exc.message.startswith("already known") and "0x" + tx_hash.hex() in exc.message:
                return HexBytes(tx_hash)
            raise

    # --- a contract call given as (to, data): what every typed client (governance, the
    # services) sends and reads

    def eth(self, method: str, *args: Any) -> Any:
        """`w3.eth.<method>(*args)`, a node's error raised as this client's."""
        return self._rpc(lambda: getattr(self.w3.eth, method)(*args))

    def call_data(self, to: bytes, data: bytes, block: Any = "latest",
                  sender: LocalAccount | str | None = None) -> bytes:
        """eth_call of `data` at `to` (from `sender`, an account or its address)."""
        return bytes(self.eth("call", call_tx(to, data, sender), block))

    def estimate(self, account: LocalAccount | str, to: bytes, data: bytes) -> int:
        """The gas `account` calling `data` at `to` would use now, or ExecutionReverted with
        the contract's reason."""
        return int(self.eth("estimate_gas", call_tx(to, data, account)))

    def send_data(self, account: LocalAccount, to: bytes, data: bytes, *, gas: int,
                  nonce: int | None = None) -> bytes:
        """Sign and send a call without waiting; answers the transaction hash."""
        tx = call_tx(to, data, account) | {"gas": gas}
        if nonce is not None:
            tx["nonce"] = nonce
        return bytes(self.send(account, tx, wait=False)["transactionHash"])

    def confirm(self, tx_hash: bytes, to: bytes, data: bytes, timeout: float = 60, *,
                replay_after: bool = False) -> tuple[dict[str, Any], int]:
        """Wait for a sent call's receipt: it and its block number, or ExecutionReverted
        saying why the call failed (replayed from its sender on the state before its block;
        `replay_after`: after it)."""
        receipt = self.wait_receipt(tx_hash, timeout)
        number = int(receipt["blockNumber"])
        if receipt["status"] != 1:
            block = number if replay_after else number - 1
            raise self.reverted(tx_hash, number,
                                lambda: self.call_data(to, data, block, receipt["from"]))
        return receipt, number

    def reverted(self, tx_hash: Any, number: int, replay: Callable[[], Any]) -> ExecutionReverted:
        """The error of a transaction that reverted in block `number`, saying why: the
        reason of its call replayed (`replay`), else only "execution reverted"."""
        reason = "execution reverted"
        try:
            replay()
        except ExecutionReverted as err:
            reason = err.message
        except Exception:
            pass
        return ExecutionReverted(
            f"transaction {Web3.to_hex(tx_hash)} reverted in block {number}: {reason}")

    def wait_receipt(self, tx_hash: Any, timeout: float = 60) -> dict[str, Any]:
        """The receipt once the transaction commits; past `timeout`, an error saying what
        the node knows of it — above all whether it may still commit (then sending it again
        would do it twice)."""
        deadline = time.monotonic() + timeout
        while True:
            receipt = self._rpc(lambda: self._receipt_or_none(tx_hash))
            if receipt is not None:
                return dict(receipt)
            if time.monotonic() > deadline:
                raise NetworkError(self.unconfirmed(Web3.to_hex(tx_hash), timeout))
            time.sleep(0.1)

    def transaction_status(self, tx_hash: str) -> dict[str, Any]:
        """What this node knows of a transaction (`consortium_getTransactionStatus`):
        {"status": committed | pending | queued | rejected | unknown, "blockNumber",
        "reason"}."""
        return dict(self.request("consortium_getTransactionStatus", tx_hash))

    def request(self, method: str, *params: Any) -> Any:
        """One JSON-RPC call of a method web3 does not know (`consortium_*`, `priv_*`): its
        result, or a TxError with the node's message."""
        answer = self._rpc(lambda: self.w3.provider.make_request(
            method, list(params)))  # type: ignore[arg-type]
        error = answer.get("error")
        if error:
            raise TxError(str(error.get("message") or error))
        return answer.get("result")

    def unconfirmed(self, tx_hash: str, timeout: float) -> str:
        """Why a transaction has no receipt after `timeout` seconds, in the user's terms."""
        try:
            status = self.transaction_status(tx_hash)
        except ConsortiumError:
            status = {"status": "unknown"}
        state, reason = status.get("status"), status.get("reason")
        if state in ("pending", "queued"):
            return (f"transaction {tx_hash} has no receipt after {timeout:.0f}s but the node "
                    f"holds it ({state}{': ' + reason if reason else ''}): it may still "
                    "commit (the chain may be halted or slow), so do not send it again; "
                    f"follow it with `consortium tx {tx_hash}`")
        if state == "committed":  # committed since the last poll
            return (f"transaction {tx_hash} committed in block "
                    f"{int(status.get('blockNumber') or '0x0', 16)} just after {timeout:.0f}s "
                    f"of waiting: see `consortium tx {tx_hash}`")
        return (f"no receipt for {tx_hash} after {timeout:.0f}s and the node reports it "
                f"{state}{': ' + reason if reason else ''}")

    def _receipt_or_none(self, tx_hash: Any) -> Any:
        try:
            return self.w3.eth.get_transaction_receipt(tx_hash)
        except TransactionNotFound:
            return None

    def deploy(self, account: LocalAccount, abi: list[dict[str, Any]], bytecode: bytes,
               *args: Any) -> tuple[str, dict[str, Any]]:
        factory = self.w3.eth.contract(abi=abi, bytecode=bytecode)
        # build_transaction with every field given only encodes (no node round trip)
        data = factory.constructor(*args).build_transaction({
            "from": account.address, "nonce": 0, "gas": 1, "chainId": 1, "maxFeePerGas": 0,
            "maxPriorityFeePerGas": 0})["data"]
        receipt = self.send(account, {"data": data})
        return receipt["contractAddress"], receipt

    def contract(self, address: str, abi: list[dict[str, Any]]) -> Any:
        return self.w3.eth.contract(address=Web3.to_checksum_address(address), abi=abi)

    def call(self, address: str, abi: list[dict[str, Any]], fn: str, *args: Any) -> Any:
        return self._rpc(lambda: getattr(self.contract(address, abi).functions, fn)(*args).call())

    def transact(self, account: LocalAccount, address: str, abi: list[dict[str, Any]], fn: str,
                 *args: Any) -> dict[str, Any]:
        data = self.contract(address, abi).encode_abi(fn, args=list(args))
        return self.send(account, {"to": Web3.to_checksum_address(address), "data": data})


__all__ = ["ConsortiumClient", "TxFailed", "ConsortiumError"]

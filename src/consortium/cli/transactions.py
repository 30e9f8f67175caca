"""`consortium tx HASH`: where a transaction is (committed, pending, queued, rejected or
unknown to the node) and, once committed, its receipt in short — what a user asks after a
write timed out: did it go through, or may it still, or will it never?"""

from __future__ import annotations

import time
from typing import Any

import typer
from eth_typing import HexStr

from consortium.cli import kit

TxHashArg = typer.Argument(..., help="The transaction's hash (0x and 64 hex digits).",
                           parser=kit.hex32("a transaction hash"))


@kit.with_read_options
def tx(tx_hash: str = TxHashArg,
       wait: float = typer.Option(0, "--wait", min=0, help="Seconds to wait for it to commit "
                                  "(0: answer at once)."),
       *, opts: kit.Signing) -> None:
    """A transaction's status on the node (committed, pending, queued, rejected, unknown),
    with its receipt once committed; exit 1 unless committed."""
    from consortium.sdk import ConsortiumClient

    hashed = tx_hash
    client = ConsortiumClient(kit.endpoint(opts.rpc, opts.dir))
    deadline = time.monotonic() + wait
    status = client.transaction_status(hashed)
    while status["status"] in ("pending", "queued") and time.monotonic() < deadline:
        time.sleep(0.2)
        status = client.transaction_status(hashed)
    found: dict[str, Any] = {"hash": hashed, **status}
    if status["status"] == "committed":
        receipt = client.w3.eth.get_transaction_receipt(HexStr(hashed))
        found |= {"success": receipt["status"] == 1, "from": receipt["from"],
                  "to": receipt["to"], "gasUsed": receipt["gasUsed"],
                  "logs": len(receipt["logs"]),
                  "contractAddress": receipt.get("contractAddress")}
    block = status.get("blockNumber")
    opts.show(found, lambda: kit.table(f"Transaction {hashed}", ["", ""], [
        [k, v] for k, v in [
            ["status", status["status"] + ("" if "success" not in found else
                                           " (success)" if found["success"] else " (reverted)")],
            ["block", int(block, 16) if block else ""], ["reason", status.get("reason") or ""],
            ["from", found.get("from", "")], ["to", found.get("to") or ""],
            ["gas used", found.get("gasUsed", "")], ["logs", found.get("logs", "")]]
        if v != ""]))
    if status["status"] in ("pending", "queued") and not opts.json_out:
        kit.err_console.print("not committed yet: it may still commit, so do not send it "
                              "again (`--wait 60` waits for it)", highlight=False)
    if status["status"] != "committed":
        raise typer.Exit(1)

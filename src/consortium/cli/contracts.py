"""`consortium contract deploy / call / send`: user contracts in Vyper or Solidity."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from consortium.cli import kit
from consortium.errors import ConfigError

app = typer.Typer(help="Deploy and use EVM contracts (Vyper, Solidity).", no_args_is_help=True)


def _load_abi(address: str, abi_file: Path | None, dir: Path) -> list[dict[str, Any]]:
    path = abi_file or kit.resolve_dir(dir) / "contracts" / f"{address.lower()}.json"
    if not path.is_file():
        raise ConfigError(f"no ABI for {address}: pass --abi FILE (an ABI or a deploy artifact) "
                          "or deploy it with `consortium contract deploy` first")
    try:
        data = json.loads(path.read_text())
    except ValueError as exc:
        raise ConfigError(f"{path} is not JSON: {exc}") from None
    return data["abi"] if isinstance(data, dict) else data


def coerce(abi_type: str, text: str) -> Any:
    """A command-line string as the ABI type wants it."""
    try:
        if abi_type.endswith("]") or abi_type.startswith("("):
            return json.loads(text)
        if abi_type.startswith(("uint", "int")):
            return int(text, 0)
        if abi_type == "bool":
            if text.lower() not in ("true", "false", "1", "0"):
                raise ValueError("expected true or false")
            return text.lower() in ("true", "1")
        if abi_type == "address":
            from web3 import Web3

            return Web3.to_checksum_address(text)
        if abi_type.startswith("bytes"):
            return bytes.fromhex(text.removeprefix("0x"))
        return text
    except ValueError as exc:
        raise ConfigError(f"argument {text!r} is not a valid {abi_type}: {exc}") from None


def _function(abi: list[dict[str, Any]], name: str, nargs: int) -> dict[str, Any]:
    candidates = [e for e in abi if e.get("type") == "function" and e.get("name") == name]
    if not candidates:
        names = sorted({e["name"] for e in abi if e.get("type") == "function"})
        raise ConfigError(f"no function {name!r} (functions: {', '.join(names)})")
    for entry in candidates:
        if len(entry.get("inputs", [])) == nargs:
            return entry
    raise ConfigError(f"{name} takes {len(candidates[0].get('inputs', []))} arguments, "
                      f"got {nargs}")


def _args(entry: dict[str, Any] | None, args: list[str]) -> list[Any]:
    inputs = entry.get("inputs", []) if entry else []
    if len(inputs) != len(args):
        raise ConfigError(f"expected {len(inputs)} arguments, got {len(args)}")
    return [coerce(i["type"], a) for i, a in zip(inputs, args, strict=True)]


@app.command()
@kit.with_signing
def deploy(
    source: Path = typer.Argument(..., help="A .vy or .sol file."),
    args: list[str] | None = typer.Argument(None, help="Constructor arguments."),
    contract: str | None = typer.Option(None, "--contract", help="Contract name in a .sol file."),
    *, signing: kit.Signing,
) -> None:
    """Compile and deploy a contract; its ABI is kept in DIR/contracts/<address>.json."""
    from consortium.contracts.compiler import compile_file
    from consortium.sdk import ConsortiumClient

    compiled = compile_file(source, contract)
    ctor = next((e for e in compiled.abi if e.get("type") == "constructor"), None)
    values = _args(ctor, args or [])
    client = ConsortiumClient(kit.endpoint(signing.rpc, signing.dir))
    address, receipt = client.deploy(signing.signer(), compiled.abi, compiled.bytecode, *values)
    folder = kit.resolve_dir(signing.dir) / "contracts"
    if folder.parent.is_dir():
        folder.mkdir(exist_ok=True)
        (folder / f"{address.lower()}.json").write_text(
            json.dumps({"name": compiled.name, "address": address, "abi": compiled.abi,
                        "source": str(source)}, indent=2) + "\n")
    result = {"contract": compiled.name, "address": address,
              "tx_hash": receipt["transactionHash"].hex(), "block": receipt["blockNumber"],
              "gas_used": receipt["gasUsed"]}
    signing.show(result, lambda: kit.table("Deployed", ["contract", "address", "tx", "block",
                                                       "gas"], [list(result.values())]))


AddressArg = typer.Argument(..., help="Contract address.")
FunctionArg = typer.Argument(..., help="Function name.")
ArgsArg = typer.Argument(None, help="Arguments.")
AbiOption = typer.Option(None, "--abi", help="ABI JSON or deploy artifact.")


def _calling(address: str, function: str, args: list[str] | None, abi_file: Path | None,
             opts: kit.Signing) -> tuple[Any, list[dict[str, Any]], list[Any]]:
    """The node's client, the contract's ABI and the function's arguments, coerced."""
    from consortium.sdk import ConsortiumClient

    abi = _load_abi(address, abi_file, opts.dir)
    entry = _function(abi, function, len(args or []))
    return ConsortiumClient(kit.endpoint(opts.rpc, opts.dir)), abi, _args(entry, args or [])


@app.command()
@kit.with_read_options
def call(address: str = AddressArg, function: str = FunctionArg,
         args: list[str] | None = ArgsArg, abi_file: Path | None = AbiOption, *,
         opts: kit.Signing) -> None:
    """Call a view function (no transaction)."""
    client, abi, values = _calling(address, function, args, abi_file, opts)
    value = client.call(address, abi, function, *values)
    opts.show({"result": value}, lambda: kit.console.print(value))


@app.command()
@kit.with_signing
def send(address: str = AddressArg, function: str = FunctionArg,
         args: list[str] | None = ArgsArg, abi_file: Path | None = AbiOption, *,
         signing: kit.Signing) -> None:
    """Send a transaction calling a contract function and wait for its receipt."""
    client, abi, values = _calling(address, function, args, abi_file, signing)
    receipt = client.transact(signing.signer(), address, abi, function, *values)
    result = {"tx_hash": receipt["transactionHash"].hex(), "block": receipt["blockNumber"],
              "status": receipt["status"], "gas_used": receipt["gasUsed"],
              "logs": len(receipt["logs"])}
    signing.show(result, lambda: kit.table("Sent", ["tx", "block", "status", "gas", "logs"],
                                           [list(result.values())]))

"""Compile a contract source file into ABI and deployable bytecode.

The EVM version is pinned to Prague, the fork the ledger runs (solc-js defaults to a newer
one whose opcodes py-evm would not know).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from consortium.errors import ConfigError

EVM_VERSION = "prague"


@dataclass(frozen=True)
class CompiledContract:
    name: str
    abi: list[dict[str, Any]]
    bytecode: bytes


def node_modules() -> Path:
    """The project's node_modules (installed by scripts/install.sh)."""
    return Path(__file__).resolve().parents[3] / "node_modules"


def compile_file(path: Path, contract: str | None = None) -> CompiledContract:
    if not path.is_file():
        raise ConfigError(f"contract source {path} does not exist")
    if path.suffix == ".vy":
        return compile_vyper(path.read_text(), path.stem)
    if path.suffix == ".sol":
        return compile_solidity(path.read_text(), path.name, contract)
    raise ConfigError(f"{path}: only .vy (Vyper) and .sol (Solidity) sources can be compiled")


def compile_vyper(source: str, name: str = "Contract") -> CompiledContract:
    import vyper
    from vyper.compiler.settings import Settings
    from vyper.exceptions import VyperException

    try:
        out = vyper.compile_code(
            source,
            output_formats=["abi", "bytecode"],
            settings=Settings(evm_version=EVM_VERSION),
        )
    except VyperException as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"Vyper compilation of {name} failed: {first}") from None
    return CompiledContract(name, out["abi"], bytes.fromhex(out["bytecode"].removeprefix("0x")))


def compile_solidity(
    source: str, filename: str = "Contract.sol", contract: str | None = None
) -> CompiledContract:
    node = shutil.which("node")
    modules = node_modules()
    if node is None or not (modules / "solc").is_dir():
        raise ConfigError(
            "Solidity needs Node.js and solc-js: run scripts/install.sh (npm install)"
        )
    request = {
        "language": "Solidity",
        "sources": {filename: {"content": source}},
        "settings": {
            "evmVersion": EVM_VERSION,
            "optimizer": {"enabled": True, "runs": 200},
            "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}},
        },
    }
    proc = subprocess.run(
        [node, str(Path(__file__).with_name("solc_compile.js"))],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        env={"NODE_PATH": str(modules), "PATH": "/usr/bin:/bin"},
        timeout=300,
    )
    if proc.returncode != 0:
        raise ConfigError(f"solc failed: {proc.stderr.strip()[-300:]}")
    out = json.loads(proc.stdout)
    errors = [e for e in out.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise ConfigError(f"Solidity compilation failed: {errors[0]['formattedMessage'].strip()}")
    contracts = out["contracts"][filename]
    if contract is None:
        deployable = [n for n, c in contracts.items() if c["evm"]["bytecode"]["object"]]
        if not deployable:
            raise ConfigError(f"{filename} has no deployable contract")
        contract = deployable[-1]
    if contract not in contracts:
        raise ConfigError(f"{filename} has no contract {contract} (has {', '.join(contracts)})")
    c = contracts[contract]
    return CompiledContract(contract, c["abi"], bytes.fromhex(c["evm"]["bytecode"]["object"]))

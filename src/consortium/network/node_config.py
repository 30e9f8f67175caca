"""A node's own settings, `HOME/consortium.toml`, beside CometBFT's `HOME/config/`.

Loaded and checked once at start, so a malformed file stops the node with one line naming
the problem rather than a traceback after the engine has started.

`[consortium] key_file` names the consortium key (relative to the home): the secret the
members share for invoice fingerprints (`consortium.apps.invoices.fingerprint`). It stays off
chain; `consortium init` writes the same key into every node home of a local network.

`[api]` holds, beside `host` and `port`, the limits on what clients may hold of the API
server (`consortium.api.http_server.ApiLimits`: timeouts, connection and WebSocket caps)
on expensive reads (`consortium.api.read_gate.ReadLimits`: gas cap, call timeout,
concurrency) and on what one client address or credential may ask
(`consortium.api.rate_limits.ClientLimits`: request rates, batch and body sizes, WebSockets
and subscriptions per credential), each optional with a safe default; and who may reach
the API and how (`consortium.api.auth.ApiAccess`: `auth`, `allow_open`, `tls_cert`, `tls_key`,
`cors_origins`; docs/api-access.md).

`[console] enabled` (default true) serves the web console at the API's `/console`; false
answers 404 there.

`[metrics] listen = "HOST:PORT"` serves the node's Prometheus metrics on a port of their own
(without auth) besides the API's `/metrics` (docs/operations.md).
"""

from __future__ import annotations

import difflib
import hashlib
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, TypeVar

import tomlkit
from tomlkit.exceptions import TOMLKitError

from consortium.api.auth import ApiAccess, parse_access
from consortium.api.http_server import ApiLimits
from consortium.api.rate_limits import ClientLimits
from consortium.api.read_gate import ReadLimits
from consortium.errors import ConfigError

CONFIG_FILE = "consortium.toml"
MAX_UNIX_SOCKET_PATH = 100  # sun_path is 108 bytes on Linux, keep a margin
API_PROCESSES = ("node", "own")  # where the API runs (`[api] process`)
DEFAULT_API_PROCESS = "own"  # consensus apart from every client request
ENGINES = ("revm", "py-evm")  # revm falls back to py-evm, with a log line, if not built
DEFAULT_ENGINE = "revm"  # the differential suite (tests/unit/test_engine_differential.py) passes


@dataclass
class NodeConfig:
    home: Path
    name: str
    member: str
    api_host: str = "127.0.0.1"
    api_port: int = 8545
    engine: str = DEFAULT_ENGINE
    log_level: str = "info"
    consortium_key_file: str | None = None  # relative to home
    api_limits: ApiLimits = field(default_factory=ApiLimits)
    read_limits: ReadLimits = field(default_factory=ReadLimits)
    client_limits: ClientLimits = field(default_factory=ClientLimits)
    api_access: ApiAccess = field(default_factory=ApiAccess)
    metrics_listen: tuple[str, int] | None = None  # `[metrics] listen`: a port of their own
    console_enabled: bool = True  # `[console] enabled`: the web console at /console
    # `[api] process`: "node" serves the API in the node's process; "own" in a process of
    # its own (`network.api_process`), off the interpreter lock blocks execute under
    api_process: str = DEFAULT_API_PROCESS

    @property
    def consortium_key_path(self) -> Path:
        return self.home / (self.consortium_key_file or "consortium.key")

    @property
    def api_url(self) -> str:
        """Where this host reaches the node's API: https when it serves TLS, loopback when
        it listens on every address."""
        host = "127.0.0.1" if self.api_host in ("0.0.0.0", "::", "") else self.api_host
        if ":" in host:
            host = f"[{host}]"
        scheme = "https" if self.api_access.tls_cert else "http"
        return f"{scheme}://{host}:{self.api_port}"

    @property
    def app_dir(self) -> Path:
        return self.home / "app"

    @property
    def abci_socket(self) -> Path:
        """The ABCI unix socket, inside the home unless that path is too long for a socket."""
        return self._socket("abci")

    @property
    def checks_socket(self) -> Path:
        """Where an API in its own process hears CheckTx answers (`api.check_relay`)."""
        return self._socket("checktx")

    @property
    def metrics_socket(self) -> Path:
        """Where an API in its own process reads the node's metrics (`api.metrics_relay`)."""
        return self._socket("metrics")

    def _socket(self, name: str) -> Path:
        path = self.home / f"{name}.sock"
        if len(str(path)) <= MAX_UNIX_SOCKET_PATH:
            return path
        digest = hashlib.sha256(str(self.home).encode()).hexdigest()[:16]
        suffix = "" if name == "abci" else f"-{name}"  # the ABCI socket's name as it was
        return Path("/tmp") / f"consortium-{digest}{suffix}.sock"

    @property
    def log_file(self) -> Path:
        return self.home / "node.log"

    @property
    def pid_file(self) -> Path:
        return self.home / "node.pid"

    def save(self) -> None:
        """Write `HOME/consortium.toml`. An existing file is updated in place (a tomlkit
        round trip): only the settings that differ from what it says now are written, so
        every other key, comment and table of the operator's stays as it was, including
        keys this class does not model."""
        path = self.home / CONFIG_FILE
        wanted = _settings(self)
        if path.is_file():
            current = _settings(NodeConfig.load(self.home))
            try:
                doc = tomlkit.parse(path.read_text())
            except TOMLKitError as exc:
                raise ConfigError(f"{path} is not valid TOML: {exc}") from None
        else:
            current = _settings(NodeConfig(self.home, self.name, self.member))
            for always in _ALWAYS_WRITTEN:
                current.pop(always)
            doc = tomlkit.document()
            doc.add(tomlkit.comment("Consortium node settings; CometBFT's own are in config/"))
        for (name, key), value in wanted.items():
            if (name, key) in current and current[name, key] == value:
                continue
            table: Any = doc.get(name)
            if value is None:
                if table is not None and key in table:
                    del table[key]
                continue
            if table is None:
                table = doc[name] = tomlkit.table()
            table[key] = value
        path.write_text(tomlkit.dumps(doc))

    @classmethod
    def load(cls, home: Path) -> NodeConfig:
        path = home / CONFIG_FILE
        data = read_toml(path, f"{home} is not a node home: {CONFIG_FILE} is missing")
        check_known(data, path)
        node = _table(data, "node", path)
        api = _table(data, "api", path)
        shared = _table(data, "consortium", path)
        cfg = cls(
            home=home,
            name=_str(node, "name", path),
            member=_str(node, "member", path),
            api_host=_str(api, "host", path, "127.0.0.1"),
            api_port=_port(api, "port", path),
            engine=_str(node, "engine", path, DEFAULT_ENGINE),
            log_level=_str(node, "log_level", path, "info"),
            consortium_key_file=(
                _str(shared, "key_file", path) if "key_file" in shared else None
            ),
            api_limits=_limits(ApiLimits, api, path),
            read_limits=_limits(ReadLimits, api, path),
            client_limits=_limits(ClientLimits, api, path),
            api_access=parse_access(api, path),
            metrics_listen=_listen(_table(data, "metrics", path), path),
            console_enabled=_enabled(_table(data, "console", path), path),
            api_process=_str(api, "process", path, DEFAULT_API_PROCESS),
        )
        if cfg.api_process not in API_PROCESSES:
            raise ConfigError(f"{path}: api.process must be one of {', '.join(API_PROCESSES)} "
                              f"(not {cfg.api_process!r})")
        if cfg.engine not in ENGINES:
            raise ConfigError(f"{path}: node.engine must be one of {', '.join(ENGINES)}")
        if cfg.log_level not in ("debug", "info", "warning", "error"):
            raise ConfigError(f"{path}: node.log_level must be debug, info, warning or error")
        return cfg


# what a new consortium.toml always names; the other settings only when not the default
_ALWAYS_WRITTEN = (("node", "name"), ("node", "member"), ("node", "engine"),
                   ("node", "log_level"), ("api", "host"), ("api", "port"))


def _settings(cfg: NodeConfig) -> dict[tuple[str, str], Any]:
    """Every setting of `cfg` as (table, key) -> its TOML value (None: the key is absent),
    in the order a new file lists them: what `save` compares with the file's."""
    access = cfg.api_access
    listen = None
    if cfg.metrics_listen is not None:
        host, port = cfg.metrics_listen
        listen = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    settings: dict[tuple[str, str], Any] = {
        ("node", "name"): cfg.name, ("node", "member"): cfg.member,
        ("node", "engine"): cfg.engine, ("node", "log_level"): cfg.log_level,
        ("api", "host"): cfg.api_host, ("api", "port"): cfg.api_port,
        ("api", "auth"): access.auth, ("api", "allow_open"): access.allow_open,
        ("api", "tls_cert"): access.tls_cert, ("api", "tls_key"): access.tls_key,
        ("api", "tls_client_ca"): access.tls_client_ca,
        ("api", "cors_origins"): list(access.cors_origins),
        ("api", "process"): None if cfg.api_process == DEFAULT_API_PROCESS else cfg.api_process,
    }
    for limits in (cfg.api_limits, cfg.read_limits, cfg.client_limits):
        for spec in fields(limits):
            settings["api", spec.name] = getattr(limits, spec.name)
    settings["consortium", "key_file"] = cfg.consortium_key_file
    settings["metrics", "listen"] = listen
    settings["console", "enabled"] = cfg.console_enabled
    return settings


def known_settings() -> dict[str, tuple[str, ...]]:
    """Every section of consortium.toml and the keys it takes (`[state_sync]`'s are read
    by `ledger.snapshots.SnapshotConfig` and `network.state_sync.JoinSettings`)."""
    limits = tuple(f.name for cls in (ApiLimits, ReadLimits, ClientLimits) for f in fields(cls))
    return {
        "node": ("name", "member", "engine", "log_level"),
        "api": ("host", "port", "auth", "allow_open", "tls_cert", "tls_key", "tls_client_ca",
                "cors_origins", "process", *limits),
        "consortium": ("key_file",),
        "metrics": ("listen",),
        "console": ("enabled",),
        "state_sync": ("enable", "rpc_servers", "trust_period", "snapshot_interval",
                       "snapshot_keep", "snapshot_chunk_bytes"),
    }


def check_known(data: dict[str, Any], path: Path) -> None:
    """Refuse a section or key consortium.toml does not take (a typo would otherwise be
    ignored, its default used): one line naming each, with the nearest known name."""
    known = known_settings()

    def near(name: str, names: list[str]) -> str | None:
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
        return close[0] if close else None

    problems = []
    for section, value in data.items():
        if section not in known:
            guess = near(section, list(known))
            problems.append(f"unknown section [{section}] " + (
                f"(did you mean [{guess}]?)" if guess else f"(sections: {', '.join(known)})"))
        elif isinstance(value, dict):
            for key in value:
                if key not in known[section]:
                    guess = near(key, list(known[section]))
                    problems.append(f"unknown key {section}.{key}" + (
                        f" (did you mean {section}.{guess}?)" if guess else ""))
        else:
            problems.append(f"{section} must be a section ([{section}]), not a key")
    if problems:
        raise ConfigError(f"{path}: " + "; ".join(problems))


def read_toml(path: Path, missing: str) -> dict[str, Any]:
    """A config file's TOML, or ConfigError: `missing` if it is not there, else what is
    wrong with it."""
    if not path.is_file():
        raise ConfigError(missing)
    try:
        return tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None


def _table(data: dict[str, Any], key: str, path: Path) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: [{key}] must be a table")
    return value


def _str(table: dict[str, Any], key: str, path: Path, default: str | None = None) -> str:
    value = table.get(key, default)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{path}: {key} must be a non-empty string")
    return value


def _listen(metrics: dict[str, Any], path: Path) -> tuple[str, int] | None:
    """`[metrics] listen = "HOST:PORT"`: where Prometheus may scrape the node's metrics
    besides the API's /metrics (unset: nowhere else)."""
    value = metrics.get("listen")
    if value is None:
        return None
    host, _, port = value.rpartition(":") if isinstance(value, str) else ("", "", "")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ConfigError(f"{path}: metrics.listen must look like \"127.0.0.1:9464\" "
                          f"(HOST:PORT), got {value!r}")
    return host.strip("[]"), int(port)


def _enabled(console: dict[str, Any], path: Path) -> bool:
    value = console.get("enabled", True)
    if not isinstance(value, bool):
        raise ConfigError(f"{path}: console.enabled must be true or false, got {value!r}")
    return value


def _port(table: dict[str, Any], key: str, path: Path) -> int:
    value = table.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise ConfigError(f"{path}: api.{key} must be a port number (1-65535), got {value!r}")
    return value


L = TypeVar("L", ApiLimits, ReadLimits, ClientLimits)
PER_CLIENT_CAPS = ("max_connections_per_client", "max_websockets_per_client",  # 0: no cap
                   "requests_per_second_per_client", "requests_per_second_per_credential",
                   "max_websockets_per_credential", "max_subscriptions_per_credential")


def _limits(cls: type[L], api: dict[str, Any], path: Path) -> L:
    """The `[api]` limits of dataclass `cls` that the file sets, the defaults for the
    others (`ApiLimits`: connections; `ReadLimits`: expensive reads; `ClientLimits`: rates
    and sizes)."""
    limits = cls()
    changes: dict[str, Any] = {}
    for spec in fields(cls):
        if spec.name not in api:
            continue
        value = api[spec.name]
        default = getattr(limits, spec.name)
        least = 0 if spec.name in PER_CLIENT_CAPS else 1
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise ConfigError(f"{path}: api.{spec.name} must be true or false "
                                  f"(default {str(default).lower()}), got {value!r}")
            changes[spec.name] = value
        elif isinstance(default, float):
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ConfigError(f"{path}: api.{spec.name} must be a number of seconds "
                                  f"above 0 (default {default:g}), got {value!r}")
            changes[spec.name] = float(value)
        else:
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ConfigError(f"{path}: api.{spec.name} must be an integer of at least "
                                  f"{least} (default {default}), got {value!r}")
            changes[spec.name] = value
    return replace(limits, **changes)

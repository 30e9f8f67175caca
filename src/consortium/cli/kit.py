"""One import for a command module: `from consortium.cli import kit`, then `kit.table`,
`kit.Signing`, `kit.add_reads` — the shared options and consoles (`common`), accounts and
outcomes (`services`) and the commands built from a service's declaration
(`service_commands`)."""

from consortium.cli.common import (
    DirOption,
    FromOption,
    JsonOption,
    PasswordFileOption,
    ReasonOption,
    RpcOption,
    Signing,
    chain_member_account,
    console,
    endpoint,
    err_console,
    password_or_prompt,
    print_json,
    read_password,
    report,
    resolve_dir,
    signer,
    table,
    with_read_options,
    with_reading,
    with_signing,
)
from consortium.cli.service_commands import (
    add_reads,
    add_writes,
    read_command,
    rows,
    write_command,
)
from consortium.cli.services import (
    account,
    done,
    height,
    history_table,
    members,
    namer,
    one_of,
    party,
    proposed,
)

__all__ = ["DirOption", "FromOption", "JsonOption", "PasswordFileOption", "ReasonOption",
           "RpcOption", "Signing", "account", "add_reads", "add_writes", "chain_member_account",
           "console", "done", "endpoint", "err_console", "height", "history_table", "members",
           "namer", "one_of", "party", "password_or_prompt", "print_json", "proposed",
           "read_command", "read_password", "report", "resolve_dir", "rows", "signer", "table",
           "with_read_options", "with_reading", "with_signing", "write_command"]

"""`consortium api-token create / list / revoke` and `consortium tls ca / cert / check`:
who may use a node's API, and the certificates it serves HTTPS with."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from consortium.api.auth import TokenFile
from consortium.cli.kit import console, show, table
from consortium.errors import ConfigError
from consortium.network.node_config import CONFIG_FILE

token_app = typer.Typer(help="Bearer tokens for a node's API (stored hashed in the node home).",
                        no_args_is_help=True)
tls_app = typer.Typer(help="A consortium CA and node certificates for the API's TLS.",
                      no_args_is_help=True)

HomeOption = typer.Option(..., "--home", help="The node home (holds consortium.toml).")


def _tokens(home: Path) -> TokenFile:
    home = home.expanduser().resolve()
    if not (home / CONFIG_FILE).is_file():
        raise ConfigError(f"{home} is not a node home: {CONFIG_FILE} is missing")
    return TokenFile(home)


@token_app.command("create")
def create(
    home: Path = HomeOption,
    scope: str = typer.Option(..., "--scope", help="read, submit (read + send transactions) "
                              "or admin (everything)."),
    name: str = typer.Option(..., "--name", help="A name to list and revoke it by."),
    expires: int | None = typer.Option(None, "--expires", help="Days until it expires "
                                       "(default: never)."),
) -> None:
    """Create a token and print its secret: the only time it is shown."""
    secret = _tokens(home).create(name, scope, expires)
    sys.stdout.write(secret + "\n")
    sys.stderr.write(f"token {name!r} ({scope}) created; keep it secret: it is not stored "
                     "and cannot be shown again\n")


@token_app.command("list")
def list_tokens(home: Path = HomeOption,
                json_out: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """The node's tokens: name, scope, dates and state (never the secrets)."""
    rows = [{"name": t.name, "scope": t.scope, "created": t.created, "expires": t.expires,
             "revoked": t.revoked, "state": t.state()} for t in _tokens(home).load()]
    columns = ["name", "scope", "state", "created", "expires", "revoked"]
    show(rows, json_out, lambda: table("API tokens", columns, [[r[c] for c in columns]
                                                             for r in rows]))


@token_app.command("revoke")
def revoke(name: str = typer.Argument(..., help="The token's name."),
           home: Path = HomeOption) -> None:
    """Revoke a token; a running node refuses it from its next request."""
    token = _tokens(home).revoke(name)
    console.print(f"token {token.name!r} revoked at {token.revoked}")


@tls_app.command("ca")
def ca(out: Path = typer.Option(..., "--out", help="Folder for ca.key (600) and ca.pem."),
       name: str = typer.Option("Consortium CA", "--name", help="The CA's common name.")) -> None:
    """Create a consortium CA (for a test or pilot)."""
    from consortium.network.tls import make_ca

    key, cert = make_ca(out.expanduser(), name)
    console.print(f"CA key {key} (keep it offline), certificate {cert} (give it to clients)")


@tls_app.command("cert")
def cert(
    ca_dir: Path = typer.Option(..., "--ca", help="The CA folder (from `consortium tls ca`)."),
    name: str = typer.Option(..., "--name", help="The node's name: NAME.key and NAME.pem."),
    host: list[str] = typer.Option([], "--host", help="A host name or IP address clients "
                                   "dial (repeat; a node certificate needs one)."),
    out: Path = typer.Option(..., "--out", help="Folder for the key and certificate."),
    client_scope: str | None = typer.Option(
        None, "--client-scope", help="Make a client certificate for `auth = \"mtls\"` "
        "instead, granting this API scope: read, submit or admin."),
) -> None:
    """Create a node certificate signed by the CA, valid for the given hosts (or, with
    --client-scope, a client certificate)."""
    from consortium.network.tls import make_cert

    key, crt = make_cert(ca_dir.expanduser(), name, host, out.expanduser(), client_scope)
    if client_scope:
        use = "give them to the client"
    else:  # the paths as the node reads them (relative ones from its home): absolute here
        use = (f"set them in the [api] section of the node's {CONFIG_FILE} (then restart "
               f'it):\n  tls_cert = "{crt.resolve()}"\n  tls_key = "{key.resolve()}"')
    console.print(f"key {key}, certificate {crt}; {use}", markup=False, highlight=False)


@tls_app.command("check")
def check(cert_path: Path = typer.Option(..., "--cert", help="A certificate (PEM)."),
          ca_dir: Path = typer.Option(..., "--ca", help="The CA folder.")) -> None:
    """Check that a certificate was signed by the CA."""
    from consortium.network.tls import check_signed_by

    check_signed_by(cert_path.expanduser(), ca_dir.expanduser())
    console.print(f"{cert_path} is signed by the CA in {ca_dir}")

"""A consortium CA and node certificates for the API's TLS, for a test or a pilot.

`make_ca` writes `ca.key` (mode 600) and `ca.pem`; `make_cert` writes `NAME.key` (600) and
`NAME.pem`, signed by that CA, with a subject alternative name for each host name or IP
address given. Both refuse to overwrite, and write each file whole (a temporary file
renamed into place) or not at all. ECDSA P-256 keys: small, fast handshakes, accepted by
every TLS client. A production consortium may use its own PKI instead: the node only needs
a certificate chain and key (`[api] tls_cert`, `tls_key`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import os
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from consortium.api.auth import SCOPES
from consortium.errors import ConfigError

CA_KEY, CA_CERT = "ca.key", "ca.pem"
CA_DAYS = 3650
CERT_DAYS = 825  # the longest a TLS server certificate is commonly trusted for


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Consortium"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _write_all(files: dict[Path, tuple[bytes, int]]) -> None:
    """Write every file or none: each to a temporary name first, then renamed."""
    for path in files:
        if path.exists():
            raise ConfigError(f"{path} exists already: choose another --out or remove it")
    temps: list[Path] = []
    try:
        for path, (data, mode) in files.items():
            tmp = path.with_name(f".{path.name}.tmp")
            temps.append(tmp)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
        for path, tmp in zip(files, temps, strict=True):
            os.replace(tmp, path)
    finally:
        for tmp in temps:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()


def make_ca(out: Path, name: str = "Consortium CA") -> tuple[Path, Path]:
    """A new CA in `out`: (key path, certificate path)."""
    out.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder()
            .subject_name(_name(name)).issuer_name(_name(name))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False,
                                         decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    paths = out / CA_KEY, out / CA_CERT
    _write_all({paths[0]: (_key_pem(key), 0o600),
                paths[1]: (cert.public_bytes(serialization.Encoding.PEM), 0o644)})
    return paths


def load_ca(ca_dir: Path) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """The CA of `ca_dir` (made by `make_ca`), checked: its key matches its certificate."""
    key_path, cert_path = ca_dir / CA_KEY, ca_dir / CA_CERT
    for path in (key_path, cert_path):
        if not path.is_file():
            raise ConfigError(f"{ca_dir} is not a CA folder: {path.name} is missing "
                              "(make one with `consortium tls ca --out DIR`)")
    try:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{ca_dir}: the CA key or certificate does not load: {exc}") from None
    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or (
            key.public_key().public_bytes(*spki) != cert.public_key().public_bytes(*spki)):
        raise ConfigError(f"{ca_dir}: {CA_KEY} is not the key of {CA_CERT}")
    return key, cert


def make_cert(ca_dir: Path, name: str, hosts: list[str], out: Path,
              client_scope: str | None = None) -> tuple[Path, Path]:
    """A server certificate for `name`, valid for `hosts` (names or IP addresses), signed
    by the CA in `ca_dir`: (key path, certificate path) in `out`. With `client_scope`, a
    client certificate instead, whose organizational unit is that API scope (`auth =
    "mtls"`); `hosts` may then be empty."""
    if client_scope is not None and client_scope not in SCOPES:
        raise ConfigError(f"--client-scope must be one of {', '.join(SCOPES)}, got "
                          f"{client_scope!r}")
    if not hosts and client_scope is None:
        raise ConfigError("give at least one --host (a name or IP address clients dial)")
    if not name or "/" in name or name.startswith("."):
        raise ConfigError(f"--name must be a plain file name, got {name!r}")
    ca_key, ca_cert = load_ca(ca_dir)
    sans: list[x509.GeneralName] = []
    for host in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            if not host or any(c.isspace() or c in "/:@" for c in host):
                raise ConfigError(f"--host {host!r} is neither an IP address nor a host name") \
                    from None
            sans.append(x509.DNSName(host))
    out.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    subject = _name(name) if client_scope is None else x509.Name(
        [*_name(name), x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, client_scope)])
    usage = ExtendedKeyUsageOID.CLIENT_AUTH if client_scope else ExtendedKeyUsageOID.SERVER_AUTH
    builder = x509.CertificateBuilder()
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = (builder
            .subject_name(subject).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(min(now + dt.timedelta(days=CERT_DAYS),
                                 ca_cert.not_valid_after_utc))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = out / f"{name}.key", out / f"{name}.pem"
    _write_all({paths[0]: (_key_pem(key), 0o600),
                paths[1]: (cert.public_bytes(serialization.Encoding.PEM), 0o644)})
    return paths


def check_signed_by(cert_path: Path, ca_dir: Path) -> None:
    """Refuse a certificate that the CA in `ca_dir` did not sign."""
    _, ca_cert = load_ca(ca_dir)
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{cert_path} is not a PEM certificate: {exc}") from None
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        raise ConfigError(f"{cert_path} is not signed by the CA in {ca_dir}") from None


def check_server_files(cert: Path, key: Path, client_ca: Path | None = None) -> None:
    """Refuse a certificate and key that do not load or do not belong together, or a
    client CA that does not load, before a server starts with them."""
    named = [("api.tls_cert", cert), ("api.tls_key", key)]
    for what, path in named + ([("api.tls_client_ca", client_ca)] if client_ca else []):
        if not path.is_file():
            raise ConfigError(f"{what} {path} does not exist")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key)
    except ssl.SSLError as exc:
        why = "the key does not match the certificate" if "KEY_VALUES_MISMATCH" in str(exc) \
            else f"they do not load ({exc.reason or exc})"
        raise ConfigError(f"api.tls_cert {cert} and api.tls_key {key}: {why}") from None
    if client_ca is not None:
        try:
            context.load_verify_locations(cafile=client_ca)
        except ssl.SSLError as exc:
            raise ConfigError(f"api.tls_client_ca {client_ca} is not a PEM CA certificate "
                              f"({exc.reason or exc})") from None

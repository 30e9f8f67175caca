"""What a client presents to a node whose API needs a credential (docs/api-access.md): a
bearer token or a TLS client certificate, and the CA certificate that the node's TLS
certificate chains to.

Taken from the environment unless given: `CONSORTIUM_API_TOKEN` (the secret `consortium
api-token create` printed), `CONSORTIUM_API_CA` (a PEM file, e.g. the consortium CA's
`ca.pem`; without it the system's trusted CAs verify the node), and for a node with `auth =
"mtls"` `CONSORTIUM_API_CERT` and `CONSORTIUM_API_KEY` (the client certificate and its key,
PEM files `consortium tls cert --client-scope` wrote; the key may instead be in the
certificate's file). Environment variables keep secrets out of shell history and process
listings, where a `--token` option would show.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from consortium.errors import ConfigError

TOKEN_ENV = "CONSORTIUM_API_TOKEN"
CA_ENV = "CONSORTIUM_API_CA"
CERT_ENV = "CONSORTIUM_API_CERT"
KEY_ENV = "CONSORTIUM_API_KEY"


@dataclass(frozen=True)
class ApiCredentials:
    token: str | None = None
    ca_cert: str | None = None
    client_cert: str | None = None  # a client certificate (PEM) for `auth = "mtls"`
    client_key: str | None = None  # its key (PEM); None: in `client_cert`'s file

    @classmethod
    def from_env(cls, token: str | None = None, ca_cert: str | None = None,
                 client_cert: str | None = None, client_key: str | None = None
                 ) -> ApiCredentials:
        token = token or os.environ.get(TOKEN_ENV) or None
        ca_cert = ca_cert or os.environ.get(CA_ENV) or None
        client_cert = client_cert or os.environ.get(CERT_ENV) or None
        client_key = client_key or os.environ.get(KEY_ENV) or None
        if ca_cert is not None and not Path(ca_cert).is_file():
            raise ConfigError(f"{CA_ENV}: the CA certificate {ca_cert} does not exist")
        if client_key is not None and client_cert is None:
            raise ConfigError(f"{KEY_ENV} is set but {CERT_ENV} is not: set both, the client "
                              "certificate and its key")
        for env, path in ((CERT_ENV, client_cert), (KEY_ENV, client_key)):
            if path is not None and not Path(path).is_file():
                raise ConfigError(f"{env}: {path} does not exist")
        credentials = cls(token.strip() if token else None, ca_cert, client_cert, client_key)
        if client_cert is not None:
            credentials.verify()  # a certificate and key that do not load: said now
        return credentials

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def cert(self) -> str | tuple[str, str] | None:
        """What `requests` (web3) takes as `cert`: the client certificate and its key."""
        if self.client_cert is None:
            return None
        return (self.client_cert, self.client_key) if self.client_key else self.client_cert

    def verify(self) -> ssl.SSLContext | bool:
        """What `httpx` takes as `verify`: a context trusting the CA file (else the
        system's CAs) and presenting the client certificate, or True (httpx's default CAs)
        without either. httpx 0.28+ deprecates a file path there and its `cert` option;
        `requests` (web3) takes `ca_cert` and `cert()` itself."""
        if self.ca_cert is None and self.client_cert is None:
            return True
        context = ssl.create_default_context(cafile=self.ca_cert)
        if self.client_cert is not None:
            try:
                context.load_cert_chain(self.client_cert, self.client_key)
            except (ssl.SSLError, OSError) as exc:
                why = ("the key does not match the certificate"
                       if "KEY_VALUES_MISMATCH" in str(exc) else
                       f"they do not load ({getattr(exc, 'reason', None) or exc})")
                raise ConfigError(f"{CERT_ENV} {self.client_cert} and {KEY_ENV} "
                                  f"{self.client_key or '(none: the key in the same file)'}: "
                                  f"{why}") from None
        return context


def same_origin(url: str, base: str) -> bool:
    """Whether `url` is on the node `base` names (a credential is for that node only)."""
    a, b = urlsplit(url), urlsplit(base)
    return (a.scheme, a.netloc) == (b.scheme, b.netloc)

"""What a client presents to a node whose API needs a credential (docs/api-access.md): a
bearer token, and the CA certificate that the node's TLS certificate chains to.

Taken from the environment unless given: `CONSORTIUM_API_TOKEN` (the secret `consortium
api-token create` printed) and `CONSORTIUM_API_CA` (a PEM file, e.g. the consortium CA's
`ca.pem`; without it the system's trusted CAs verify the node). Environment variables keep
secrets out of shell history and process listings, where a `--token` option would show.
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


@dataclass(frozen=True)
class ApiCredentials:
    token: str | None = None
    ca_cert: str | None = None

    @classmethod
    def from_env(cls, token: str | None = None, ca_cert: str | None = None) -> ApiCredentials:
        token = token or os.environ.get(TOKEN_ENV) or None
        ca_cert = ca_cert or os.environ.get(CA_ENV) or None
        if ca_cert is not None and not Path(ca_cert).is_file():
            raise ConfigError(f"{CA_ENV}: the CA certificate {ca_cert} does not exist")
        return cls(token.strip() if token else None, ca_cert)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def verify(self) -> ssl.SSLContext | bool:
        """What `httpx` takes as `verify`: a context trusting the CA file, or True (its
        default CAs). httpx 0.28+ deprecates a file path there; `requests` (web3) takes
        `ca_cert` itself."""
        return ssl.create_default_context(cafile=self.ca_cert) if self.ca_cert else True


def same_origin(url: str, base: str) -> bool:
    """Whether `url` is on the node `base` names (a credential is for that node only)."""
    a, b = urlsplit(url), urlsplit(base)
    return (a.scheme, a.netloc) == (b.scheme, b.netloc)

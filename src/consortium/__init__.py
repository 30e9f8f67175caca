"""Consortium: a permissioned blockchain for a consortium of financial institutions."""

from consortium import compiled as _compiled

__version__ = "0.1.0"

_compiled.install()  # the framework's compiled copies, when built from this source

"""`consortium notary …` as `src/consortium/cli/notary.py` would be: every command comes
from the declared surface. A real service's group is added to `GROUPS` in cli/main.py."""

from __future__ import annotations

from consortium.cli import kit
from tests.support.notary.surface import NOTARY

app = kit.ServiceTyper(help="Notarized documents.", no_args_is_help=True)
_client = kit.client_of("tests.support.notary.client", "NotaryClient")
kit.add_writes(app, NOTARY, _client)
kit.add_reads(app, NOTARY, _client)

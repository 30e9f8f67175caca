"""InitChain refuses a genesis whose app_state validators differ from the engine's."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from consortium.abci.protocol import types_pb2
from consortium.errors import ConfigError
from consortium.ledger.application import ConsortiumApp
from consortium.ledger.ledger import Ledger

KEY_A = base64.b64encode(b"\x01" * 32).decode()
KEY_B = base64.b64encode(b"\x02" * 32).decode()
ACCOUNT = "0x" + "11" * 20


def _request(engine_key: str, power: int = 10):
    from tendermint.crypto import keys_pb2  # type: ignore[import-not-found]

    app_state = {
        "members": [
            {
                "name": "Bank A",
                "accounts": [ACCOUNT],
                "validators": [{"pub_key": KEY_A, "power": 10}],
            }
        ]
    }
    return types_pb2.RequestInitChain(
        chain_id="t",
        initial_height=1,
        app_state_bytes=json.dumps(app_state).encode(),
        validators=[
            types_pb2.ValidatorUpdate(
                pub_key=keys_pb2.PublicKey(ed25519=base64.b64decode(engine_key)), power=power
            )
        ],
    )


def test_matching_validators_are_accepted(tmp_path: Path):
    ledger = Ledger(tmp_path / "app")
    try:
        assert len(ConsortiumApp(ledger).init_chain(_request(KEY_A)).app_hash) == 32
    finally:
        ledger.close()


@pytest.mark.parametrize(("key", "power"), [(KEY_B, 10), (KEY_A, 5)])
def test_mismatched_validators_are_refused(tmp_path: Path, key: str, power: int):
    ledger = Ledger(tmp_path / "app")
    try:
        with pytest.raises(ConfigError, match="do not match genesis.json"):
            ConsortiumApp(ledger).init_chain(_request(key, power))
        assert ledger.info() == (0, b"")
    finally:
        ledger.close()

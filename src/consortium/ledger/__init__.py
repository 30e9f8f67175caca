"""The ledger: the ABCI application's state machine over the execution engine (`consortium.evm`)
and the node's LMDB store.

Layers: the ledger imports `consortium.evm` and `consortium.system`, never the services
(`consortium.apps`), the API, the CLI or the network code. The native contracts it serves are
handed in by the node's startup (`Ledger(..., natives=consortium.natives.chain_natives())`).
It does import the system contracts (`consortium.system`: governance, permissions, nodes):
they are the chain's own rules the ledger applies itself — the member and frozen-account
checks at admission (`AccessView`), validator updates, the peer filter and software upgrades
— and they are written at genesis (`system_genesis`). The dependency runs one way: nothing in
`consortium.system` imports the ledger (`tests/unit/test_layers.py` checks both).
"""

"""Issue 21, backup and restore: a validator backed up while it commits a light load is
stopped, wiped and restored into its home; it starts (CometBFT replays the blocks between the
ledger's copy and its block store's), catches up, signs again as the same validator, and its
app hash agrees with the others' — but not while its key's signatures are in the last blocks
(CometBFT's double-sign check, which restore sets when it lacks the newest signing state).
A damaged copy of the same archive is refused in one line."""

from __future__ import annotations

import contextlib
import shutil
import tarfile
import threading

import httpx
import tomlkit

from consortium.cli.main import main
from consortium.errors import NetworkError
from consortium.network import supervisor
from consortium.network.backup import backup_node
from consortium.network.restore import restore_node
from tests.support.evmutil import dev_accounts
from tests.support.localnet import LocalNet, wait_for

BATCH = 10


class _Load:
    """Value transfers from one member through node0, a batch at a time, until stopped."""

    def __init__(self, net: LocalNet) -> None:
        accts = dev_accounts(net)
        self._sender, self._to = accts["Bank A"], accts["Bank B"].address
        self._url = net.node("node0").api_url
        self.hashes: list[str] = []
        self.errors: list[object] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        nonce = 0
        while not self._stop.wait(0.2):
            raws = [self._sender.sign_transaction({
                "to": self._to, "value": 1, "gas": 21000, "maxFeePerGas": 0,
                "maxPriorityFeePerGas": 0, "nonce": nonce + i, "chainId": 20251,
            }).raw_transaction for i in range(BATCH)]
            nonce += BATCH
            body = [{"jsonrpc": "2.0", "id": i, "method": "eth_sendRawTransaction",
                     "params": ["0x" + raw.hex()]} for i, raw in enumerate(raws)]
            for item in httpx.post(self._url, json=body, timeout=60).json():
                if "error" in item:
                    self.errors.append(item["error"])
                else:
                    self.hashes.append(item["result"])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)


def _receipts(url: str, hashes: list[str]) -> int:
    found = 0
    for at in range(0, len(hashes), 200):
        body = [{"jsonrpc": "2.0", "id": i, "method": "eth_getTransactionReceipt",
                 "params": [h]} for i, h in enumerate(hashes[at:at + 200])]
        found += sum(1 for item in httpx.post(url, json=body, timeout=60).json()
                     if item.get("result"))
    return found


def _signers(net: LocalNet, height: int) -> set[str]:
    r = httpx.get(f"{net.node('node0').rpc_url}/commit", params={"height": height}, timeout=5)
    sigs = r.json()["result"]["signed_header"]["commit"]["signatures"]
    return {s["validator_address"] for s in sigs if s["block_id_flag"] == 2}


# in the default run (26-48 s measured on the shared machine): backup and restore end to end
def test_a_validator_backed_up_under_load_is_restored_and_rejoins(localnet, tmp_path, capsys):
    net = localnet(validators=4)
    net.wait_height(2)
    node3 = net.node("node3")
    home = net.network.node_home(node3)
    address = net.engine_status("node3")["validator_info"]["address"]
    load = _Load(net)
    load.start()
    try:
        wait_for(lambda: _receipts(node3.api_url, load.hashes[:50]) >= 50, 120,
                 "node3 to commit 50 transfers")
        archive = tmp_path / "node3.tar"
        manifest = backup_node(home, archive, include_keys=True)
        assert manifest.engine_height is not None
        assert manifest.engine_height >= manifest.ledger_height >= 2
        assert manifest.includes_keys and manifest.chain_id == net.network.chain_id

        # the chain moves on after the backup; then node3 is lost with its whole home
        net.wait_height(manifest.engine_height + 5, ["node0"])
        net.down(["node3"])
        stopped_at = net.height("node0")
        shutil.rmtree(home)

        # a damaged copy is refused with one line and leaves nothing behind
        bad = tmp_path / "bad.tar"
        raw = bytearray(archive.read_bytes())
        with tarfile.open(archive) as tar:
            raw[tar.getmember("home/data/blockstore.db/CURRENT").offset_data] ^= 0x01
        bad.write_bytes(bytes(raw))
        capsys.readouterr()
        assert main(["restore", str(bad), "--home", str(home)]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "is corrupt: home/data/blockstore.db/CURRENT" in err
        assert not home.exists()

        # restored as the same validator without its newest signing state: CometBFT's
        # double-sign check refuses to start while its key signed any of the last N blocks
        # (here N covers the whole chain: the engine must refuse once it has caught up) ...
        done = restore_node(archive, home, as_validator=True, chain_id=net.network.chain_id,
                            double_sign_check=100_000)
        assert any("WARNING" in w for w in done.warnings)
        with contextlib.suppress(NetworkError):  # it may stop before its API answers
            net.up(["node3"])
        wait_for(lambda: supervisor.node_pid(home) is None, 180, "node3 to refuse to start")
        assert "found signature from the same key" in net.log("node3")
        # ... and, with the default N = 10, starts once the other three are past them
        config = tomlkit.parse((home / "config" / "config.toml").read_text())
        config["consensus"]["double_sign_check_height"] = 10  # type: ignore[index]
        (home / "config" / "config.toml").write_text(tomlkit.dumps(config))
        net.wait_height(stopped_at + 12, ["node0", "node1", "node2"], timeout=120)
        net.up(["node3"])
        wait_for(lambda: net.height("node3") >= net.height("node0") - 1, 180,
                 "node3 to catch up")
    finally:
        load.stop()
    assert not load.errors, load.errors[:3]
    top = net.height("node0")
    net.wait_height(top + 2, timeout=120)
    assert len({net.app_hash_at(n.name, top) for n in net.network.nodes}) == 1
    wait_for(lambda: address in _signers(net, net.height("node0") - 1), 60,
             "node3's validator to sign a commit again")
    wait_for(lambda: _receipts(node3.api_url, load.hashes) == len(load.hashes), 120,
             f"node3 to hold the receipts of all {len(load.hashes)} transfers")

"""The services' ledger driven for the Forum contract: task forces formed and changed by
Governance proposals (Bank A proposes, Banks A and B vote), officers elected, member keys
registered, and key epochs published the way the typed client does (a random channel key,
ECIES-wrapped for each member)."""

from __future__ import annotations

from typing import Any

from consortium.apps.forum.model import FORUM_ADDRESS
from consortium.apps.forum.reader import CALLS, ForumReader
from consortium.apps.forum.sealing import (
    context,
    new_channel_key,
    open_sealed,
    public_key_of,
    seal,
    unwrap_key,
    wrap_key,
)
from consortium.ledger.executor import decode_revert_reason
from consortium.system.abi_files import function
from consortium.system.model import GOVERNANCE_ADDRESS
from tests.support.services_testkit import BANK_A, BANK_B, ServiceChain, low


class ForumChain(ServiceChain):
    def __init__(self, ledger: Any) -> None:
        super().__init__(ledger, FORUM_ADDRESS, CALLS)
        self.read = ForumReader(self._call)

    def govern(self, method: str, *args: Any) -> int:
        """A Governance proposal of `method`, passed by Banks A and B: its id."""
        proposed = self.raw(BANK_A, GOVERNANCE_ADDRESS,
                            function("Governance", method).encode(*args))
        assert proposed.code == 0, decode_revert_reason(proposed.data) or proposed.log
        proposal_id = int.from_bytes(proposed.data, "big")
        for bank in (BANK_A, BANK_B):
            voted = self.vote(bank, proposal_id)
            assert voted.code == 0, decode_revert_reason(voted.data) or voted.log
        found = self.gov.proposal(proposal_id)
        assert found is not None and found["status"] == "executed", found
        return proposal_id

    def form(self, name: str, members: list[Any]) -> int:
        return self.govern("proposeFormTaskForce", name, f"the {name} task force",
                           members[0].address, [m.address for m in members])

    def set_members(self, name: str, members: list[Any]) -> int:
        return self.govern("proposeSetTaskForceMembers", name, members[0].address,
                           [m.address for m in members])

    def elect(self, office: str, holder: Any, term_blocks: int) -> int:
        return self.govern("proposeElectOfficer", office, holder.address, term_blocks)

    def register(self, *accounts: Any) -> None:
        for account in accounts:
            self.ok(account, "registerKey", public_key_of(account.key))

    def rotate(self, by: Any, channel: str, members: list[Any]) -> tuple[int, bytes]:
        """Publish a key epoch for `members`: (epoch, channel key)."""
        key = new_channel_key()
        epoch = self.ok(by, "rotateKey", channel, [m.address for m in members],
                        [wrap_key(key, public_key_of(m.key)) for m in members])
        return int(epoch), key

    def post_sealed(self, by: Any, channel: str, epoch: int, key: bytes, text: str) -> int:
        return int(self.ok(by, "post", channel, epoch,
                           seal(key, text.encode(), context(channel, epoch, "post"))))

    def open_as(self, reader: Any, post_id: int) -> str:
        """A private post's text as `reader` opens it with its own key."""
        post = self.read.post(post_id)
        assert post is not None
        wrapped = self.read.wrapped_key(post["channel"], post["epoch"], low(reader))
        key = unwrap_key(wrapped, reader.key)
        sealed = bytes.fromhex(post["content"][2:])
        return open_sealed(key, sealed, context(post["channel"], post["epoch"], "post")).decode()

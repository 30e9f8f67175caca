"""`consortium demo`: start a local consortium on the embedded defaults and show it working."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from consortium.cli.kit import DirOption, console, history_table, resolve_dir, table
from consortium.cli.network import progress
from consortium.cli.network import status as show_status
from consortium.errors import ExecutionReverted, NetworkError
from consortium.network import supervisor
from consortium.network.init import default_member_names, init_network
from consortium.network.layout import Network, NodeEntry


def demo(
    dir: Path = DirOption,
    validators: int = typer.Option(4, "--validators", "-n", help="Validator nodes."),
    fresh: bool = typer.Option(False, "--fresh", help="Recreate the network folder."),
) -> None:
    """Create (if needed) and start a local consortium, then run the demo scenario."""
    root = resolve_dir(dir)
    if fresh or not (root / "network.json").is_file():
        if fresh and (root / "network.json").is_file():
            supervisor.down(Network.load(root))
        init_network(root, validators=validators, roles=DEMO_ROLES, force=True,
                     members=[*default_member_names(validators), *INVOICE_PARTIES],
                     progress=progress)
    network = Network.load(root)
    supervisor.up(network, progress=progress)
    console.rule("[bold]Consensus")
    height = _min_height(network) + 3
    _wait_until(lambda: _min_height(network) >= height, 60, 0.3,
                f"the network did not reach height {height} in 60s")
    show_status(dir=root, json=False)
    hashes = {s.app_hash for s in supervisor.network_status(network) if s.height}
    console.print(f"{len(network.nodes)} validators committing; app hashes seen: {len(hashes)}")
    if not network.production:
        for scenario in (_evm_scenario, _invoice_scenario, _securities_scenario, _forum_scenario,
                         _privacy_scenario):
            scenario(network)
    console.print(f"\nThe network keeps running. Try `consortium status --dir {dir}`, "
                  f"`consortium logs node0 --dir {dir}`; stop it with `consortium down --dir "
                  f"{dir}`.")
    console.print(f"Console: {network.nodes[0].api_url}/console/")


# The invoice-financing scenario's parties besides the banks (members without nodes: they
# use their banks' nodes), and everyone's genesis roles on a network the demo creates.
INVOICE_PARTIES = {"Acme Trading": "seller", "Globex Retail": "buyer",
                   "Tax Bureau": "tax_authority"}
INVOICE_ROLES = {"Bank A": ["financing_bank"], "Bank B": ["financing_bank"],
                 **{name: [role] for name, role in INVOICE_PARTIES.items()}}


# The securities scenario's roles: Bank A issues the CNY deposit token and keeps the investor
# registry, Bank B is an issuer agent, the invoice parties also invest.
SECURITIES_ROLES = {"Bank A": ["cash_bank", "custodian"], "Bank B": ["issuer_agent", "investor"],
                    "Acme Trading": ["investor"], "Globex Retail": ["investor"]}
DEMO_ROLES = {name: INVOICE_ROLES.get(name, []) + SECURITIES_ROLES.get(name, [])
              for name in [*INVOICE_ROLES, *SECURITIES_ROLES]}


class _Scene:
    """One scenario under its heading: the members (`banks`: those that are not the invoice
    parties), their dev accounts, the node each acts through (`via`), and the newest block a
    step made, which a client's node must have before the next step (it may go through
    another node). `make` opens the scenario's client on a node; `shown` says what a step did."""

    def __init__(self, network: Network, title: str,
                 make: Callable[[NodeEntry], Any] = lambda node: None,
                 shown: Callable[[Any], str] = lambda out: f"block {out['block']}") -> None:
        console.rule(f"[bold]{title}")
        self.network, self.make, self.shown = network, make, shown
        self.names = [m.name for m in network.members]
        self.banks = [n for n in self.names if n not in INVOICE_PARTIES]
        from eth_account import Account

        keys = json.loads((network.root / "dev-accounts.json").read_text())["accounts"]
        self.accounts = {n: Account.from_key(k["private_key"]) for n, k in keys.items()}
        self.address = {n: str(a.address).lower() for n, a in self.accounts.items()}
        self.label = {a: n for n, a in self.address.items()}
        self.via: dict[str, NodeEntry] = {}
        self.tip = 0

    def cast(self, *players: str, roles: dict[str, list[str]] | None = None) -> None:
        """The players act through the nodes in turn; with `roles` (by the demo's part, in
        the players' order), each holds its part's roles (see `grant`)."""
        nodes = self.network.nodes
        self.via = {name: nodes[i % len(nodes)] for i, name in enumerate(players)}
        if roles is not None:
            self.grant([(name, role) for name, part in zip(players, roles.values(), strict=True)
                        for role in part])

    def client(self, name: str) -> Any:
        out = self.make(self.via[name])
        _wait_block(out, self.tip)
        return out

    def say(self, name: str, what: str, result: str) -> None:
        console.print(f"{name} {what} (through {self.via[name].name}): {result}")

    def step(self, name: str, what: str, fn: str, *args: object, **kw: object) -> Any:
        """`name` calls the client's `fn` with its account; the outcome is printed."""
        out = getattr(self.client(name), fn)(self.accounts[name], *args, **kw)
        self.tip = max(self.tip, int(str(out["block"])))
        self.say(name, what, self.shown(out))
        return out

    def refused(self, name: str, what: str, fn: str, *args: object, **kw: object) -> None:
        """As `step`, for a call the contract must refuse: its reason is printed."""
        from consortium.apps.service_client import revert_reason

        try:
            getattr(self.client(name), fn)(self.accounts[name], *args, **kw)
        except ExecutionReverted as exc:
            self.say(name, what, f"[red]refused[/red] — {revert_reason(exc)}")
            return
        raise RuntimeError(f"{name} {what}: not refused")

    def grant(self, wanted: list[tuple[str, str]]) -> None:
        """Roles a reused network lacks are granted the consortium's way: a grant-role
        proposal each, passed by the members' votes."""
        from consortium.system.client import GovernanceClient

        gov = GovernanceClient(self.network.nodes[0].api_url)
        for name, role in wanted:
            if role in gov.roles(self.address[name])["roles"]:
                continue
            out = gov.propose_grant_role(self.accounts[_voters(gov)[0]], self.address[name], role)
            self.tip = _vote_through(gov, self.accounts, out["proposal"])
            console.print(f"governance granted {name} the {role} role (proposal {out['proposal']})")


def _token() -> Any:
    from consortium.contracts.compiler import compile_file

    return compile_file(Path(__file__).resolve().parents[1] / "contracts/examples/Token.vy")


def _evm_scenario(network: Network) -> None:
    """Members transact through different nodes, as their own institutions would."""
    from consortium.sdk import ConsortiumClient

    scene = _Scene(network, "Ethereum transactions")
    members, accounts, nodes = scene.names, scene.accounts, network.nodes
    a, b = members[0], members[1 % len(members)]
    via = [ConsortiumClient(nodes[i % len(nodes)].api_url) for i in range(4)]
    receipt = via[1].send(accounts[a], {"to": accounts[b].address, "value": 10**18, "gas": 21000})
    console.print(f"{a} paid {b} 1 unit through {nodes[1 % len(nodes)].name}: block "
                  f"{receipt['blockNumber']}")
    token = _token()
    address, receipt = via[0].deploy(accounts[a], token.abi, token.bytecode,
                                     "Consortium Deposit Token", "CDT", 10**9)
    console.print(f"{a} deployed a Vyper ERC-20 at {address} through {nodes[0].name}")
    payees = members[1:4]
    for i, name in enumerate(payees, start=1):
        via[(i + 1) % 4].transact(accounts[a], address, token.abi, "transfer",
                                  accounts[name].address, 1000 * i)
    table(f"Token balances read through {nodes[3 % len(nodes)].name}", ["member", "address", "CDT"],
          [[n, accounts[n].address, via[3].call(address, token.abi, "balanceOf",
                                                accounts[n].address)] for n in [a, *payees]])


def _invoice_scenario(network: Network) -> None:
    """Invoice financing across member banks: a seller issues an invoice, the buyer confirms,
    two banks finance it in tranches, another bank's attempt to finance the same invoice again
    is refused as a duplicate, the seller cannot cancel it, and the buyer's payment at
    maturity goes to the banks — each party through a different node."""
    from consortium.apps.invoices import InvoiceClient
    from consortium.apps.invoices.fingerprint import key_from_node_home
    from consortium.apps.invoices.model import show_date

    scene = _Scene(network, "Invoice financing",
                   lambda node: InvoiceClient(node.api_url,
                                              key=key_from_node_home(network.node_home(node))),
                   lambda out: f"{out.get('state')} (block {out['block']})")
    names, accounts, step, refused = scene.names, scene.accounts, scene.step, scene.refused
    # Who plays which part: the demo's own parties, else other members stand in for them.
    spare = iter(scene.banks[2:])
    seller = "Acme Trading" if "Acme Trading" in names else next(spare, None)
    buyer = "Globex Retail" if "Globex Retail" in names else next(spare, None)
    if len(scene.banks) < 2 or seller is None or buyer is None:
        console.print("(the invoice scenario needs four members: run `consortium demo --fresh`)")
        return
    tax = "Tax Bureau" if "Tax Bureau" in names else buyer
    bank_a, bank_b = scene.banks[:2]
    scene.cast(bank_a, bank_b, seller, buyer, tax, roles=INVOICE_ROLES)
    issuer = scene.client(seller)
    number = f"INV-2025-{len(issuer.invoices()) + 1:05d}"
    amount = 100_000_000  # 1,000,000.00 CNY in fen
    fp = issuer.fingerprint("91310000MA1FL4XX7J", number, "2025-08-15", amount)
    today = show_date(issuer.today())
    console.print(f"{seller} fingerprints invoice {number} with the consortium key from its node's "
                  f"configuration: {fp[:18]}… (the fields stay off chain)")
    step(seller, f"issues it to {buyer} for {amount} fen, due {today}", "issue", fp,
         buyer=accounts[buyer].address, amount=amount, currency="CNY", due_date=today)
    step(tax, "verifies it against the tax records", "set_tax_verified", fp, True, "matches")
    step(buyer, "confirms it", "confirm", fp)
    step(seller, "asks for financing", "request_financing", fp)
    step(bank_a, f"finances a first tranche of {amount * 6 // 10}", "finance", fp, amount * 6 // 10)
    refused(bank_b, "enters the same invoice, typed its own way", "issue",
            scene.client(bank_b).fingerprint(" 91310000ma1fl4xx7j", number.lower(), "20250815",
                                             str(amount)),
            seller=accounts[seller].address, buyer=accounts[buyer].address, amount=amount,
            currency="CNY", due_date=today)
    refused(bank_b, f"offers a tranche of {amount // 2}", "finance", fp, amount // 2)
    step(bank_b, f"finances the remaining {amount * 4 // 10}", "finance", fp, amount * 4 // 10)
    refused(seller, "tries to cancel it", "cancel", fp, "reversal")
    step(buyer, "pays at maturity", "repay", fp)

    reader = scene.client(bank_b)
    inv = reader.invoice(fp)
    assert inv is not None
    label = scene.label
    table(f"Invoice {number} read through {scene.via[bank_b].name}", ["field", "value"], [
        ["state", inv["state"]],
        ["tax verified", "yes" if inv["taxVerified"] else "no"],
        ["financing", ", ".join(f"{label[t['bank']]} {t['amount']} ({t['state']})"
                                for t in inv["tranches"])],
        ["paid at maturity", ", ".join(f"{p['amount']} to {label[p['payee']]}"
                                       for p in inv["payments"])],
    ])
    history_table("Its history (one event per transition)", reader.history(fp),
                  lambda actor: label.get(actor, actor))


def _fills(out: Any) -> str:
    """A securities step's block and the trades its order made."""
    return f"block {out['block']}" + "".join(
        f"; trade {t['id']}: {t['quantity']} at {t['price']} {t['state']}" for t in out["trades"])


def _securities_scenario(network: Network) -> None:
    """Securities trading across member banks: Bank A issues digital CNY and registers the
    investors, Bank B issues an instrument, a seller's two orders meet a buyer's order by
    price-time priority and settle delivery versus payment in the matching transaction, the
    rest rests on the book, and a transfer to an account no custodian registered is refused
    with its ERC-1404 reason code — each member through a different node."""
    from consortium.apps.securities import SecuritiesClient
    from consortium.apps.securities.model import isin_check_digit

    scene = _Scene(network, "Securities trading and settlement",
                   lambda node: SecuritiesClient(node.api_url), _fills)
    if len(scene.banks) < 2 or any(name not in scene.names for name in INVOICE_PARTIES):
        console.print("(the securities scenario needs the demo's members: run "
                      "`consortium demo --fresh`)")
        return
    bank_a, bank_b = scene.banks[:2]
    seller, buyer, outsider = INVOICE_PARTIES  # Acme Trading, Globex Retail, Tax Bureau
    address, step = scene.address, scene.step
    scene.cast(bank_a, bank_b, seller, buyer, roles=SECURITIES_ROLES)
    reader = scene.client(bank_a).read
    if "CNY" not in [t["currency"] for t in reader.cash_tokens()]:
        step(bank_a, "issues digital CNY", "create_token", "CNY", f"{bank_a} digital CNY")
    for name in (bank_b, seller, buyer):
        if not reader.investor(address[name])["eligible"]:
            step(bank_a, f"registers {name} (KYC, CN)", "set_investor", address[name],
                 kyc_expiry=10**12, jurisdiction="CN")
    step(bank_a, f"mints 1,000,000 CNY to {buyer}", "mint_cash", "CNY", address[buyer], 1_000_000)
    step(buyer, "lets the settlement contract lock its CNY", "approve", "CNY")
    stem = f"CNDEMO{len(reader.isins()) + 1:05d}"
    isin = stem + str(isin_check_digit(stem))
    step(bank_b, f"issues {isin} (10,000 units, T+0)", "issue", isin, "Demo Bank B bond", 10_000,
         currency="CNY", document=b"Demo Bank B bond prospectus")
    step(bank_b, f"places 100 units with {seller}", "transfer", isin, address[seller], 100)
    step(seller, "sells 60 at 101", "sell", isin, 60, price=101)
    step(seller, "sells 40 at 100", "sell", isin, 40, price=100)
    step(buyer, "buys 70 at up to 101", "buy", isin, 70, price=101)
    scene.refused(buyer, f"transfers 5 to {outsider}", "transfer", isin, address[outsider], 5)
    read = scene.client(seller).read
    book = read.book(isin)
    table(f"{isin} order book read through {scene.via[seller].name}",
          ["bid qty", "bid", "ask", "ask qty"],
          [[None, None, a["price"], a["quantity"]] for a in book["asks"]]
          + [[b["quantity"], b["price"], None, None] for b in book["bids"]])
    table("Trades (each settled with its cash in one transaction)",
          ["trade", "seller", "buyer", "qty", "price", "CNY", "state"],
          [[t["id"], scene.label.get(t["seller"]), scene.label.get(t["buyer"]), t["quantity"],
            t["price"], t["amount"], t["state"]] for t in read.trades(isin=isin)])


def _forum_scenario(network: Network) -> None:
    """The forum: an announcement in the consortium channel, and a task force's private
    channel, formed by vote, whose post one member reads decrypted through its node while a
    non-member's node shows only ciphertext."""
    from consortium.apps.forum import ForumClient
    from consortium.system.client import GovernanceClient

    scene = _Scene(network, "Forum", lambda node: ForumClient(node.api_url),
                   lambda out: f"post {out['id']}")
    if len(scene.banks) < 3:
        console.print("(the forum scenario needs three member banks)")
        return
    a, b, c = scene.banks[:3]
    scene.cast(a, b, c)
    accounts, address, via = scene.accounts, scene.address, scene.via
    gov = GovernanceClient(via[a].api_url)
    if gov.task_force("Research") is None:
        out = gov.propose_form_task_force(accounts[a], "Research", "joint PoC work",
                                          address[a], [address[a], address[b]])
        scene.tip = _vote_through(gov, accounts, out["proposal"])
        console.print(f"governance formed the task force Research ({a}, {b}): its channel "
                      "exists")
    for name in (a, b):
        scene.client(name).ensure_key(accounts[name])
    scene.step(a, "announces the AGM in #consortium", "post", "consortium",
               "The AGM is on 3 March.", title="AGM")
    out = scene.step(a, "posts in #Research, encrypted", "post", "Research",
                     "Settlement PoC: 412 ms median", title="PoC results")
    post_id = int(out["id"])
    forum = scene.client(b)
    as_b = forum.open_post(accounts[b], forum.read.post(post_id))
    console.print(f"{b} reads it through {via[b].name}: {as_b['body']!r}")
    raw = scene.client(c).read.post(post_id)
    console.print(f"{c}, not in the task force, sees through {via[c].name} only ciphertext: "
                  f"{str(raw['content'])[:34]}…")


def _privacy_scenario(network: Network) -> None:
    """A privacy group (docs/privacy.md): Bank A and Bank B register their nodes' privacy
    keys and form a group, Bank A deploys a private ERC-20 in it and pays Bank B, Bank B
    reads its balance through its own node, and Bank C's node, outside the group, holds
    none of it: the public chain carries only the marker's ciphertext."""
    from consortium.errors import TxError
    from consortium.sdk.privacy import PrivacyClient

    scene = _Scene(network, "Privacy group")
    own = {n.member: n for n in reversed(network.nodes)}  # each bank's (first) own node
    if len(scene.banks) < 3 or any(b not in own for b in scene.banks[:3]):
        console.print("(the privacy scenario needs three member banks with nodes)")
        return
    a, b, c = scene.banks[:3]
    accounts, say = scene.accounts, scene.say
    via = scene.via = {name: own[name] for name in (a, b, c)}
    priv = {name: PrivacyClient(via[name].api_url) for name in (a, b, c)}
    try:
        keys = {name: priv[name].node_key() for name in (a, b)}
    except TxError as exc:
        console.print(f"({exc.message}: run `consortium demo --fresh`, or switch it on with "
                      "the `privacy` software upgrade, docs/privacy.md)")
        return
    for name in (a, b):
        if keys[name]["registered"] and keys[name]["memberName"] == name:
            continue
        out = priv[name].register_node(accounts[name])
        scene.tip = max(scene.tip, int(out["block"]))
        console.print(f"{name} registers {via[name].name}'s privacy key: node account "
                      f"{keys[name]['address'][:10]}… (block {out['block']})")
    _wait_block(priv[a], scene.tip)
    desk = f"Desk {len(priv[a].find_groups([a, b])) + 1}"
    made = priv[a].create_group(accounts[a], desk, [str(accounts[a].address), b])
    group = made["privacyGroupId"]
    say(a, f"founds group {desk!r} {group[:10]}… with {b}", f"block {made['block']}")
    _wait_block(priv[b], int(made["block"]))
    out = priv[b].join(accounts[b], group)
    console.print(f"{b} joins (through {via[b].name}, whose node checked the key it opened "
                  f"against the group's key commitment): the group is active, block "
                  f"{out['block']}")
    _wait_block(priv[a], int(out["block"]))
    token = _token()
    address, receipt = priv[a].deploy(accounts[a], group, token.abi, token.bytecode,
                                      "Private Desk Token", "PDT", 10**6)
    say(a, f"deploys a private ERC-20 {address[:10]}…", f"block {int(receipt['blockNumber'], 16)}")
    paid = priv[a].transact(accounts[a], group, address, token.abi, "transfer",
                            accounts[b].address, 250)
    paid_in = int(paid["blockNumber"], 16)
    say(a, f"pays {b} 250 PDT privately", f"block {paid_in}")
    priv[b].wait_receipt(paid["transactionHash"])
    balance = priv[b].call(group, address, token.abi, "balanceOf", accounts[b].address)
    console.print(f"{b} reads its balance through {via[b].name}: {balance} PDT")
    roots = {name: priv[name].root(group, paid_in)["root"] for name in (a, b)}
    console.print(f"{via[a].name} and {via[b].name} agree on the private state root: "
                  f"{'yes' if roots[a] == roots[b] else 'NO'} ({str(roots[a])[:10]}…)")
    _wait_block(priv[c], paid_in)
    marker = priv[c].client.w3.eth.get_transaction(paid["markerHash"])
    nothing = priv[c].receipt(paid["transactionHash"]) or "none"
    try:
        priv[c].call(group, address, token.abi, "balanceOf", accounts[b].address)
        refused = "answered"
    except TxError as exc:
        refused = exc.message.split(" of privacy group")[0]
    console.print(f"{c}'s {via[c].name}, outside the group: the marker is "
                  f"{len(marker['input'])} bytes of ciphertext")
    console.print(f"  priv_ answers: receipt {nothing}; balanceOf: {refused}")


def _voters(gov: Any) -> list[str]:
    return [m["name"] for m in gov.members() if m["weight"] and m["status"] == "active"]


def _vote_through(gov: Any, accounts: dict[str, Any], proposal: int) -> int:
    """The voting members vote yes until the proposal passes; answers the last vote's block."""
    last = 0
    for voter in _voters(gov):
        if gov.proposal(proposal)["status"] != "open":
            break
        last = int(gov.vote(accounts[voter], proposal, True)["block"])
    return last


def _wait_until(reached: Callable[[], bool], timeout: float, pause: float, failed: str) -> None:
    deadline = time.monotonic() + timeout
    while not reached():
        if time.monotonic() > deadline:
            raise NetworkError(failed)
        time.sleep(pause)


def _wait_block(client: Any, number: int, timeout: float = 30) -> None:
    """Wait until the client's node has block `number` (another node may have made it)."""
    w3 = client.client.w3
    _wait_until(lambda: w3.eth.block_number >= number, timeout, 0.1,
                f"a node did not reach block {number} in {timeout:.0f}s")


def _min_height(network: Network) -> int:
    heights = [s.height or 0 for s in supervisor.network_status(network)]
    return min(heights) if heights else 0

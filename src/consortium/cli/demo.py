"""`consortium demo`: start a local consortium on the embedded defaults and show it working."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer

from consortium.cli.common import DirOption, console, err_console, resolve_dir
from consortium.cli.network import status as show_status
from consortium.errors import NetworkError
from consortium.network import supervisor
from consortium.network.init import default_member_names, init_network
from consortium.network.layout import Network


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
        init_network(
            root,
            validators=validators,
            members=[*default_member_names(validators), *INVOICE_PARTIES],
            roles=DEMO_ROLES,
            force=True,
            progress=lambda m: err_console.print(f"· {m}"),
        )
    network = Network.load(root)
    supervisor.up(network, progress=lambda m: err_console.print(f"· {m}"))
    console.rule("[bold]Consensus")
    start = _min_height(network)
    _wait(network, start + 3)
    show_status(dir=root, json=False)
    hashes = {s.app_hash for s in supervisor.network_status(network) if s.height}
    console.print(f"{len(network.nodes)} validators committing; app hashes seen: {len(hashes)}")
    if not network.production:
        _evm_scenario(network)
        _invoice_scenario(network)
        _securities_scenario(network)
        _forum_scenario(network)
        _privacy_scenario(network)
    console.print(
        f"\nThe network keeps running. Try `consortium status --dir {dir}`, "
        f"`consortium logs node0 --dir {dir}`; stop it with `consortium down --dir {dir}`."
    )
    console.print(f"Console: {network.nodes[0].api_url}/console/")


def _evm_scenario(network: Network) -> None:
    """Members transact through different nodes, as their own institutions would."""


    from consortium.contracts.compiler import compile_file
    from consortium.sdk import ConsortiumClient

    console.rule("[bold]Ethereum transactions")
    members = [m.name for m in network.members]
    accounts = _dev_accounts(network)
    nodes = network.nodes
    a, b = members[0], members[1 % len(members)]
    via = [ConsortiumClient(nodes[i % len(nodes)].api_url) for i in range(4)]

    receipt = via[1 % len(via)].send(
        accounts[a], {"to": accounts[b].address, "value": 10**18, "gas": 21000}
    )
    console.print(
        f"{a} paid {b} 1 unit through {nodes[1 % len(nodes)].name}: block {receipt['blockNumber']}"
    )
    token = compile_file(Path(__file__).resolve().parents[1] / "contracts/examples/Token.vy")
    address, receipt = via[0].deploy(
        accounts[a], token.abi, token.bytecode, "Consortium Deposit Token", "CDT", 10**9
    )
    console.print(f"{a} deployed a Vyper ERC-20 at {address} through {nodes[0].name}")
    rows = []
    for i, name in enumerate(members[1:4], start=1):
        client = via[(i + 1) % len(via)]
        client.transact(
            accounts[a], address, token.abi, "transfer", accounts[name].address, 1000 * i
        )
        rows.append(name)
    reader = via[3 % len(via)]
    from consortium.cli.common import table

    table(
        f"Token balances read through {nodes[3 % len(nodes)].name}",
        ["member", "address", "CDT"],
        [
            [
                n,
                accounts[n].address,
                reader.call(address, token.abi, "balanceOf", accounts[n].address),
            ]
            for n in [a, *rows]
        ],
    )


# The invoice-financing scenario's parties besides the banks (members without nodes: they
# use their banks' nodes), and everyone's genesis roles on a network the demo creates.
INVOICE_PARTIES = {
    "Acme Trading": "seller",
    "Globex Retail": "buyer",
    "Tax Bureau": "tax_authority",
}
INVOICE_ROLES = {
    "Bank A": ["financing_bank"],
    "Bank B": ["financing_bank"],
    **{name: [role] for name, role in INVOICE_PARTIES.items()},
}


# The securities scenario's roles: Bank A issues the CNY deposit token and keeps the investor
# registry, Bank B is an issuer agent, the invoice parties also invest.
SECURITIES_ROLES = {
    "Bank A": ["cash_bank", "custodian"],
    "Bank B": ["issuer_agent", "investor"],
    "Acme Trading": ["investor"],
    "Globex Retail": ["investor"],
}
DEMO_ROLES = {name: INVOICE_ROLES.get(name, []) + SECURITIES_ROLES.get(name, [])
              for name in [*INVOICE_ROLES, *SECURITIES_ROLES]}


def _invoice_scenario(network: Network) -> None:
    """Invoice financing across member banks: a seller issues an invoice, the buyer confirms,
    two banks finance it in tranches, another bank's attempt to finance the same invoice again
    is refused as a duplicate, the seller cannot cancel it, and the buyer's payment at
    maturity goes to the banks — each party through a different node."""


    from consortium.apps.invoices import InvoiceClient
    from consortium.apps.invoices.fingerprint import key_from_node_home
    from consortium.apps.invoices.model import show_date
    from consortium.cli.common import table
    from consortium.errors import ExecutionReverted

    console.rule("[bold]Invoice financing")
    names = [m.name for m in network.members]
    # Who plays which part: the demo's own parties, else other members stand in for them.
    banks = [n for n in names if n not in INVOICE_PARTIES]
    spare = iter(banks[2:])
    seller = "Acme Trading" if "Acme Trading" in names else next(spare, None)
    buyer = "Globex Retail" if "Globex Retail" in names else next(spare, None)
    if len(banks) < 2 or seller is None or buyer is None:
        console.print("(the invoice scenario needs four members: run `consortium demo --fresh`)")
        return
    tax = "Tax Bureau" if "Tax Bureau" in names else buyer
    bank_a, bank_b = banks[0], banks[1]
    nodes = network.nodes
    via = {name: nodes[i % len(nodes)] for i, name in enumerate(
        [bank_a, bank_b, seller, buyer, tax])}
    tip = [0]

    def client(name: str) -> InvoiceClient:
        node = via[name]
        out = InvoiceClient(node.api_url, key=key_from_node_home(network.node_home(node)))
        _wait_block(out, tip[0])
        return out

    accounts = _dev_accounts(network)

    def step(name: str, what: str, fn: str, *args: object, **kw: object) -> dict[str, object]:
        out: dict[str, object] = getattr(client(name), fn)(accounts[name], *args, **kw)
        tip[0] = max(tip[0], int(str(out["block"])))
        console.print(f"{name} {what} (through {via[name].name}): {out.get('state')} "
                      f"(block {out['block']})")
        return out

    def refused(name: str, what: str, fn: str, *args: object, **kw: object) -> None:
        try:
            getattr(client(name), fn)(accounts[name], *args, **kw)
        except ExecutionReverted as exc:
            reason = exc.message.split("execution reverted: ", 1)[-1]
            console.print(
                f"{name} {what} (through {via[name].name}): [red]refused[/red] — {reason}"
            )
            return
        raise RuntimeError(f"{name} {what}: not refused")

    wanted = [(bank_a, "financing_bank"), (bank_b, "financing_bank"), (seller, "seller"),
              (buyer, "buyer"), (tax, "tax_authority")]
    tip[0] = _grant_missing_roles(network, accounts, wanted)
    issuer = client(seller)
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
    step(bank_a, f"finances a first tranche of {amount * 6 // 10}", "finance", fp,
         amount * 6 // 10)
    refused(bank_b, "enters the same invoice, typed its own way", "issue",
            client(bank_b).fingerprint(" 91310000ma1fl4xx7j", number.lower(), "20250815",
                                       str(amount)),
            seller=accounts[seller].address, buyer=accounts[buyer].address, amount=amount,
            currency="CNY", due_date=today)
    refused(bank_b, f"offers a tranche of {amount // 2}", "finance", fp, amount // 2)
    step(bank_b, f"finances the remaining {amount * 4 // 10}", "finance", fp, amount * 4 // 10)
    refused(seller, "tries to cancel it", "cancel", fp, "reversal")
    step(buyer, "pays at maturity", "repay", fp)

    reader = client(bank_b)
    inv = reader.invoice(fp)
    assert inv is not None
    label = {str(accounts[n].address).lower(): n for n in names}
    table(f"Invoice {number} read through {via[bank_b].name}", ["field", "value"], [
        ["state", inv["state"]],
        ["tax verified", "yes" if inv["taxVerified"] else "no"],
        ["financing", ", ".join(f"{label[t['bank']]} {t['amount']} ({t['state']})"
                                for t in inv["tranches"])],
        ["paid at maturity", ", ".join(f"{p['amount']} to {label[p['payee']]}"
                                       for p in inv["payments"])],
    ])
    table("Its history (one event per transition)", ["block", "actor", "from", "to", "reason"], [
        [h["block"], label.get(h["actor"], h["actor"]), h["from"] or None, h["to"], h["reason"]]
        for h in reader.history(fp)
    ])


def _securities_scenario(network: Network) -> None:
    """Securities trading across member banks: Bank A issues digital CNY and registers the
    investors, Bank B issues an instrument, a seller's two orders meet a buyer's order by
    price-time priority and settle delivery versus payment in the matching transaction, the
    rest rests on the book, and a transfer to an account no custodian registered is refused
    with its ERC-1404 reason code — each member through a different node."""


    from consortium.apps.securities import SecuritiesClient
    from consortium.apps.securities.model import isin_check_digit
    from consortium.cli.common import table
    from consortium.errors import ExecutionReverted

    console.rule("[bold]Securities trading and settlement")
    names = [m.name for m in network.members]
    banks = [n for n in names if n not in INVOICE_PARTIES]
    seller = "Acme Trading" if "Acme Trading" in names else None
    buyer = "Globex Retail" if "Globex Retail" in names else None
    outsider = "Tax Bureau" if "Tax Bureau" in names else None
    if len(banks) < 2 or seller is None or buyer is None or outsider is None:
        console.print("(the securities scenario needs the demo's members: run "
                      "`consortium demo --fresh`)")
        return
    bank_a, bank_b = banks[0], banks[1]
    nodes = network.nodes
    via = {name: nodes[i % len(nodes)] for i, name in enumerate([bank_a, bank_b, seller, buyer])}
    accounts = _dev_accounts(network)
    address = {n: str(a.address).lower() for n, a in accounts.items()}
    label = {a: n for n, a in address.items()}
    wanted = [(bank_a, "cash_bank"), (bank_a, "custodian"), (bank_b, "issuer_agent"),
              (bank_b, "investor"), (seller, "investor"), (buyer, "investor")]
    tip = [_grant_missing_roles(network, accounts, wanted)]

    def client(name: str) -> SecuritiesClient:
        out = SecuritiesClient(via[name].api_url)
        _wait_block(out, tip[0])
        return out

    def step(name: str, what: str, fn: str, *args: object, **kw: object) -> dict[str, object]:
        out: dict[str, object] = getattr(client(name), fn)(accounts[name], *args, **kw)
        tip[0] = max(tip[0], int(str(out["block"])))
        fills = "".join(f"; trade {t['id']}: {t['quantity']} at {t['price']} {t['state']}"
                        for t in out["trades"])  # type: ignore[attr-defined]
        console.print(f"{name} {what} (through {via[name].name}): block {out['block']}{fills}")
        return out

    reader = client(bank_a).read
    if "CNY" not in [t["currency"] for t in reader.cash_tokens()]:
        step(bank_a, "issues digital CNY", "create_token", "CNY", f"{bank_a} digital CNY")
    for name in (bank_b, seller, buyer):
        if not reader.investor(address[name])["eligible"]:
            step(bank_a, f"registers {name} (KYC, CN)", "set_investor", address[name],
                 kyc_expiry=10**12, jurisdiction="CN")
    step(bank_a, f"mints 1,000,000 CNY to {buyer}", "mint_cash", "CNY", address[buyer],
         1_000_000)
    step(buyer, "lets the settlement contract lock its CNY", "approve", "CNY")
    stem = f"CNDEMO{len(reader.isins()) + 1:05d}"
    isin = stem + str(isin_check_digit(stem))
    step(bank_b, f"issues {isin} (10,000 units, T+0)", "issue", isin, "Demo Bank B bond", 10_000,
         currency="CNY", document=b"Demo Bank B bond prospectus")
    step(bank_b, f"places 100 units with {seller}", "transfer", isin, address[seller], 100)
    step(seller, "sells 60 at 101", "sell", isin, 60, price=101)
    step(seller, "sells 40 at 100", "sell", isin, 40, price=100)
    step(buyer, "buys 70 at up to 101", "buy", isin, 70, price=101)
    try:
        client(buyer).transfer(accounts[buyer], isin, address[outsider], 5)
        raise RuntimeError("a transfer to an unregistered account was not refused")
    except ExecutionReverted as exc:
        reason = exc.message.split("execution reverted: ", 1)[-1]
        console.print(f"{buyer} transfers 5 to {outsider} (through {via[buyer].name}): "
                      f"[red]refused[/red] — {reason}")
    read = client(seller).read
    book = read.book(isin)
    table(f"{isin} order book read through {via[seller].name}",
          ["bid qty", "bid", "ask", "ask qty"],
          [[None, None, a["price"], a["quantity"]] for a in book["asks"]]
          + [[b["quantity"], b["price"], None, None] for b in book["bids"]])
    table("Trades (each settled with its cash in one transaction)",
          ["trade", "seller", "buyer", "qty", "price", "CNY", "state"],
          [[t["id"], label.get(t["seller"]), label.get(t["buyer"]), t["quantity"], t["price"],
            t["amount"], t["state"]] for t in read.trades(isin=isin)])


def _forum_scenario(network: Network) -> None:
    """The forum: an announcement in the consortium channel, and a task force's private
    channel, formed by vote, whose post one member reads decrypted through its node while a
    non-member's node shows only ciphertext."""


    from consortium.apps.forum import ForumClient
    from consortium.system.client import GovernanceClient

    console.rule("[bold]Forum")
    banks = [m.name for m in network.members if m.name not in INVOICE_PARTIES]
    if len(banks) < 3:
        console.print("(the forum scenario needs three member banks)")
        return
    a, b, c = banks[:3]
    nodes = network.nodes
    via = {name: nodes[i % len(nodes)] for i, name in enumerate((a, b, c))}
    accounts = _dev_accounts(network)
    address = {n: str(acct.address).lower() for n, acct in accounts.items()}
    gov = GovernanceClient(via[a].api_url)
    tip = [0]
    if gov.task_force("Research") is None:
        out = gov.propose_form_task_force(accounts[a], "Research", "joint PoC work",
                                          address[a], [address[a], address[b]])
        tip[0] = _vote_through(gov, accounts, out["proposal"])
        console.print(f"governance formed the task force Research ({a}, {b}): its channel "
                      "exists")

    def forum(name: str) -> ForumClient:
        out = ForumClient(via[name].api_url)
        _wait_block(out, tip[0])
        return out

    for name in (a, b):
        forum(name).ensure_key(accounts[name])
    out = forum(a).post(accounts[a], "consortium", "The AGM is on 3 March.", title="AGM")
    tip[0] = int(out["block"])
    console.print(f"{a} announces the AGM in #consortium (through {via[a].name}): post "
                  f"{out['id']}")
    out = forum(a).post(accounts[a], "Research", "Settlement PoC: 412 ms median",
                        title="PoC results")
    tip[0] = int(out["block"])
    post_id = int(out["id"])
    console.print(f"{a} posts in #Research, encrypted (through {via[a].name}): post {post_id}")
    as_b = forum(b).open_post(accounts[b], forum(b).read.post(post_id))  # type: ignore[arg-type]
    console.print(f"{b} reads it through {via[b].name}: {as_b['body']!r}")
    raw = forum(c).read.post(post_id)
    console.print(f"{c}, not in the task force, sees through {via[c].name} only ciphertext: "
                  f"{str(raw['content'])[:34]}…")  # type: ignore[index]


def _privacy_scenario(network: Network) -> None:
    """A privacy group (docs/privacy.md): Bank A and Bank B register their nodes' privacy
    keys and form a group, Bank A deploys a private ERC-20 in it and pays Bank B, Bank B
    reads its balance through its own node, and Bank C's node, outside the group, holds
    none of it: the public chain carries only the marker's ciphertext."""
    from consortium.contracts.compiler import compile_file
    from consortium.errors import TxError
    from consortium.sdk.privacy import PrivacyClient

    console.rule("[bold]Privacy group")
    banks = [m.name for m in network.members if m.name not in INVOICE_PARTIES]
    own = {n.member: n for n in reversed(network.nodes)}  # each bank's (first) own node
    if len(banks) < 3 or any(b not in own for b in banks[:3]):
        console.print("(the privacy scenario needs three member banks with nodes)")
        return
    a, b, c = banks[:3]
    via = {name: own[name] for name in (a, b, c)}
    priv = {name: PrivacyClient(via[name].api_url) for name in (a, b, c)}
    accounts = _dev_accounts(network)
    try:
        keys = {name: priv[name].node_key() for name in (a, b)}
    except TxError as exc:
        console.print(f"({exc.message}: run `consortium demo --fresh`, or switch it on with "
                      "the `privacy` software upgrade, docs/privacy.md)")
        return
    tip = 0
    for name in (a, b):
        if keys[name]["registered"] and keys[name]["memberName"] == name:
            continue
        out = priv[name].register_node(accounts[name])
        tip = max(tip, int(out["block"]))
        console.print(f"{name} registers {via[name].name}'s privacy key: node account "
                      f"{keys[name]['address'][:10]}… (block {out['block']})")
    _wait_block(priv[a], tip)
    desk = f"Desk {len(priv[a].find_groups([a, b])) + 1}"
    made = priv[a].create_group(accounts[a], desk, [str(accounts[a].address), b])
    group = made["privacyGroupId"]
    console.print(f"{a} founds group {desk!r} {group[:10]}… with {b} (through "
                  f"{via[a].name}): block {made['block']}")
    _wait_block(priv[b], int(made["block"]))
    out = priv[b].join(accounts[b], group)
    console.print(f"{b} joins (through {via[b].name}, whose node checked the key it opened "
                  f"against the group's key commitment): the group is active, block "
                  f"{out['block']}")
    _wait_block(priv[a], int(out["block"]))
    token = compile_file(Path(__file__).resolve().parents[1] / "contracts/examples/Token.vy")
    address, receipt = priv[a].deploy(accounts[a], group, token.abi, token.bytecode,
                                      "Private Desk Token", "PDT", 10**6)
    console.print(f"{a} deploys a private ERC-20 {address[:10]}… (through {via[a].name}): "
                  f"block {int(receipt['blockNumber'], 16)}")
    paid = priv[a].transact(accounts[a], group, address, token.abi, "transfer",
                            accounts[b].address, 250)
    console.print(f"{a} pays {b} 250 PDT privately (through {via[a].name}): block "
                  f"{int(paid['blockNumber'], 16)}")
    priv[b].wait_receipt(paid["transactionHash"])
    balance = priv[b].call(group, address, token.abi, "balanceOf", accounts[b].address)
    console.print(f"{b} reads its balance through {via[b].name}: {balance} PDT")
    roots = {name: priv[name].root(group, int(paid["blockNumber"], 16))["root"]
             for name in (a, b)}
    console.print(f"{via[a].name} and {via[b].name} agree on the private state root: "
                  f"{'yes' if roots[a] == roots[b] else 'NO'} ({str(roots[a])[:10]}…)")
    _wait_block(priv[c], int(paid["blockNumber"], 16))
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


def _dev_accounts(network: Network) -> dict[str, Any]:
    """Every member's account, from the dev network's keys (dev-accounts.json)."""
    import json

    from eth_account import Account

    keys = json.loads((network.root / "dev-accounts.json").read_text())["accounts"]
    return {name: Account.from_key(key["private_key"]) for name, key in keys.items()}


def _grant_missing_roles(network: Network, accounts: dict[str, object],
                         wanted: list[tuple[str, str]]) -> int:
    """Roles a reused network lacks are granted the consortium's way: a grant-role proposal
    each, passed by the members' votes. Answers the last block it used (0: none)."""
    from consortium.system.client import GovernanceClient

    gov = GovernanceClient(network.nodes[0].api_url)
    last = 0
    for name, role in wanted:
        address = str(accounts[name].address).lower()  # type: ignore[attr-defined]
        if role in gov.roles(address)["roles"]:
            continue
        out = gov.propose_grant_role(accounts[_voters(gov)[0]], address, role)  # type: ignore[arg-type]
        last = _vote_through(gov, accounts, out["proposal"])
        console.print(f"governance granted {name} the {role} role (proposal {out['proposal']})")
    return last


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


def _wait_block(client: object, number: int, timeout: float = 30) -> None:
    """Wait until the client's node has block `number` (another node may have made it)."""
    w3 = client.client.w3  # type: ignore[attr-defined]
    deadline = time.monotonic() + timeout
    while w3.eth.block_number < number:
        if time.monotonic() > deadline:
            raise NetworkError(f"a node did not reach block {number} in {timeout:.0f}s")
        time.sleep(0.1)


def _min_height(network: Network) -> int:
    heights = [s.height or 0 for s in supervisor.network_status(network)]
    return min(heights) if heights else 0


def _wait(network: Network, height: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while _min_height(network) < height:
        if time.monotonic() > deadline:
            raise NetworkError(f"the network did not reach height {height} in {timeout:.0f}s")
        time.sleep(0.3)

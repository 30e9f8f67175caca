"""Out-of-range and malformed input in the services' CLI (the outside test's B1, B3, B5, B7,
B8, P2, P3, P4, P5, P8): one `error:` line naming the option, refused before a key is opened
or a transaction sent — never a traceback, never "No such option: -5"."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from eth_account import Account

from consortium.apps.credit.client import CreditClient
from consortium.apps.forum.client import ForumClient
from consortium.apps.invoices.client import InvoiceClient
from consortium.apps.registry.client import RegistryClient
from consortium.apps.securities.client import SecuritiesClient
from consortium.apps.surface import BadValue
from consortium.cli import securities as securities_cli
from consortium.cli.main import main
from consortium.errors import ConfigError

BIG = str(2**256)
NODE = ["--rpc", "http://127.0.0.1:9"]  # nothing listens: a refusal must come first
SIGNER = ["--from", "nobody", *NODE]
ISIN = "US0378331005"
ONE, TWO = "0x" + "11" * 20, "0x" + "22" * 20
FP = "0x" + "ab" * 32


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.err


def one_error(err: str) -> str:
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize(("argv", "says"), [
    (["securities", "order", "buy", ISIN, BIG, "--price", "100", *SIGNER], "'quantity'"),
    (["securities", "order", "buy", ISIN, "1", "--price", BIG, *SIGNER], "'--price'"),
    (["securities", "cash", "mint", "CNY", BIG, "--to", ONE, *SIGNER], "'amount'"),
    (["invoice", "finance", FP, BIG, *SIGNER], "'amount'"),
    (["securities", "check", ISIN, ONE, TWO, BIG, *NODE], "'amount'"),
    (["credit", "consent", "--grantee", ONE, "--purpose", "x", "--blocks", BIG, *SIGNER],
     "'--blocks'"),
    (["securities", "order", "sell", ISIN, "1", "--price", "1", "--expires-in", BIG, *SIGNER],
     "'--expires-in'"),
    (["securities", "set-cycle", ISIN, BIG, *SIGNER], "'cycle'"),
    (["securities", "holdings", ONE, "--at", BIG, *NODE], "'--at'"),
])
def test_numbers_beyond_uint256_are_one_line_naming_the_option(
        capsys: pytest.CaptureFixture[str], argv: list[str], says: str) -> None:
    """B1: 2**256 anywhere a number goes is refused by its option and range."""
    code, err = run(capsys, *argv)
    assert code == 2
    assert f"Invalid value for {says}: " in one_error(err)
    assert "is out of range" in err and "2**256-1" in err


@pytest.mark.parametrize(("argv", "says"), [
    (["securities", "order", "buy", ISIN, "-5", "--price", "1", *SIGNER],
     "'quantity': must be above 0, not -5"),
    (["invoice", "finance", FP, "-1", *SIGNER], "'amount': must be above 0, not -1"),
    (["securities", "transfer", ISIN, TWO, "-2", *SIGNER], "'amount': must be above 0, not -2"),
    (["securities", "set-cycle", ISIN, "-3", *SIGNER], "'cycle': must be 0 or more, not -3"),
    (["credit", "consent", "--grantee", ONE, "--purpose", "x", "--blocks", "-1", *SIGNER],
     "'--blocks': must be 0 or more, not -1"),
    (["securities", "order", "buy", ISIN, "abc", "--price", "1", *SIGNER],
     "'quantity': 'abc' is not a whole number"),
    # P4: a cash transfer of 0 is refused here, as a mint of 0 is
    (["securities", "cash", "transfer", "CNY", TWO, "0", *SIGNER],
     "'amount': must be above 0, not 0"),
])
def test_negative_numbers_are_values_refused_by_their_range(
        capsys: pytest.CaptureFixture[str], argv: list[str], says: str) -> None:
    """P2: "-5" where a number is expected is that number, refused as below its range (not
    "No such option: -5"); P3: a word is told apart from a negative number."""
    code, err = run(capsys, *argv)
    assert code == 2
    assert f"Invalid value for {says} " in one_error(err)


def test_an_unknown_option_is_still_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(capsys, "securities", "order", "buy", ISIN, "1", "--prize", "1", *SIGNER)
    assert code == 2 and "No such option: --prize" in one_error(err)


@pytest.mark.parametrize(("argv", "says"), [
    (["securities", "order", "sell", ISIN, "1", "--price", "1", "--expires-in", "1", *SIGNER],
     "--expires-in 1 is too few blocks"),
    (["securities", "order", "sell", ISIN, "1", "--price", "1", "--expires-in", "0", *SIGNER],
     "--expires-in 0 is too few blocks"),
    (["credit", "consent", "--grantee", ONE, "--purpose", "x", "--blocks", "0", *SIGNER],
     "--blocks 0 is too few blocks"),
    (["securities", "propose", ISIN, "1", "--price", "1", "--side", "sell", "--with", TWO,
      "--within", "1", *SIGNER], "--within 1 is too few blocks"),
    # P8: an investor registered with --kyc-blocks 0 would be expired when set
    (["securities", "investor", "set", ONE, "--kyc-blocks", "0", "--jurisdiction", "CN",
      *SIGNER], "--kyc-blocks 0 is too few blocks"),
])
def test_deadlines_that_pass_before_the_transaction_lands_are_refused(
        capsys: pytest.CaptureFixture[str], argv: list[str], says: str) -> None:
    """B5, P8: a relative expiry the next block already reaches sends nothing (it used to
    send one doomed transaction and pay its gas)."""
    code, err = run(capsys, *argv)
    assert code == 1 and one_error(err).startswith(f"error: {says}: ")


ISSUE = ["invoice", "issue", "--tax-id", "91310000MA1FL4XX7J", "--number", "Z-5",
         "--issue-date", "2026-01-01", "--currency", "CNY", "--buyer", ONE, *SIGNER]


@pytest.mark.parametrize(("extra", "says"), [
    (["--amount", "10", "--due", "2025-02-30"],
     "error: due date '2025-02-30' is not a date (YYYY-MM-DD)"),  # B3
    (["--amount", "10", "--due", "2020-01-01"],
     "error: the due date 2020-01-01 is before the issue date 2026-01-01"),  # B7
    (["--amount", "-5", "--due", "2026-02-01"], "error: amount must be above 0, not -5"),  # P3
    (["--amount", "abc", "--due", "2026-02-01"],
     "error: amount 'abc' is not a number: give an integer in the currency's smallest unit"),
    (["--amount", "1.5", "--due", "2026-02-01"], "error: amount '1.5' is not an integer"),
])
def test_invoice_issue_refuses_bad_dates_and_amounts_on_one_line(
        capsys: pytest.CaptureFixture[str], extra: list[str], says: str) -> None:
    code, err = run(capsys, *ISSUE, *extra)
    assert code == 1 and one_error(err).startswith(says), err


def test_invoice_fingerprint_tells_a_negative_amount_from_a_word(
        capsys: pytest.CaptureFixture[str]) -> None:
    base = ["invoice", "fingerprint", "--tax-id", "X1", "--number", "N", "--issue-date",
            "2026-01-01", "--key-file", "/nonexistent"]
    code, err = run(capsys, *base, "--amount", "-5")
    assert code == 1 and one_error(err) == "error: amount must be above 0, not -5\n"
    code, err = run(capsys, *base, "--amount", "abc")
    assert code == 1 and "'abc' is not a number" in one_error(err)


class _Chain:
    """A securities client at height 100 that must not be read past it."""

    def height(self) -> int:
        return 100

    @property
    def read(self) -> Any:
        raise AssertionError("read at a future height")


def test_holdings_at_a_future_height_are_refused(capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """P5: not today's holdings labelled with a height the chain has not reached."""
    monkeypatch.setattr(securities_cli, "_client", lambda *_: _Chain())
    for argv in (["--isin", ISIN], [ONE]):
        code, err = run(capsys, "securities", "holdings", *argv, "--at", "999999999", *NODE)
        assert code == 1
        assert one_error(err) == ("error: --at: height 999999999 is in the future; the chain "
                                  "is at 100\n")


def test_the_python_client_refuses_a_cash_transfer_that_moves_nothing() -> None:
    """P4 (and the same from Python): 0, or to oneself; out of range is a BadValue."""
    sec, me = SecuritiesClient("http://127.0.0.1:9"), Account.create()
    with pytest.raises(BadValue, match="amount: must be above 0"):
        sec.transfer_cash(me, "CNY", TWO, 0)
    with pytest.raises(BadValue, match="is the sender"):
        sec.transfer_cash(me, "CNY", me.address, 5)
    with pytest.raises(BadValue, match=r"amount: .* out of range: 0 to 2\*\*256-1"):
        sec.transfer_cash(me, "CNY", TWO, 2**256)
    with pytest.raises(BadValue, match=r"^quantity: .* out of range: 0 to 2\*\*256-1"):
        sec.sell(me, ISIN, 2**256, price=1)


@pytest.mark.parametrize(("send", "refused"), [
    (lambda sec, me: sec.buy(me, ISIN, 1.5, price=100), "quantity"),
    (lambda sec, me: sec.buy(me, ISIN, 1, price=100.5), "price"),
    (lambda sec, me: sec.sell(me, ISIN, 1, price=100, expiry=7.5), "expiry"),
    (lambda sec, me: sec.propose(me, ISIN, TWO, "sell", 2.9, 100, 50), "quantity"),
    (lambda sec, me: sec.issue(me, ISIN, "Apple", 10.7, currency="CNY", document=b"x"),
     "supply"),
    (lambda sec, me: sec.issue(me, ISIN, "Apple", 10, currency="CNY", document=b"x",
                               cycle=1.5), "cycle"),
    (lambda sec, me: sec.approve(me, "CNY", 10.9), "amount"),
    (lambda sec, me: sec.buy(me, ISIN, True, price=100), "quantity"),
])
def test_the_python_clients_refuse_a_fraction_never_truncate_it(
        send: Callable[[SecuritiesClient, Any], Any], refused: str) -> None:
    """A fraction is refused, never rounded (docs/services/README.md): the hand-written
    client methods parse their numbers as the declared writes do (int() placed 1.5 as 1)."""
    with pytest.raises(BadValue, match=f"^{refused}: expected"):
        send(SecuritiesClient("http://127.0.0.1:9"), Account.create())


def test_the_other_services_clients_refuse_fractions_too() -> None:
    me = Account.create()
    with pytest.raises(BadValue, match="^amount: expected"):
        InvoiceClient("http://127.0.0.1:9").issue(me, "0x" + "11" * 32, buyer=TWO, amount=9.5,
                                                  currency="CNY", due_date="2027-01-31")
    with pytest.raises(BadValue, match="^max_uses: expected"):
        CreditClient("http://127.0.0.1:9").grant_consent(me, TWO, "loan", expires_at=100,
                                                         max_uses=1.5)
    with pytest.raises(BadValue, match="^k: expected"):
        RegistryClient("http://127.0.0.1:9").propose_registrars(me, 1, [TWO], 1.5)
    with pytest.raises(BadValue, match="^pledge: expected"):
        RegistryClient("http://127.0.0.1:9").release(me, 1, 2.5)


def test_forum_posts_are_refused_empty_or_oversized_in_the_user_s_terms(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """B8: an empty post is refused here (the contract took its JSON envelope); the size
    refused is the title and body the user gave, against what a post of that channel holds
    of them (the contract counts the envelope, sealed in a task force's channel)."""
    forum = ForumClient("http://127.0.0.1:9")
    for title, body in (("", ""), ("  ", "\n")):
        with pytest.raises(ConfigError, match="a post needs a title or a body"):
            forum.content("consortium", title, body)
    with pytest.raises(ConfigError, match="a reply needs a body"):
        forum.content("consortium", "", " ", "reply")
    assert len(forum.content("consortium", "", "x" * 32746)) == 32768  # the contract's limit
    with pytest.raises(ConfigError) as err:
        forum.content("consortium", "big", "x" * 120000)
    assert err.value.message == ("120003 bytes of title and body are more than a post in "
                                 "channel 'consortium' holds: at most 32746 bytes")
    with pytest.raises(ConfigError, match=r"^32000 bytes of title and body \(32000 more once"):
        forum.content("consortium", "", '"' * 32000)
    monkeypatch.setattr(forum, "_channel", lambda name: {"private": True})
    assert len(forum.content("Research", "", "x" * 32718)) == 32768 - 28
    with pytest.raises(ConfigError, match=r"channel \(encrypted\) holds: at most 32718 bytes"):
        forum.content("Research", "", "x" * 32719)

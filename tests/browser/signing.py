"""What the console's signing tests share: a page per member in a browser context of its
own, and signing in with a keystore file from the network's folder (decrypted in the page).
Test modules import the `console` fixture from here."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import running_net
from tests.support.localnet import LocalNet

expect = pytest.importorskip("playwright.sync_api").expect
WAIT_MS = 60_000  # a loaded 2-core machine: blocks still come every ~0.3 s, pages slower


def two_members(tmp_path_factory: pytest.TempPathFactory, name: str,
                roles: dict[str, list[str]] | None = None) -> Iterator[LocalNet]:
    """Bank A and Bank B, a validator each (a proposal passes with both votes)."""
    yield from running_net(tmp_path_factory, name, validators=2, roles=roles)


@pytest.fixture
def console(browser: Any, net: LocalNet) -> Iterator[Callable[[str, str], Any]]:
    """console("node0", "/governance") opens that console page in a browser context of its
    own (one per member), with a browser wallet holding `wallet_key` if given; an error
    raised in any of the pages fails the test."""
    contexts: list[Any] = []
    errors: list[str] = []

    def open_page(node: str, path: str, wallet_key: str | None = None) -> Any:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        contexts.append(context)
        if wallet_key is not None:
            context.add_init_script(injected_wallet(wallet_key))
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(f"{node}: {exc}"))
        page.set_default_timeout(WAIT_MS)
        page.goto(f"{net.node(node).api_url}/console{path}")
        page.evaluate("window.__sameDocument = true")  # gone if the page reloads or navigates
        return page

    try:
        yield open_page
    finally:
        for context in contexts:
            context.close()
    assert errors == [], f"the pages raised: {errors}"


def sign_in(page: Any, keystore: Path, member: str) -> None:
    """Sign in with a development keystore (empty password), decrypted in the page."""
    page.get_by_role("button", name="Sign in", exact=True).click()
    dialog = page.locator("#sign-in-dialog")
    dialog.locator("input[name=keystore]").set_input_files(str(keystore))
    dialog.locator("input[name=password]").fill("")
    dialog.get_by_role("button", name="Decrypt and sign in").click()
    expect(page.locator("#signed-in .member")).to_have_text(member, timeout=WAIT_MS)


def same_document(page: Any) -> bool:
    """Whether the page is still the one opened (no reload, no navigation)."""
    return page.evaluate("window.__sameDocument") is True


def injected_wallet(private_key: str) -> str:
    """An EIP-1193 wallet injected as window.ethereum (what MetaMask does), holding one key:
    it shares its account, answers its chain id and signs eth_sendTransaction itself, sending
    through the page's node. window.__walletCalls lists the methods the page asked of it."""
    return INJECTED_WALLET.replace("__KEY__", json.dumps(private_key))


INJECTED_WALLET = """(() => {
  const KEY = __KEY__;
  window.__walletCalls = [];
  const rpc = async (method, params) => {
    const r = await fetch("/", { method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }) });
    const body = await r.json();
    if (body.error) throw Object.assign(new Error(body.error.message), { code: body.error.code });
    return body.result;
  };
  window.ethereum = {
    on() {},
    async request({ method, params }) {
      window.__walletCalls.push(method);
      const wallet = new ethers.Wallet(KEY);
      if (method === "eth_requestAccounts" || method === "eth_accounts") return [wallet.address];
      if (method === "eth_chainId") return rpc("eth_chainId", []);
      if (method === "eth_sendTransaction") {
        const tx = params[0];
        const nonce = await rpc("eth_getTransactionCount", [wallet.address, "pending"]);
        const chainId = BigInt(await rpc("eth_chainId", []));
        const raw = await wallet.signTransaction({ type: 2, chainId,
          nonce: Number(BigInt(nonce)), to: tx.to, data: tx.data, gasLimit: BigInt(tx.gas),
          maxFeePerGas: 0n, maxPriorityFeePerGas: 0n });
        return rpc("eth_sendRawTransaction", [raw]);
      }
      throw Object.assign(new Error(`unsupported method ${method}`), { code: 4200 });
    },
  };
})();"""

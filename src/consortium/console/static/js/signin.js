// The sign-in box in the page's header (#signed-in): who is signed in (address, member,
// roles) and how to sign in — the browser wallet when there is one, or a keystore file with
// its password, decrypted in this page (wallet.js). Nothing is sent to the node but reads.

import * as wallet from "./wallet.js";

function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  for (const child of children) node.append(child);
  return node;
}

function short(address) {
  return `${address.slice(0, 8)}…${address.slice(-4)}`;
}

function render(box) {
  const who = wallet.current();
  box.replaceChildren();
  if (who) {
    const member = who.member ? `${who.member.name}${who.member.status === "active" ? "" : ` (${who.member.status})`}` : "not a member";
    box.append(
      el("span", { className: "who", title: who.address },
        el("code", { className: "address", textContent: short(who.address) }), " · ",
        el("strong", { className: "member", textContent: member }), " · ",
        el("span", { className: "roles", textContent: who.roles.length ? who.roles.join(", ") : "no roles" }),
        who.barred ? el("span", { className: "barred error", textContent: ` · cannot transact: ${who.barred}` }) : ""),
      el("button", { type: "button", className: "sign-out", textContent: "Sign out", onclick: () => wallet.signOut() }),
    );
    return;
  }
  box.append(el("button", { type: "button", className: "sign-in", textContent: "Sign in", onclick: () => dialog().showModal() }));
}

let dialogEl = null;

function dialog() {
  if (dialogEl) return dialogEl;
  const status = el("p", { className: "sign-in-status", role: "status" });
  const file = el("input", { type: "file", name: "keystore", accept: ".json,application/json", required: true });
  const password = el("input", { type: "password", name: "password", autocomplete: "current-password" });
  const submit = el("button", { type: "submit", textContent: "Decrypt and sign in" });
  const form = el("form", { className: "keystore-sign-in", method: "dialog" },
    el("h2", { textContent: "Sign in" }),
    el("p", { className: "muted", textContent: "Your key is decrypted in this page and stays in it: the node never receives it or its password. Leaving the page signs you out." }),
    el("label", {}, "Keystore file (V3 JSON) ", file),
    el("label", {}, "Password ", password),
    el("div", { className: "actions" }, submit,
      el("button", { type: "button", textContent: "Cancel", onclick: () => dialogEl.close() })),
    status);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const chosen = file.files?.[0];
    if (!chosen) {
      status.textContent = "Pick your keystore file first.";
      return;
    }
    submit.disabled = true;
    status.textContent = "Decrypting in this page…";
    try {
      const text = await chosen.text();
      await wallet.signInWithKeystore(text, password.value, (fraction) => {
        status.textContent = `Decrypting in this page… ${Math.round(fraction * 100)} %`;
      });
      password.value = "";
      file.value = "";
      status.textContent = "";
      dialogEl.close();
    } catch (err) {
      status.textContent = `Not signed in: ${err.message}`;
    } finally {
      submit.disabled = false;
    }
  });
  dialogEl = el("dialog", { id: "sign-in-dialog", className: "sign-in-dialog" });
  if (wallet.hasInjectedWallet()) {
    dialogEl.append(el("p", {},
      el("button", { type: "button", className: "injected", textContent: "Use the browser wallet",
        onclick: async () => {
          status.textContent = "Asking the browser wallet…";
          try {
            await wallet.signInWithInjected();
            dialogEl.close();
          } catch (err) {
            status.textContent = `Not signed in: ${err.message}`;
          }
        } }),
      " or a keystore file:"));
  }
  dialogEl.append(form);
  document.body.append(dialogEl);
  return dialogEl;
}

const box = document.getElementById("signed-in");
if (box) {
  render(box);
  document.addEventListener("consortium:signer", () => render(box));
  wallet.resumeInjected().catch(() => {});
}

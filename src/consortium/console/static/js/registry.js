// The registry page (console/registry.py): applying for an asset, and one asset shown whole.
//
// Apply: the external id is normalised as apps/registry/external_id.py does (NFKC, runs of
// whitespace one space, upper case, no control characters, 1..256 characters) and HMAC'd with
// the consortium key file picked here (WebCrypto), into the form's external id hash; the deed
// is hashed by the form itself (a digest input). Neither the id, the key nor the deed reach the
// node. The form is then checked, dry-run and signed like every other (sign_forms.js).
// One asset whole: registry_whole.js.

import "./sign_forms.js";
import * as wallet from "./wallet.js";
import "./registry_whole.js";

const DOMAIN = "consortium-asset-v1";
const MAX_EXTERNAL_ID = 256;
let key = null;

const applyForm = () => document.querySelector("#apply form");
const hexOf = (buf) => "0x" + [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, "0")).join("");

function note(id, text, state) {
  const el = document.getElementById(id);
  el.textContent = text;
  el.dataset.state = state;
}

/** The external id as the chain's hash normalises it, or an Error naming the problem. */
export function normaliseExternalId(value) {
  const text = value.normalize("NFKC").split(/[\s\x1c-\x1f\x85]+/u).filter(Boolean).join(" ").toUpperCase();
  if (/\p{Cc}/u.test(text)) throw new Error("the external id contains a control character");
  if (!text) throw new Error("the external id is empty");
  if ([...text].length > MAX_EXTERNAL_ID) throw new Error(`the external id is longer than ${MAX_EXTERNAL_ID} characters`);
  return text;
}

async function externalHash() {
  const input = document.getElementById("external-id");
  const target = applyForm()?.elements.namedItem("external_id_hash");
  if (!input || !target) return;
  target.value = "";
  if (!input.value.trim()) return note("external-id-state", "", "");
  try {
    const text = normaliseExternalId(input.value);
    if (!key) return note("external-id-state", "load the consortium key file to hash it", "refused");
    const mac = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(`${DOMAIN}\x1f${text}`));
    target.value = hexOf(mac);
    note("external-id-state", `hashed as ${text}`, "done");
  } catch (err) {
    note("external-id-state", err.message, "refused");
  }
}

document.getElementById("registry-key-file")?.addEventListener("change", async (event) => {
  const file = event.target.files?.[0];
  key = null;
  if (!file) return;
  const text = (await file.text()).trim().replace(/^0x/i, "");
  if (!/^[0-9a-fA-F]{64}$/.test(text)) {
    note("registry-key-state", `${file.name} does not hold a consortium key (32 bytes in hex)`, "refused");
  } else {
    const raw = new Uint8Array(text.match(/../g).map((h) => parseInt(h, 16)));
    key = await crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    note("registry-key-state", `key loaded from ${file.name} (kept in this page only)`, "done");
  }
  externalHash();
});
document.getElementById("external-id")?.addEventListener("input", externalHash);

// the owner defaults to the signed-in account (as the CLI's apply does)
document.addEventListener("consortium:signer", () => {
  const owner = applyForm()?.elements.namedItem("owner");
  const who = wallet.current();
  if (owner && who && !owner.value) owner.value = who.address;
});

// The forum's cryptography in the page, the same formats as apps/forum/sealing.py writes:
// a task force's channel key (32 bytes) wrapped for each member with ECIES as eciespy 0.4.7
// writes it (secp256k1: the 65-byte ephemeral key, a 16-byte nonce, the tag, the ciphertext;
// AES-256-GCM under HKDF-SHA256 of the ephemeral key and the shared point, both uncompressed),
// and content sealed under the channel key: nonce(12) ‖ ciphertext ‖ tag, AES-256-GCM bound to
// channel, epoch and purpose. The ECDH is ethers' (SigningKey.computeSharedSecret), the rest
// WebCrypto's; unwrapping uses the signed-in keystore's key inside wallet.js.

import * as wallet from "./wallet.js";

const NONCE = 12;
const TAG = 16;
const ECIES_NONCE = 16;
const keys = new Map(); // "account|channel|epoch" -> Promise of the channel's AES key

const lib = () => globalThis.ethers;

export function context(channel, epoch, purpose) {
  return new TextEncoder().encode(["consortium-forum-v1", channel, String(epoch), purpose].join("\x1f"));
}

function importKey(raw) {
  if (raw.length !== 32) throw new Error("the wrapped channel key is not a 32-byte key");
  return crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
}

/** The channel key of an epoch for the signed-in account (unwrapped once, then kept in the
 * page); an Error saying why when the account holds none. */
export function channelKey(channel, epoch) {
  const who = wallet.current();
  if (!who) return Promise.reject(new Error("sign in with a member's keystore to read it"));
  const id = `${who.address}|${channel}|${epoch}`;
  if (!keys.has(id)) {
    keys.set(id, (async () => {
      const found = await wallet.rpc("consortium_forumEpoch", [channel, Number(epoch)]);
      const wrapped = found?.wrappedKeys?.[who.address.toLowerCase()];
      if (!wrapped || wrapped === "0x") {
        throw new Error(`this account was not a member of task force ${channel} when its key (epoch ${epoch}) was published`);
      }
      return importKey(await wallet.eciesDecrypt(wrapped));
    })());
    keys.get(id).catch(() => keys.delete(id)); // a refusal is asked again next time
  }
  return keys.get(id);
}

/** Keep a key this page made (a rotation it published) for the signed-in account. */
export function rememberKey(channel, epoch, raw) {
  const who = wallet.current();
  if (who) keys.set(`${who.address}|${channel}|${epoch}`, importKey(raw));
}

export async function seal(key, channel, epoch, purpose, plain) {
  const nonce = crypto.getRandomValues(new Uint8Array(NONCE));
  const body = new Uint8Array(await crypto.subtle.encrypt(
    { name: "AES-GCM", iv: nonce, additionalData: context(channel, epoch, purpose) }, key, plain));
  return lib().getBytes(lib().concat([nonce, body])); // WebCrypto's body ends with the tag
}

export async function openSealed(key, channel, epoch, purpose, sealed) {
  const bytes = lib().getBytes(sealed);
  if (bytes.length < NONCE + TAG) throw new Error("the sealed content is too short");
  try {
    return new Uint8Array(await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: bytes.slice(0, NONCE), additionalData: context(channel, epoch, purpose) },
      key, bytes.slice(NONCE)));
  } catch {
    throw new Error("it does not open with this epoch's key (altered, or sealed for another channel)");
  }
}

/** ECIES-encrypt `data` for a secp256k1 public key (64 or 65 bytes), as eciespy does. */
export async function eciesEncrypt(publicKey, data) {
  const e = lib();
  let receiver = e.getBytes(publicKey);
  if (receiver.length === 64) receiver = e.getBytes(e.concat(["0x04", receiver]));
  const ephemeral = new e.SigningKey(e.randomBytes(32));
  const sender = e.getBytes(ephemeral.publicKey); // uncompressed, 65 bytes
  const shared = e.getBytes(ephemeral.computeSharedSecret(receiver));
  const master = await crypto.subtle.importKey("raw", e.getBytes(e.concat([sender, shared])), "HKDF", false, ["deriveKey"]);
  const key = await crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(), info: new Uint8Array() },
    master, { name: "AES-GCM", length: 256 }, false, ["encrypt"]);
  const nonce = crypto.getRandomValues(new Uint8Array(ECIES_NONCE));
  const out = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv: nonce }, key, data));
  const body = out.slice(0, out.length - TAG);
  const tag = out.slice(out.length - TAG);
  return e.getBytes(e.concat([sender, nonce, tag, body]));
}

export async function sha256Hex(bytes) {
  return lib().hexlify(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)));
}

export function newChannelKey() {
  return crypto.getRandomValues(new Uint8Array(32));
}

/** A post's opened content as {title, body}: envelope.py's JSON, else all of it as the body. */
export function parsePost(plain) {
  const text = new TextDecoder().decode(plain);
  try {
    const value = JSON.parse(text);
    if (value && typeof value.body === "string") return { title: typeof value.title === "string" ? value.title : "", body: value.body };
  } catch {
    // another client's content: shown as its body
  }
  return { title: "", body: text };
}

export const postContent = (title, body) => new TextEncoder().encode(JSON.stringify({ title, body }));

/** A sealed post or document record opened for the signed-in account. */
export async function openRecord({ channel, epoch }, purpose, sealed) {
  return openSealed(await channelKey(channel, epoch), channel, epoch, purpose, sealed);
}

// Signing out forgets the channel keys unwrapped for the account (they open its task forces).
document.addEventListener("consortium:signer", (event) => {
  if (!event.detail) keys.clear();
});

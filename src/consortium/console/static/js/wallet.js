// Signing in and signing transactions in the page: the key never leaves it.
//
// Two ways in: an injected EIP-1193 wallet (window.ethereum, e.g. MetaMask), or a V3
// keystore file the user picks, decrypted here. PBKDF2 keystores (what `consortium init`
// writes for development) derive through WebCrypto: ethers' pure-JS PBKDF2 takes seconds
// where WebCrypto takes a fraction of one. scrypt keystores (`init --production`, eth-account's
// default) derive through ethers. The MAC is checked before the key is decrypted (AES-128-CTR,
// WebCrypto). The key stays in this module's memory: not localStorage, not sessionStorage;
// leaving the page signs a keystore out (a browser wallet, which keeps its own keys, signs
// in again on the next page without asking). The node receives signed transactions
// (eth_sendRawTransaction) and reads, never a key or a password.
//
// A transaction: the dry run (eth_estimateGas, which answers the contract's revert reason),
// then chain id (eth_chainId), nonce (eth_getTransactionCount "pending") and fee, signed here
// and sent to the node's own JSON-RPC (same origin), then its receipt.

import { signInAgain } from "./session.js";

const RPC_URL = document.querySelector('meta[name="consortium-rpc"]')?.content || "/";
const RECEIPT_TIMEOUT_MS = 120_000;
const DEFAULT_GAS_MARGIN = 200_000n; // state may move between the dry run and the block

function ethers() {
  const lib = globalThis.ethers;
  if (!lib) throw new Error("ethers is not loaded (the console's static files are incomplete)");
  return lib;
}

/** A JSON-RPC error answered by the node: its message is what the user is shown. */
export class RpcError extends Error {
  constructor(message, code = null, data = null) {
    super(message);
    this.name = "RpcError";
    this.code = code;
    this.data = data;
  }
}

let rpcId = 0;
// A 429 (the node's read gate or rate limit) means nothing of the call ran: sent again after
// the node's Retry-After, up to this many times, before the refusal is shown.
const BUSY_RETRIES = 5;
const MAX_RETRY_SECONDS = 10;

/** Call the node's JSON-RPC; the result, or an RpcError with the node's message. */
export async function rpc(method, params = []) {
  let response;
  for (let attempt = 0; ; attempt++) {
    try {
      response = await fetch(RPC_URL, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id: ++rpcId, method, params }),
      });
    } catch (err) {
      const unreachable = new RpcError(`the node did not answer (${err.message})`);
      unreachable.unreachable = true; // the request may or may not have reached it
      throw unreachable;
    }
    if (response.status !== 429 || attempt >= BUSY_RETRIES) break;
    const wait = Math.min(MAX_RETRY_SECONDS, Number(response.headers.get("retry-after")) || 1);
    await response.text(); // the refusal's body, read so the connection is reused
    await new Promise((resolve) => setTimeout(resolve, wait * 1000));
  }
  if (response.status === 401) signInAgain(); // the token was revoked or expired
  const text = await response.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    throw new RpcError(`the node answered HTTP ${response.status}: ${text.slice(0, 200)}`);
  }
  if (body.error) throw new RpcError(body.error.message, body.error.code, body.error.data);
  return body.result;
}

// --- keystores ---------------------------------------------------------------------------------

function hexBytes(value, what) {
  const text = String(value ?? "").replace(/^0x/i, "");
  if (!/^([0-9a-fA-F]{2})*$/.test(text) || !text) {
    throw new Error(`the keystore's ${what} is not hex`);
  }
  return ethers().getBytes("0x" + text);
}

/** The keystore's fields we need, or an error naming what is wrong with the file. */
export function parseKeystore(text) {
  let ks;
  try {
    ks = typeof text === "string" ? JSON.parse(text) : text;
  } catch {
    throw new Error("this file is not a keystore (it is not JSON)");
  }
  const c = ks && (ks.crypto || ks.Crypto);
  if (!c || Number(ks.version) !== 3) {
    throw new Error("this file is not a V3 keystore (no version 3 crypto section)");
  }
  if (String(c.cipher).toLowerCase() !== "aes-128-ctr") {
    throw new Error(`keystore cipher ${c.cipher} is not supported (aes-128-ctr is)`);
  }
  const kdf = String(c.kdf).toLowerCase();
  if (kdf !== "pbkdf2" && kdf !== "scrypt") {
    throw new Error(`keystore KDF ${c.kdf} is not supported (pbkdf2 and scrypt are)`);
  }
  const p = c.kdfparams || {};
  if (kdf === "pbkdf2" && String(p.prf || "hmac-sha256").toLowerCase() !== "hmac-sha256") {
    throw new Error(`keystore PBKDF2 PRF ${p.prf} is not supported (hmac-sha256 is)`);
  }
  if (!(Number(p.dklen) >= 32)) throw new Error("the keystore's derived key is shorter than 32 bytes");
  const address = ks.address ? ethers().getAddress("0x" + String(ks.address).replace(/^0x/i, "")) : null;
  return {
    address,
    kdf,
    params: p,
    salt: hexBytes(p.salt, "salt"),
    iv: hexBytes(c.cipherparams?.iv, "iv"),
    ciphertext: hexBytes(c.ciphertext, "ciphertext"),
    mac: hexBytes(c.mac, "mac"),
  };
}

async function deriveKey(ks, password, progress) {
  const pw = new TextEncoder().encode(password); // eth-account encrypts with the UTF-8 bytes
  const dklen = Number(ks.params.dklen);
  if (ks.kdf === "pbkdf2") {
    const base = await crypto.subtle.importKey("raw", pw, "PBKDF2", false, ["deriveBits"]);
    const bits = await crypto.subtle.deriveBits(
      { name: "PBKDF2", hash: "SHA-256", salt: ks.salt, iterations: Number(ks.params.c) },
      base,
      dklen * 8,
    );
    progress(1);
    return new Uint8Array(bits);
  }
  const { n, r, p } = ks.params;
  const key = await ethers().scrypt(pw, ks.salt, Number(n), Number(r), Number(p), dklen, progress);
  return ethers().getBytes(key);
}

/**
 * Decrypt a V3 keystore in the page: an ethers Wallet, or an Error saying why not ("wrong
 * password" when the MAC does not match). `progress(fraction)` follows a slow KDF.
 */
export async function decryptKeystore(text, password, progress = () => {}) {
  const ks = parseKeystore(text);
  if (!globalThis.crypto?.subtle) {
    // WebCrypto is there only in secure contexts (HTTPS, or loopback): ethers alone then.
    const json = typeof text === "string" ? text : JSON.stringify(text);
    try {
      return await ethers().Wallet.fromEncryptedJson(json, password, progress);
    } catch (err) {
      throw new Error(/password/i.test(err.message) ? "wrong password for this keystore" : err.message);
    }
  }
  const dk = await deriveKey(ks, password, progress);
  const lib = ethers();
  const mac = lib.getBytes(lib.keccak256(lib.concat([dk.slice(16, 32), ks.ciphertext])));
  if (lib.hexlify(mac) !== lib.hexlify(ks.mac)) {
    dk.fill(0);
    throw new Error("wrong password for this keystore (its MAC does not match)");
  }
  const aesKey = await crypto.subtle.importKey("raw", dk.slice(0, 16), "AES-CTR", false, ["decrypt"]);
  dk.fill(0);
  const plain = new Uint8Array(
    await crypto.subtle.decrypt({ name: "AES-CTR", counter: ks.iv, length: 128 }, aesKey, ks.ciphertext),
  );
  const wallet = new lib.Wallet(lib.hexlify(plain));
  plain.fill(0);
  if (ks.address && wallet.address !== ks.address) {
    throw new Error(`the keystore's key is not that of its address ${ks.address}`);
  }
  return wallet;
}

// --- who is signed in ---------------------------------------------------------------------------

let session = null; // {kind: "keystore"|"injected", address, wallet?, member, roles, frozen}

/** Why an account's transactions would be refused by the node, or "" (the node checks). */
function barred({ member, frozen }) {
  if (!member) return "not a consortium member's account";
  if (member.status !== "active") return `member ${member.name} is ${member.status}`;
  if (frozen) return "this account is frozen";
  return "";
}

/** The signed-in account with its member, roles and whether it may transact, or null. */
export function current() {
  if (!session) return null;
  const { kind, address, member, roles, frozen } = session;
  return { kind, address, member, roles: [...roles], frozen, barred: barred(session) };
}

/** The member, roles and frozen state of an account, as governance reads them. */
export async function describe(address) {
  const account = address.toLowerCase();
  const [member, roles, frozen] = await Promise.all([
    rpc("consortium_member", [account]),
    rpc("consortium_roles", [account]),
    rpc("consortium_frozen"),
  ]);
  return { member, roles: roles?.roles || [], frozen: (frozen || []).includes(account) };
}

async function begin(kind, address, wallet = null) {
  const about = await describe(address);
  session = { kind, address: ethers().getAddress(address), wallet, ...about };
  announce();
  return current();
}

/** Read the signed-in account's member, roles and state again (a proposal changed them). */
export async function refresh() {
  if (!session) return null;
  Object.assign(session, await describe(session.address));
  announce();
  return current();
}

/** Sign in with a keystore file's text and its password (decrypted here). */
export async function signInWithKeystore(text, password, progress = () => {}) {
  const wallet = await decryptKeystore(text, password, progress);
  return begin("keystore", wallet.address, wallet);
}

/** Sign in with the injected EIP-1193 wallet (it asks its user). */
export async function signInWithInjected() {
  const provider = globalThis.ethereum;
  if (!provider) throw new Error("no browser wallet found (window.ethereum is not there)");
  const accounts = await provider.request({ method: "eth_requestAccounts" });
  if (!accounts?.length) throw new Error("the browser wallet shared no account");
  if (!watching && provider.on) {
    watching = true; // the wallet's user switched accounts, or disconnected this site
    provider.on("accountsChanged", (now) => {
      if (session?.kind !== "injected") return;
      if (now?.length) begin("injected", now[0]).catch(() => signOut());
      else signOut();
    });
  }
  sessionStorage.setItem(REMEMBER, "injected");
  return begin("injected", accounts[0]);
}

let watching = false;

const REMEMBER = "consortium.signer"; // "injected": only which way, never a key

/** Sign in again with the browser wallet on a new page, if this tab chose it before and the
 * wallet still shares an account with this site (eth_accounts: no prompt). */
export async function resumeInjected() {
  const provider = globalThis.ethereum;
  if (!provider || sessionStorage.getItem(REMEMBER) !== "injected" || session) return null;
  const accounts = await provider.request({ method: "eth_accounts" });
  return accounts?.length ? signInWithInjected() : null;
}

export function hasInjectedWallet() {
  return Boolean(globalThis.ethereum);
}

export function signOut() {
  session = null; // the Wallet (and its key) is garbage once nothing refers to it
  sessionStorage.removeItem(REMEMBER);
  announce();
}

function announce() {
  const who = current();
  const body = document.body;
  for (const cls of [...body.classList]) if (cls.startsWith("role-")) body.classList.remove(cls);
  body.classList.toggle("with-signer", Boolean(who));
  body.classList.toggle("without-signer", !who);
  body.classList.toggle("can-transact", Boolean(who) && !who.barred);
  for (const role of who?.roles || []) body.classList.add(`role-${role}`);
  document.dispatchEvent(new CustomEvent("consortium:signer", { detail: who }));
}

// --- decrypting for the signed-in account ------------------------------------------------------

/**
 * ECIES decryption with the signed-in keystore's key, as eciespy encrypts (secp256k1: the
 * 65-byte ephemeral key, then a 16-byte nonce, the 16-byte tag and the ciphertext; the AES-256
 * key is HKDF-SHA256 of the ephemeral key and the shared point, both uncompressed): what a
 * task force's channel key is wrapped in for each member. The account key stays in here.
 */
export async function eciesDecrypt(data) {
  const who = requireSession();
  if (!who.wallet) {
    throw new Error("a browser wallet does not lend its key for decrypting: sign in with your keystore file to read task-force posts");
  }
  const lib = ethers();
  const bytes = lib.getBytes(data);
  if (bytes.length < 65 + 32) throw new Error("the wrapped key is too short");
  const ephemeral = bytes.slice(0, 65);
  const shared = lib.getBytes(who.wallet.signingKey.computeSharedSecret(lib.hexlify(ephemeral)));
  const master = await crypto.subtle.importKey("raw", lib.getBytes(lib.concat([ephemeral, shared])), "HKDF", false, ["deriveKey"]);
  const key = await crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(), info: new Uint8Array() },
    master, { name: "AES-GCM", length: 256 }, false, ["decrypt"]);
  const sealed = lib.getBytes(lib.concat([bytes.slice(97), bytes.slice(81, 97)])); // body ‖ tag
  try {
    return new Uint8Array(await crypto.subtle.decrypt({ name: "AES-GCM", iv: bytes.slice(65, 81) }, key, sealed));
  } catch {
    throw new Error("this account's key does not open it (wrapped for another account, or altered)");
  }
}

/** The signed-in keystore account's 64-byte public key (0x hex; what the Forum contract
 * registers so members can wrap a task force's key for it), or null for a browser wallet. */
export function publicKey() {
  const who = requireSession();
  return who.wallet ? ethers().dataSlice(who.wallet.signingKey.publicKey, 1) : null;
}

// --- transactions --------------------------------------------------------------------------------

/** A transaction that may have been sent, or was, but whose outcome the page could not
 * learn (the node stopped answering): `hash` is what to look for before sending again. */
export class Unconfirmed extends Error {
  constructor(message, hash) {
    super(message);
    this.name = "Unconfirmed";
    this.hash = hash;
  }
}

/** A transaction that reached a block and reverted there (`reason` in words). */
export class TxFailed extends Error {
  constructor(message, receipt) {
    super(message);
    this.name = "TxFailed";
    this.receipt = receipt;
  }
}

function requireSession() {
  if (!session) throw new Error("sign in first");
  return session;
}

/** The dry run: the gas it needs, or an RpcError with the contract's reason. */
export async function dryRun(to, data) {
  const who = requireSession();
  return BigInt(await rpc("eth_estimateGas", [{ from: who.address, to, data }]));
}

async function ensureChain(provider) {
  const chainId = await rpc("eth_chainId");
  const theirs = await provider.request({ method: "eth_chainId" });
  if (BigInt(theirs) === BigInt(chainId)) return;
  try {
    await provider.request({ method: "wallet_switchEthereumChain", params: [{ chainId }] });
  } catch (err) {
    if (err.code !== 4902) throw err;
    await provider.request({
      method: "wallet_addEthereumChain",
      params: [{
        chainId,
        chainName: `Consortium ${BigInt(chainId)}`,
        rpcUrls: [new URL(RPC_URL, location.href).href],
        nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
      }],
    });
  }
}

async function sign(who, to, data, gasLimit) {
  const lib = ethers();
  if (who.kind === "injected") {
    await ensureChain(globalThis.ethereum);
    return globalThis.ethereum.request({
      method: "eth_sendTransaction",
      params: [{ from: who.address, to, data, gas: lib.toQuantity(gasLimit) }],
    });
  }
  const [chainId, nonce, gasPrice] = await Promise.all([
    rpc("eth_chainId"),
    rpc("eth_getTransactionCount", [who.address, "pending"]),
    rpc("eth_gasPrice"),
  ]);
  const raw = await who.wallet.signTransaction({
    type: 2,
    chainId: BigInt(chainId),
    nonce: Number(BigInt(nonce)),
    to,
    data,
    value: 0n,
    gasLimit,
    maxFeePerGas: BigInt(gasPrice),
    maxPriorityFeePerGas: 0n,
  });
  const hash = lib.keccak256(raw); // a typed transaction's hash: known before it is sent
  try {
    return await rpc("eth_sendRawTransaction", [raw]);
  } catch (err) {
    if (!err.unreachable) throw err;
    throw new Unconfirmed(`${err.message} while the transaction was being sent: it may or may not have been sent. Before sending it again, search for ${hash} (the search box at the top): if the search finds it, it was sent`, hash);
  }
}

/** Wait for a transaction's receipt (polling the node). */
export async function waitReceipt(hash, timeoutMs = RECEIPT_TIMEOUT_MS) {
  const deadline = Date.now() + timeoutMs;
  let delay = 150;
  while (Date.now() < deadline) {
    const receipt = await rpc("eth_getTransactionReceipt", [hash]);
    if (receipt) return receipt;
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 1.5, 1000);
  }
  // accepted but not committed (the chain halted or slow): it may still commit, so the user
  // must not send it again; a rejected or dropped one has a receipt error above instead
  let status = {};
  try { status = await rpc("consortium_getTransactionStatus", [hash]); } catch { /* unknown */ }
  if (status.status === "pending" || status.status === "queued") {
    throw new Unconfirmed(`transaction ${hash} has no receipt after ${timeoutMs / 1000} s but the node holds it (${status.status}${status.reason ? ": " + status.reason : ""}): it may still commit, so do not send it again; search for ${hash} (the search box at the top) to follow it`, hash);
  }
  throw new Error(`transaction ${hash} has no receipt after ${timeoutMs / 1000} s (the node reports it ${status.status || "unknown"})`);
}

async function revertReason(from, to, data, block) {
  try {
    await rpc("eth_call", [{ from, to, data }, block]);
  } catch (err) {
    return err.message;
  }
  return "execution reverted";
}

/**
 * Dry-run, sign, send and wait: the receipt of a transaction that succeeded. Throws an
 * RpcError (the dry run's or the node's refusal: nothing was sent, or nothing accepted),
 * or TxFailed (it reverted in a block; the reason replayed at that block).
 * `stage(name)` follows the steps: "checking", "signing", "sent", "done".
 */
export async function transact(to, data, { margin = DEFAULT_GAS_MARGIN, stage = () => {} } = {}) {
  const who = requireSession();
  let gas;
  try {
    stage("checking");
    gas = await dryRun(to, data);
  } catch (err) {
    if (err.unreachable) err.message += ": nothing was signed or sent";
    throw err;
  }
  stage("signing");
  const hash = await sign(who, to, data, gas + BigInt(margin));
  stage("sent", hash);
  let receipt;
  try {
    receipt = await waitReceipt(hash);
  } catch (err) {
    if (!err.unreachable) throw err;
    throw new Unconfirmed(`sent as ${hash}, but ${err.message} while the page waited for its block: search for ${hash} (the search box at the top) to see whether it was included before sending it again`, hash);
  }
  if (BigInt(receipt.status) !== 1n) {
    const reason = await revertReason(who.address, to, data, receipt.blockNumber);
    throw new TxFailed(
      `transaction ${hash} reverted in block ${BigInt(receipt.blockNumber)}: ${reason}`,
      receipt,
    );
  }
  stage("done", hash);
  return receipt;
}

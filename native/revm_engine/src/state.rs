//! The world state a block executes on: the committed trie (read through the node store),
//! the block's changes so far (an overlay), and the caches that outlive a block.
//!
//! Reads: the overlay, then the flat cache of the state root the overlay sits on, then the
//! trie (nodes from the shared node cache, misses read through Python's `fetch(key)`).
//! `commit_tx` folds one transaction's revm state into the overlay; `compute_root` applies the
//! overlay to the tries and returns the new root with every new node and code to store.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use revm::bytecode::Bytecode;
use revm::database_interface::{DBErrorMarker, Database};
use revm::primitives::{keccak256, Address, Bytes, B256, KECCAK_EMPTY, U256};
use revm::state::{AccountInfo, EvmState};

use crate::rlp;
use crate::trie::{self, Child, Node, NodeSource, TrieError, EMPTY_ROOT};

const NODE_CACHE_GENERATION: usize = 1 << 18; // two generations: at most ~0.5 M decoded nodes
const CODE_CACHE_LIMIT: usize = 4_096;
const FLAT_CACHE_LIMIT: usize = 1_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Acct {
    pub nonce: u64,
    pub balance: U256,
    pub code_hash: B256,
    pub storage_root: B256,
}

impl Default for Acct {
    fn default() -> Self {
        Acct { nonce: 0, balance: U256::ZERO, code_hash: KECCAK_EMPTY, storage_root: EMPTY_ROOT }
    }
}

impl Acct {
    fn encode(&self, storage_root: B256) -> Vec<u8> {
        let mut payload = Vec::with_capacity(80);
        rlp::put_u64(&mut payload, self.nonce);
        rlp::put_u256(&mut payload, &self.balance);
        rlp::put_str(&mut payload, storage_root.as_slice());
        rlp::put_str(&mut payload, self.code_hash.as_slice());
        rlp::list(&payload)
    }

    fn decode(raw: &[u8]) -> Result<Acct, TrieError> {
        let (it, _) = rlp::item(raw)?;
        let items = rlp::items(it.payload)?;
        if !it.is_list || items.len() != 4 {
            return Err(TrieError::Corrupt("an account is a list of 4"));
        }
        Ok(Acct {
            nonce: rlp::as_u64(items[0].payload)?,
            balance: rlp::as_u256(items[1].payload)?,
            storage_root: rlp::as_b256(items[2].payload)?,
            code_hash: rlp::as_b256(items[3].payload)?,
        })
    }
}

/// Decoded trie nodes by hash, in two generations: when the young one is full the old one is
/// dropped, so the nodes in use stay and memory stays bounded.
#[derive(Default)]
pub struct NodeCache {
    young: HashMap<B256, Arc<Node>>,
    old: HashMap<B256, Arc<Node>>,
}

impl NodeCache {
    fn get(&mut self, h: &B256) -> Option<Arc<Node>> {
        if let Some(n) = self.young.get(h) {
            return Some(n.clone());
        }
        let n = self.old.remove(h)?;
        self.insert(*h, n.clone());
        Some(n)
    }

    fn insert(&mut self, h: B256, n: Arc<Node>) {
        if self.young.len() >= NODE_CACHE_GENERATION {
            self.old = std::mem::take(&mut self.young);
        }
        self.young.insert(h, n);
    }

    pub fn len(&self) -> usize {
        self.young.len() + self.old.len()
    }
}

/// Accounts and slots as of state root `root` (only meaningful for that root).
#[derive(Default)]
pub struct FlatCache {
    pub root: B256,
    accounts: HashMap<Address, Option<Acct>>,
    slots: HashMap<Address, HashMap<U256, U256>>,
    entries: usize,
}

impl FlatCache {
    fn reset(&mut self, root: B256) {
        self.root = root;
        self.accounts.clear();
        self.slots.clear();
        self.entries = 0;
    }
}

/// What outlives a block: decoded nodes, analysed code, the flat cache of the newest root.
#[derive(Default)]
pub struct Shared {
    pub nodes: Mutex<NodeCache>,
    pub codes: Mutex<HashMap<B256, Bytecode>>,
    pub flat: Mutex<FlatCache>,
}

#[derive(Debug)]
pub struct DbError(pub String);

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DbError {}
impl DBErrorMarker for DbError {}

impl From<TrieError> for DbError {
    fn from(e: TrieError) -> Self {
        DbError(e.to_string())
    }
}

/// The trie's view of the store: the shared node cache, then Python's `fetch`.
struct Source<'a> {
    shared: &'a Shared,
    fetch: &'a Py<PyAny>,
    err: &'a mut Option<PyErr>,
}

impl NodeSource for Source<'_> {
    fn load(&mut self, hash: &B256) -> Result<Arc<Node>, TrieError> {
        if let Some(n) = self.shared.nodes.lock().unwrap().get(hash) {
            return Ok(n);
        }
        let raw = fetch_raw(self.fetch, hash, self.err)?.ok_or(TrieError::Missing(*hash))?;
        let node = Arc::new(trie::decode_node(&raw)?);
        self.shared.nodes.lock().unwrap().insert(*hash, node.clone());
        Ok(node)
    }

    fn remember(&mut self, hash: B256, node: Arc<Node>) {
        self.shared.nodes.lock().unwrap().insert(hash, node);
    }
}

fn fetch_raw(
    fetch: &Py<PyAny>,
    key: &B256,
    err: &mut Option<PyErr>,
) -> Result<Option<Vec<u8>>, TrieError> {
    Python::attach(|py| {
        let got = fetch.call1(py, (PyBytes::new(py, key.as_slice()),)).and_then(|v| {
            if v.is_none(py) {
                Ok(None)
            } else {
                v.extract::<Vec<u8>>(py).map(Some)
            }
        });
        got.map_err(|e| {
            *err = Some(e);
            TrieError::Source
        })
    })
}

#[derive(Default, Clone)]
pub struct SlotOverlay {
    /// The account's storage was wiped in this block (created, or destroyed).
    pub cleared: bool,
    pub slots: HashMap<U256, U256>,
}

/// The block environment facts the database serves (BLOCKHASH).
pub struct Chain {
    pub number: u64,
    pub prev_hashes: Vec<B256>,
}

pub struct BlockDb {
    pub shared: Arc<Shared>,
    pub fetch: Py<PyAny>,
    /// A Python error raised by a callback during execution, re-raised when it returns.
    pub err: Option<PyErr>,
    /// The state root the overlay sits on.
    pub root: B256,
    pub accounts: HashMap<Address, Option<Acct>>,
    pub storage: HashMap<Address, SlotOverlay>,
    pub new_code: BTreeMap<B256, Bytes>,
    base: HashMap<Address, Option<Acct>>,
    pub chain: Chain,
}

impl BlockDb {
    pub fn new(shared: Arc<Shared>, fetch: Py<PyAny>, root: B256, chain: Chain) -> Self {
        BlockDb {
            shared,
            fetch,
            err: None,
            root,
            accounts: HashMap::new(),
            storage: HashMap::new(),
            new_code: BTreeMap::new(),
            base: HashMap::new(),
            chain,
        }
    }

    fn source(&mut self) -> Source<'_> {
        Source { shared: &self.shared, fetch: &self.fetch, err: &mut self.err }
    }

    /// Takes the Python error a callback raised, or makes one from `e`.
    pub fn py_error(&mut self, e: impl std::fmt::Display) -> PyErr {
        self.err
            .take()
            .unwrap_or_else(|| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))
    }

    // --- reads ---------------------------------------------------------------------------

    fn base_account(&mut self, address: &Address) -> Result<Option<Acct>, TrieError> {
        if let Some(a) = self.base.get(address) {
            return Ok(*a);
        }
        {
            let flat = self.shared.flat.lock().unwrap();
            if flat.root == self.root {
                if let Some(a) = flat.accounts.get(address) {
                    let a = *a;
                    drop(flat);
                    self.base.insert(*address, a);
                    return Ok(a);
                }
            }
        }
        let root = Child::from_root(self.root);
        let path = trie::key_nibbles(&keccak256(address));
        let raw = trie::get(&mut self.source(), &root, &path)?;
        let acct = raw.map(|r| Acct::decode(&r)).transpose()?;
        self.base.insert(*address, acct);
        let mut flat = self.shared.flat.lock().unwrap();
        if flat.root == self.root && flat.entries < FLAT_CACHE_LIMIT {
            flat.accounts.insert(*address, acct);
            flat.entries += 1;
        }
        Ok(acct)
    }

    pub fn account(&mut self, address: &Address) -> Result<Option<Acct>, TrieError> {
        if let Some(a) = self.accounts.get(address) {
            return Ok(*a);
        }
        self.base_account(address)
    }

    pub fn slot(&mut self, address: &Address, key: &U256) -> Result<U256, TrieError> {
        if let Some(o) = self.storage.get(address) {
            if let Some(v) = o.slots.get(key) {
                return Ok(*v);
            }
            if o.cleared {
                return Ok(U256::ZERO);
            }
        }
        let Some(acct) = self.account(address)? else {
            return Ok(U256::ZERO);
        };
        if acct.storage_root == EMPTY_ROOT {
            return Ok(U256::ZERO);
        }
        {
            let flat = self.shared.flat.lock().unwrap();
            if flat.root == self.root {
                if let Some(v) = flat.slots.get(address).and_then(|m| m.get(key)) {
                    return Ok(*v);
                }
            }
        }
        let path = trie::key_nibbles(&keccak256(key.to_be_bytes::<32>()));
        let raw = trie::get(&mut self.source(), &Child::Hash(acct.storage_root), &path)?;
        let value = match raw {
            None => U256::ZERO,
            Some(r) => {
                let (it, _) = rlp::item(&r)?;
                rlp::as_u256(it.payload)?
            }
        };
        let mut flat = self.shared.flat.lock().unwrap();
        if flat.root == self.root && flat.entries < FLAT_CACHE_LIMIT {
            flat.slots.entry(*address).or_default().insert(*key, value);
            flat.entries += 1;
        }
        Ok(value)
    }

    pub fn code(&mut self, code_hash: &B256) -> Result<Bytecode, TrieError> {
        if *code_hash == KECCAK_EMPTY || code_hash.is_zero() {
            return Ok(Bytecode::default());
        }
        if let Some(c) = self.shared.codes.lock().unwrap().get(code_hash) {
            return Ok(c.clone());
        }
        let raw = fetch_raw(&self.fetch, code_hash, &mut self.err)?
            .ok_or(TrieError::Missing(*code_hash))?;
        let code = Bytecode::new_raw(Bytes::from(raw));
        self.remember_code(*code_hash, code.clone());
        Ok(code)
    }

    fn remember_code(&self, code_hash: B256, code: Bytecode) {
        let mut codes = self.shared.codes.lock().unwrap();
        if codes.len() >= CODE_CACHE_LIMIT {
            codes.clear();
        }
        codes.insert(code_hash, code);
    }

    /// The storage root of `address` as of the root the overlay sits on.
    pub fn storage_root(&mut self, address: &Address) -> Result<B256, TrieError> {
        Ok(self.base_account(address)?.map_or(EMPTY_ROOT, |a| a.storage_root))
    }

    // --- writes --------------------------------------------------------------------------

    fn current_or_new(&mut self, address: &Address) -> Result<Acct, TrieError> {
        Ok(self.account(address)?.unwrap_or_default())
    }

    pub fn set_account(&mut self, address: Address, acct: Acct) {
        self.accounts.insert(address, Some(acct));
    }

    pub fn set_balance(&mut self, address: Address, balance: U256) -> Result<(), TrieError> {
        let mut a = self.current_or_new(&address)?;
        a.balance = balance;
        self.set_account(address, a);
        Ok(())
    }

    pub fn set_nonce(&mut self, address: Address, nonce: u64) -> Result<(), TrieError> {
        let mut a = self.current_or_new(&address)?;
        a.nonce = nonce;
        self.set_account(address, a);
        Ok(())
    }

    pub fn set_code(&mut self, address: Address, code: Bytes) -> Result<(), TrieError> {
        let mut a = self.current_or_new(&address)?;
        a.code_hash = if code.is_empty() { KECCAK_EMPTY } else { keccak256(&code) };
        if !code.is_empty() {
            self.remember_code(a.code_hash, Bytecode::new_raw(code.clone()));
            self.new_code.insert(a.code_hash, code);
        }
        self.set_account(address, a);
        Ok(())
    }

    pub fn set_slot(&mut self, address: Address, key: U256, value: U256) -> Result<(), TrieError> {
        let a = self.current_or_new(&address)?;
        self.set_account(address, a);
        self.storage.entry(address).or_default().slots.insert(key, value);
        Ok(())
    }

    fn wipe(&mut self, address: Address) {
        self.storage.insert(address, SlotOverlay { cleared: true, slots: HashMap::new() });
    }

    /// Folds one transaction's changes (revm's state after it) into the overlay.
    pub fn commit_tx(&mut self, state: EvmState) -> Result<(), TrieError> {
        for (address, account) in state {
            if !account.is_touched() {
                continue;
            }
            if account.is_selfdestructed() || account.is_empty() {
                // EIP-6780 destruction, or EIP-161: a touched empty account is deleted.
                let existed = self.account(&address)?.is_some();
                if existed || self.accounts.contains_key(&address) {
                    self.accounts.insert(address, None);
                    self.wipe(address);
                }
                continue;
            }
            let mut acct = self.current_or_new(&address)?;
            if account.is_created() {
                self.wipe(address);
                acct.storage_root = EMPTY_ROOT;
            }
            acct.nonce = account.info.nonce;
            acct.balance = account.info.balance;
            if acct.code_hash != account.info.code_hash {
                acct.code_hash = account.info.code_hash;
                if let Some(code) = &account.info.code {
                    if !code.is_empty() {
                        self.new_code.insert(acct.code_hash, code.original_bytes());
                        self.remember_code(acct.code_hash, code.clone());
                    }
                }
            }
            self.accounts.insert(address, Some(acct));
            let mut changed = account.storage.iter().filter(|(_, s)| s.is_changed()).peekable();
            if changed.peek().is_some() {
                let overlay = self.storage.entry(address).or_default();
                for (key, slot) in changed {
                    overlay.slots.insert(*key, slot.present_value);
                }
            }
        }
        Ok(())
    }

    // --- the state root --------------------------------------------------------------------

    /// Applies the overlay to the tries: the new root, and every node and code to store.
    #[allow(clippy::type_complexity)]
    pub fn compute_root(
        &mut self,
    ) -> Result<(B256, Vec<(B256, Vec<u8>)>, HashMap<Address, B256>), TrieError> {
        let mut out: Vec<(B256, Vec<u8>)> = Vec::new();
        let mut storage_roots = HashMap::new();
        let mut changes: Vec<(B256, Address, Option<Acct>)> = self
            .accounts
            .iter()
            .map(|(a, acct)| (keccak256(a), *a, *acct))
            .collect();
        changes.sort_unstable_by_key(|c| c.0);
        let root = Child::from_root(self.root);
        let shared = self.shared.clone();
        let mut src = Source { shared: &shared, fetch: &self.fetch, err: &mut self.err };
        let mut trie = root;
        for (hashed, address, acct) in changes {
            let path = trie::key_nibbles(&hashed);
            match acct {
                None => {
                    if let Some(t) = trie::delete(&mut src, &trie, &path)? {
                        trie = t;
                    }
                }
                Some(a) => {
                    let mut storage_root = a.storage_root;
                    if let Some(o) = self.storage.get(&address) {
                        if o.cleared {
                            storage_root = EMPTY_ROOT;
                        }
                        if !o.slots.is_empty() {
                            let mut slots: Vec<(B256, U256)> = o
                                .slots
                                .iter()
                                .map(|(k, v)| (keccak256(k.to_be_bytes::<32>()), *v))
                                .collect();
                            slots.sort_unstable_by_key(|s| s.0);
                            let mut st = Child::from_root(storage_root);
                            for (hk, v) in slots {
                                let p = trie::key_nibbles(&hk);
                                if v.is_zero() {
                                    if let Some(t) = trie::delete(&mut src, &st, &p)? {
                                        st = t;
                                    }
                                } else {
                                    st = trie::insert(&mut src, &st, &p, rlp::encode_u256(&v))?;
                                }
                            }
                            storage_root = trie::commit(&mut src, &st, &mut out);
                        }
                    }
                    storage_roots.insert(address, storage_root);
                    trie = trie::insert(&mut src, &trie, &path, a.encode(storage_root))?;
                }
            }
        }
        let new_root = trie::commit(&mut src, &trie, &mut out);
        for (h, code) in &self.new_code {
            out.push((*h, code.to_vec()));
        }
        Ok((new_root, out, storage_roots))
    }

    /// Makes the overlay part of the base: the world now sits on `new_root`. The flat cache
    /// moves to the new root, carrying the block's changes.
    pub fn rebase(&mut self, new_root: B256, storage_roots: &HashMap<Address, B256>) {
        let mut guard = self.shared.flat.lock().unwrap();
        let flat = &mut *guard;
        if flat.root != self.root || flat.entries >= FLAT_CACHE_LIMIT {
            flat.reset(new_root);
        } else {
            flat.root = new_root;
        }
        for (address, acct) in self.accounts.drain() {
            let acct = acct.map(|mut a| {
                a.storage_root = storage_roots.get(&address).copied().unwrap_or(a.storage_root);
                a
            });
            flat.accounts.insert(address, acct);
            flat.entries += 1;
        }
        for (address, o) in self.storage.drain() {
            if o.cleared {
                flat.slots.remove(&address);
            }
            let entry = flat.slots.entry(address).or_default();
            flat.entries += o.slots.len();
            entry.extend(o.slots);
        }
        drop(guard);
        self.root = new_root;
        self.base.clear();
        self.new_code.clear();
    }

    /// Every account under the root, with its storage root recomputed from scratch with
    /// alloy-trie and checked: the full-recompute oracle. Returns the recomputed state root.
    pub fn full_root(&mut self) -> Result<B256, TrieError> {
        let root = Child::from_root(self.root);
        let accounts = trie::leaves(&mut self.source(), &root)?;
        for (_, raw) in &accounts {
            let acct = Acct::decode(raw)?;
            let slots = trie::leaves(&mut self.source(), &Child::from_root(acct.storage_root))?;
            if trie::full_root(&slots) != acct.storage_root {
                return Err(TrieError::Corrupt("a storage root does not match its slots"));
            }
        }
        Ok(trie::full_root(&accounts))
    }
}

impl Database for BlockDb {
    type Error = DbError;

    fn basic(&mut self, address: Address) -> Result<Option<AccountInfo>, DbError> {
        Ok(self.account(&address)?.map(|a| {
            let mut info = AccountInfo::new(a.balance, a.nonce, a.code_hash, Bytecode::default());
            if a.code_hash != KECCAK_EMPTY {
                info.code = None; // loaded through code_by_hash when it runs
            }
            info
        }))
    }

    fn code_by_hash(&mut self, code_hash: B256) -> Result<Bytecode, DbError> {
        Ok(self.code(&code_hash)?)
    }

    fn storage(&mut self, address: Address, index: U256) -> Result<U256, DbError> {
        Ok(self.slot(&address, &index)?)
    }

    fn block_hash(&mut self, number: u64) -> Result<B256, DbError> {
        let current = self.chain.number;
        if number >= current {
            return Ok(B256::ZERO);
        }
        let depth = (current - number - 1) as usize;
        Ok(self.chain.prev_hashes.get(depth).copied().unwrap_or(B256::ZERO))
    }
}

//! The world state a block executes on: the committed trie (read through the node store),
//! the block's changes so far (an overlay), and the caches that outlive a block.
//!
//! Reads: the overlay, then the flat cache of the state root the overlay sits on, then the
//! trie (nodes from the shared node cache, misses read through Python's `fetch(key)`: a node
//! by its 40-byte place, height and hash, code by its 32-byte hash).
//! `commit_tx` folds one transaction's revm state into the overlay; `compute_root` applies the
//! overlay to the tries and returns the new root with every new node and code to store.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use revm::bytecode::Bytecode;
use revm::database_interface::{DBErrorMarker, Database};
use revm::primitives::map::{AddressMap, B256Map, U256Map};
use revm::primitives::{keccak256, Address, Bytes, B256, KECCAK_EMPTY, U256};
use revm::state::{AccountInfo, EvmState};

use crate::rlp;
use crate::trie::{self, Child, Height, NewNode, Node, NodeSource, TrieError, EMPTY_ROOT};

const NODE_CACHE_GENERATION: usize = 1 << 18; // two generations: at most ~0.5 M decoded nodes
const CODE_CACHE_LIMIT: usize = 4_096;
const FLAT_CACHE_LIMIT: usize = 1_000_000;
/// A trie with at least this many changed keys encodes its root's two halves on two threads.
const PARALLEL_COMMIT: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Acct {
    pub nonce: u64,
    pub balance: U256,
    pub code_hash: B256,
    pub storage_root: B256,
    /// Where the storage trie's root node is stored (meaningless for an empty storage).
    pub storage_at: Height,
}

impl Default for Acct {
    fn default() -> Self {
        Acct {
            nonce: 0,
            balance: U256::ZERO,
            code_hash: KECCAK_EMPTY,
            storage_root: EMPTY_ROOT,
            storage_at: 0,
        }
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

    fn decode(raw: &[u8], storage_at: Option<Height>) -> Result<Acct, TrieError> {
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
            storage_at: storage_at.unwrap_or(0),
        })
    }

    /// Its leaf's `sub`: where its storage trie is, when it has one.
    fn sub(&self) -> Option<Height> {
        (self.storage_root != EMPTY_ROOT).then_some(self.storage_at)
    }

    fn storage(&self) -> Child {
        Child::from_root(self.storage_root, self.storage_at)
    }
}

/// Decoded trie nodes by hash, in two generations: when the young one is full the old one is
/// dropped, so the nodes in use stay and memory stays bounded.
/// (Keys are keccak hashes: their first bytes are as good a hash as any.)
///
/// A dropped generation is emptied on a thread of its own (a quarter million nodes take
/// 50-150 ms to free, which the block's commit, holding this cache's lock, would otherwise
/// wait for every few blocks) and its table kept as `spare` for the next young one: a fresh
/// 20 MB table costs the first block that fills it ~40 ms of page faults here. The first
/// generation grows as used (a small state never needs the room).
#[derive(Default)]
pub struct NodeCache {
    young: B256Map<Arc<Node>>,
    old: B256Map<Arc<Node>>,
    spare: Arc<Mutex<Option<B256Map<Arc<Node>>>>>,
}

/// A full-size generation at once: the young one is replaced when full, and growing the
/// replacement from nothing would rehash it a dozen times.
fn new_generation() -> B256Map<Arc<Node>> {
    B256Map::with_capacity_and_hasher(NODE_CACHE_GENERATION, Default::default())
}

/// Runs `free` (memory freed, nothing any node computes) on a thread of its own (see
/// `NodeCache`); without a thread to be had, what it holds is freed here with the closure
/// the failed spawn drops.
fn free_elsewhere(free: impl FnOnce() + Send + 'static) {
    let _ = std::thread::Builder::new().name("cache-free".into()).spawn(free);
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
            self.next_generation();
        }
        self.young.insert(h, n);
    }

    /// The young generation becomes the old one; the old one is emptied elsewhere, to be
    /// the spare table of the next turn (a new table while it is not ready yet).
    fn next_generation(&mut self) {
        let fresh = self.spare.lock().unwrap().take().unwrap_or_else(new_generation);
        let young = std::mem::replace(&mut self.young, fresh);
        let mut old = std::mem::replace(&mut self.old, young);
        if old.capacity() < NODE_CACHE_GENERATION {
            free_elsewhere(move || drop(old)); // the first generation, grown as used
            return;
        }
        let spare = self.spare.clone();
        free_elsewhere(move || {
            old.clear(); // the nodes freed, the table's memory kept
            *spare.lock().unwrap() = Some(old);
        });
    }

    fn contains(&self, h: &B256) -> bool {
        self.young.contains_key(h) || self.old.contains_key(h)
    }

    pub fn len(&self) -> usize {
        self.young.len() + self.old.len()
    }
}

/// Accounts and slots as of state root `root` (only meaningful for that root).
#[derive(Default)]
pub struct FlatCache {
    pub root: B256,
    accounts: AddressMap<Option<Acct>>,
    slots: AddressMap<U256Map<U256>>, // a fast hasher: a million slots rehash as the map grows
    entries: usize,
}

impl FlatCache {
    fn reset(&mut self, root: B256) {
        self.root = root;
        if self.entries >= 10_000 {
            let old = (std::mem::take(&mut self.accounts), std::mem::take(&mut self.slots));
            free_elsewhere(move || drop(old));
        } else {
            self.accounts.clear();
            self.slots.clear();
        }
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

/// The trie's view of the store: the shared node cache, the world's own persisted block
/// not yet kept (its nodes by hash, ascending), then Python's `fetch`.
struct Source<'a> {
    shared: &'a Shared,
    unkept: &'a [NewNode],
    fetch: &'a Py<PyAny>,
    err: &'a mut Option<PyErr>,
}

impl NodeSource for Source<'_> {
    fn load(&mut self, hash: &B256, at: Height) -> Result<Arc<Node>, TrieError> {
        if let Some(n) = self.shared.nodes.lock().unwrap().get(hash) {
            return Ok(n);
        }
        // a read between persist and keep (the block's system storage roots): without this
        // it went through Python, which indexed the whole block's records to find a few
        if let Ok(i) = self.unkept.binary_search_by(|n| n.hash.cmp(hash)) {
            return Ok(self.unkept[i].node.clone());
        }
        let raw = fetch_raw(self.fetch, &node_key(hash, at), self.err)?
            .ok_or(TrieError::Missing(*hash, at))?;
        let node = Arc::new(trie::decode_node(&raw)?);
        self.shared.nodes.lock().unwrap().insert(*hash, node.clone());
        Ok(node)
    }
}

/// A stored node's place: its height (8 bytes, big-endian) then its hash.
pub fn node_key(hash: &B256, at: Height) -> [u8; 40] {
    let mut key = [0u8; 40];
    key[..8].copy_from_slice(&at.to_be_bytes());
    key[8..].copy_from_slice(hash.as_slice());
    key
}

/// Reads many places at once through Python's `fetch_many(keys) -> [bytes | None]`, decodes
/// what it finds and puts it in the node cache: one Python call for a whole batch.
fn fetch_into_cache(
    shared: &Shared,
    fetch_many: &Py<PyAny>,
    wanted: &[(B256, Height)],
    err: &mut Option<PyErr>,
) -> Result<(), TrieError> {
    let keys: Vec<[u8; 40]> = wanted.iter().map(|(h, at)| node_key(h, *at)).collect();
    let found: Vec<Option<Vec<u8>>> = crate::priority::attach(|py| {
        let keys: Vec<Bound<'_, PyBytes>> = keys.iter().map(|k| PyBytes::new(py, k)).collect();
        fetch_many.call1(py, (keys,)).and_then(|v| v.extract(py))
    })
    .map_err(|e| {
        *err = Some(e);
        TrieError::Source
    })?;
    if found.len() != wanted.len() {
        return Err(TrieError::Corrupt("fetch_many answered another number of nodes"));
    }
    let mut cache = shared.nodes.lock().unwrap();
    for ((h, at), raw) in wanted.iter().zip(found) {
        let raw = raw.ok_or(TrieError::Missing(*h, *at))?;
        cache.insert(*h, Arc::new(trie::decode_node(&raw)?));
    }
    Ok(())
}

/// The stored nodes among `children` the cache lacks (at most `limit`), each once.
fn missing_from<'a>(
    cache: &NodeCache,
    children: impl Iterator<Item = &'a Child>,
    limit: usize,
) -> Vec<(B256, Height)> {
    let mut missing: Vec<(B256, Height)> = children
        .filter_map(|c| match c {
            Child::Stored(h, at) if !cache.contains(h) => Some((*h, *at)),
            _ => None,
        })
        .collect();
    missing.sort_unstable();
    missing.dedup();
    missing.truncate(limit);
    missing
}

/// The node `child` is, if it is in memory or in the cache.
fn cached(cache: &mut NodeCache, child: &Child) -> Option<Arc<Node>> {
    match child {
        Child::Empty => None,
        Child::Stored(h, _) => cache.get(h),
        Child::Node(n) => Some(n.clone()),
    }
}

/// Loads into the node cache every stored node on the paths to `paths` under `root` (none
/// of it changes anything), a level at a time: one `fetch_many` per level for all the paths'
/// misses. What a block's reads and its state root will need, at the cost of a few Python
/// calls instead of one per node.
pub fn prefetch_paths(
    shared: &Shared,
    fetch_many: &Py<PyAny>,
    root: Child,
    paths: Vec<trie::Nibbles>,
    err: &mut Option<PyErr>,
) -> Result<usize, TrieError> {
    // each walk: where it is (a child), its path, and how much of the path is behind it
    let mut walks: Vec<(Child, trie::Nibbles, usize)> =
        paths.into_iter().map(|p| (root.clone(), p, 0)).collect();
    let mut fetched = 0;
    while !walks.is_empty() {
        let missing = {
            let cache = shared.nodes.lock().unwrap();
            missing_from(&cache, walks.iter().map(|w| &w.0), usize::MAX)
        };
        if !missing.is_empty() {
            fetched += missing.len();
            fetch_into_cache(shared, fetch_many, &missing, err)?;
        }
        let mut next = Vec::with_capacity(walks.len());
        let mut cache = shared.nodes.lock().unwrap();
        for (child, path, pos) in walks {
            let Some(node) = cached(&mut cache, &child) else { continue };
            match &*node {
                Node::Leaf { .. } => {}
                Node::Ext { key, child } => {
                    if path[pos..].starts_with(key) {
                        next.push((child.clone(), path, pos + key.len()));
                    }
                }
                Node::Branch { children } => {
                    if let Some(&i) = path.get(pos) {
                        next.push((children[i as usize].clone(), path, pos + 1));
                    }
                }
            }
        }
        walks = next;
    }
    Ok(fetched)
}

/// Loads the top of the trie under `root` into the node cache, breadth first, until
/// `budget` nodes are in (one `fetch_many` per level): what a node restarted on a large state
/// would otherwise fetch one node at a time during its first blocks.
pub fn warm(
    shared: &Shared,
    fetch_many: &Py<PyAny>,
    root: Child,
    budget: usize,
    err: &mut Option<PyErr>,
) -> Result<usize, TrieError> {
    let mut level = vec![root];
    let mut loaded = 0;
    while !level.is_empty() && loaded < budget {
        let missing = {
            let cache = shared.nodes.lock().unwrap();
            missing_from(&cache, level.iter(), budget - loaded)
        };
        if !missing.is_empty() {
            loaded += missing.len();
            fetch_into_cache(shared, fetch_many, &missing, err)?;
        }
        let mut next = Vec::new();
        let mut cache = shared.nodes.lock().unwrap();
        for child in level {
            let Some(node) = cached(&mut cache, &child) else { continue };
            match &*node {
                Node::Leaf { .. } => {}
                Node::Ext { child, .. } => next.push(child.clone()),
                Node::Branch { children } => {
                    next.extend(children.iter().filter(|c| !matches!(c, Child::Empty)).cloned())
                }
            }
        }
        level = next;
    }
    Ok(loaded)
}

fn fetch_raw(
    fetch: &Py<PyAny>,
    key: &[u8],
    err: &mut Option<PyErr>,
) -> Result<Option<Vec<u8>>, TrieError> {
    crate::priority::attach(|py| {
        let got = fetch.call1(py, (PyBytes::new(py, key),)).and_then(|v| {
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
    /// `fetch_many(keys) -> [bytes | None]`: nodes in batches (prefetching), if given.
    pub fetch_many: Option<Py<PyAny>>,
    /// A Python error raised by a callback during execution, re-raised when it returns.
    pub err: Option<PyErr>,
    /// The state root the overlay sits on, and where its root node is stored.
    pub root: B256,
    pub root_at: Height,
    pub accounts: AddressMap<Option<Acct>>,
    pub storage: AddressMap<SlotOverlay>,
    pub new_code: BTreeMap<B256, Bytes>,
    base: AddressMap<Option<Acct>>,
    pub chain: Chain,
    /// The last rebase, not yet kept in the shared caches.
    unkept: Option<Unkept>,
    /// The running call's budget (eth_call only; never during a block).
    pub budget: Option<crate::budget::Budget>,
}

/// What a rebase teaches the shared caches once its nodes are stored (`BlockDb::keep`).
struct Unkept {
    from_root: B256,
    root: B256,
    nodes: Vec<NewNode>,
    accounts: AddressMap<Option<Acct>>,
    storage: AddressMap<SlotOverlay>,
    storage_roots: HashMap<Address, (B256, Height)>,
}

impl BlockDb {
    pub fn new(
        shared: Arc<Shared>,
        fetch: Py<PyAny>,
        root: B256,
        root_at: Height,
        chain: Chain,
    ) -> Self {
        BlockDb {
            shared,
            fetch,
            fetch_many: None,
            err: None,
            root,
            root_at,
            accounts: AddressMap::default(),
            storage: AddressMap::default(),
            new_code: BTreeMap::new(),
            base: AddressMap::default(),
            chain,
            unkept: None,
            budget: None,
        }
    }

    /// Loads what reading `addresses` will need (their accounts' trie paths) in a few
    /// batched reads; nothing without `fetch_many`. Answers how many nodes it fetched.
    pub fn prefetch(&mut self, addresses: &[Address]) -> Result<usize, TrieError> {
        let Some(fetch_many) = self.fetch_many.as_ref() else { return Ok(0) };
        let paths: Vec<trie::Nibbles> = {
            let flat = self.shared.flat.lock().unwrap();
            let cached = |a: &Address| flat.root == self.root && flat.accounts.contains_key(a);
            let mut seen: Vec<&Address> = addresses.iter().filter(|a| !cached(a)).collect();
            seen.sort_unstable();
            seen.dedup();
            seen.into_iter().map(|a| trie::key_nibbles(&keccak256(a))).collect()
        };
        if paths.is_empty() {
            return Ok(0);
        }
        let root = Child::from_root(self.root, self.root_at);
        prefetch_paths(&self.shared, fetch_many, root, paths, &mut self.err)
    }

    /// `warm` from the root the world sits on.
    pub fn warm(&mut self, budget: usize) -> Result<usize, TrieError> {
        let Some(fetch_many) = self.fetch_many.as_ref() else { return Ok(0) };
        let root = Child::from_root(self.root, self.root_at);
        warm(&self.shared, fetch_many, root, budget, &mut self.err)
    }

    fn source(&mut self) -> Source<'_> {
        let unkept = self.unkept.as_ref().map_or(&[][..], |u| u.nodes.as_slice());
        Source { shared: &self.shared, unkept, fetch: &self.fetch, err: &mut self.err }
    }

    /// Whether a budgeted call must stop now (never, without a budget).
    pub fn out_of_budget(&mut self) -> bool {
        self.budget.as_mut().is_some_and(|b| b.check())
    }

    /// Takes the Python error a callback raised, or makes one from `e`.
    pub fn py_error(&mut self, e: impl std::fmt::Display) -> PyErr {
        self.err.take().unwrap_or_else(|| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))
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
        let root = Child::from_root(self.root, self.root_at);
        let path = trie::key_nibbles(&keccak256(address));
        let raw = trie::get(&mut self.source(), &root, &path)?;
        let acct = raw.map(|(r, sub)| Acct::decode(&r, sub)).transpose()?;
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
        let raw = trie::get(&mut self.source(), &acct.storage(), &path)?;
        let value = match raw {
            None => U256::ZERO,
            Some((r, _)) => {
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
        let raw = fetch_raw(&self.fetch, code_hash.as_slice(), &mut self.err)?
            .ok_or(TrieError::Missing(*code_hash, 0))?;
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
                acct.storage_at = 0;
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

    /// Applies the overlay to the tries, new nodes stored at height `at`: the new root and
    /// where it is stored, every new node, and each changed account's storage root and its
    /// place. Nothing is remembered: `rebase` does that once the caller keeps the nodes.
    #[allow(clippy::type_complexity)]
    pub fn compute_root(
        &mut self,
        at: Height,
    ) -> Result<(B256, Height, Vec<NewNode>, HashMap<Address, (B256, Height)>), TrieError> {
        let mut out: Vec<NewNode> = Vec::new();
        let mut storage_roots = HashMap::new();
        let mut changes: Vec<(B256, Address, Option<Acct>)> =
            self.accounts.iter().map(|(a, acct)| (keccak256(a), *a, *acct)).collect();
        changes.sort_unstable_by_key(|c| c.0);
        let shared = self.shared.clone();
        let unkept = self.unkept.as_ref().map_or(&[][..], |u| u.nodes.as_slice());
        let mut src = Source { shared: &shared, unkept, fetch: &self.fetch, err: &mut self.err };
        let mut trie = Child::from_root(self.root, self.root_at);
        for (hashed, address, acct) in changes {
            let path = trie::key_nibbles(&hashed);
            match acct {
                None => {
                    if let Some(t) = trie::delete(&mut src, &trie, &path)? {
                        trie = t;
                    }
                }
                Some(mut a) => {
                    if let Some(o) = self.storage.get(&address) {
                        if o.cleared {
                            a.storage_root = EMPTY_ROOT;
                            a.storage_at = 0;
                        }
                        if !o.slots.is_empty() {
                            let mut slots: Vec<(B256, U256)> = o
                                .slots
                                .iter()
                                .map(|(k, v)| (keccak256(k.to_be_bytes::<32>()), *v))
                                .collect();
                            slots.sort_unstable_by_key(|s| s.0);
                            let mut st = a.storage();
                            for (hk, v) in slots {
                                let p = trie::key_nibbles(&hk);
                                if v.is_zero() {
                                    if let Some(t) = trie::delete(&mut src, &st, &p)? {
                                        st = t;
                                    }
                                } else {
                                    let value = rlp::encode_u256(&v);
                                    st = trie::insert(&mut src, st, &p, value, None)?;
                                }
                            }
                            let parallel = o.slots.len() >= PARALLEL_COMMIT;
                            (a.storage_root, a.storage_at) =
                                trie::commit(st, at, &mut out, parallel)?;
                        }
                    }
                    storage_roots.insert(address, (a.storage_root, a.storage_at));
                    let leaf = a.encode(a.storage_root);
                    trie = trie::insert(&mut src, trie, &path, leaf, a.sub())?;
                }
            }
        }
        let parallel = self.accounts.len() >= PARALLEL_COMMIT;
        let (new_root, new_root_at) = trie::commit(trie, at, &mut out, parallel)?;
        Ok((new_root, new_root_at, out, storage_roots))
    }

    /// The code the overlay added (hash, code), for the store.
    pub fn new_code(&self) -> &BTreeMap<B256, Bytes> {
        &self.new_code
    }

    /// Makes the overlay part of the base: the world now sits on `new_root` (stored at
    /// `new_root_at`). What the shared caches would learn from it — the new nodes, the
    /// block's accounts and slots for the flat cache — waits for `keep`: the caller keeps it
    /// once the nodes are in the store (a node's children are read back by their place).
    pub fn rebase(
        &mut self,
        new_root: B256,
        new_root_at: Height,
        nodes: Vec<NewNode>,
        storage_roots: HashMap<Address, (B256, Height)>,
    ) {
        self.unkept = Some(Unkept {
            from_root: self.root,
            root: new_root,
            nodes,
            accounts: std::mem::take(&mut self.accounts),
            storage: std::mem::take(&mut self.storage),
            storage_roots,
        });
        self.root = new_root;
        self.root_at = new_root_at;
        self.base.clear();
        self.new_code.clear();
    }

    /// The last `rebase` made known to the shared caches: its nodes to the node cache, and
    /// the flat cache moved to its root, carrying its changes.
    pub fn keep(&mut self) {
        let Some(u) = self.unkept.take() else { return };
        {
            let mut cache = self.shared.nodes.lock().unwrap();
            for n in u.nodes {
                cache.insert(n.hash, n.node);
            }
        }
        let mut guard = self.shared.flat.lock().unwrap();
        let flat = &mut *guard;
        if flat.root != u.from_root || flat.entries >= FLAT_CACHE_LIMIT {
            flat.reset(u.root);
        } else {
            flat.root = u.root;
        }
        for (address, acct) in u.accounts {
            let acct = acct.map(|mut a| {
                if let Some((root, at)) = u.storage_roots.get(&address) {
                    (a.storage_root, a.storage_at) = (*root, *at);
                }
                a
            });
            flat.accounts.insert(address, acct);
            flat.entries += 1;
        }
        for (address, o) in u.storage {
            if o.cleared {
                flat.slots.remove(&address);
            }
            let entry = flat.slots.entry(address).or_default();
            flat.entries += o.slots.len();
            entry.extend(o.slots);
        }
    }

    /// Every account under the root, with its storage root recomputed from scratch with
    /// alloy-trie and checked: the full-recompute oracle. Returns the recomputed state root.
    pub fn full_root(&mut self) -> Result<B256, TrieError> {
        let root = Child::from_root(self.root, self.root_at);
        let accounts = trie::leaves(&mut self.source(), &root)?;
        for (_, raw, sub) in &accounts {
            let acct = Acct::decode(raw, *sub)?;
            let slots = trie::leaves(&mut self.source(), &acct.storage())?;
            if trie::full_root(slots.iter().map(|(k, v, _)| (k, v))) != acct.storage_root {
                return Err(TrieError::Corrupt("a storage root does not match its slots"));
            }
        }
        Ok(trie::full_root(accounts.iter().map(|(k, v, _)| (k, v))))
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn key(i: usize) -> B256 {
        B256::from(U256::from(i))
    }

    #[test]
    fn a_full_generation_ages_and_the_dropped_ones_table_is_reused() {
        let g = NODE_CACHE_GENERATION;
        let node = Arc::new(Node::Branch { children: Box::default() });
        let mut cache = NodeCache::default();
        for i in 0..=2 * g {
            cache.insert(key(i), node.clone());
        }
        // key g opened the second generation, key 2g the third: the first is gone
        assert_eq!(cache.len(), g + 1);
        assert!(!cache.contains(&key(0)) && !cache.contains(&key(g - 1)));
        assert!(cache.contains(&key(g)) && cache.contains(&key(2 * g)));
        // emptied on its own thread, its table kept for the next turn
        let deadline = Instant::now() + Duration::from_secs(60);
        while cache.spare.lock().unwrap().is_none() {
            assert!(Instant::now() < deadline, "the dropped generation was never emptied");
            std::thread::sleep(Duration::from_millis(5));
        }
        let (len, room) = {
            let spare = cache.spare.lock().unwrap();
            let table = spare.as_ref().unwrap();
            (table.len(), table.capacity())
        };
        assert_eq!(len, 0);
        assert!(room >= g);
        assert_eq!(Arc::strong_count(&node), 1 + g + 1); // the first generation's let go
        for i in 2 * g + 1..=3 * g {
            cache.insert(key(i), node.clone());
        }
        assert!(cache.spare.lock().unwrap().is_none(), "the next turn took the spare table");
        assert!(cache.contains(&key(3 * g)) && cache.contains(&key(2 * g)));
        assert!(!cache.contains(&key(2 * g - 1)));
    }
}

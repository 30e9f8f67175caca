//! An incremental Merkle-Patricia trie (Ethereum's "secure" trie: 64-nibble keys), node for
//! node the same as py-evm's `HexaryTrie` hashes: every node whose RLP is 32 bytes or more is
//! referred to by its keccak, smaller ones are embedded in their parent, and the root is
//! always stored.
//!
//! Stored nodes are located, not only named: each sits in the store under the height of the
//! block that wrote it and its hash (`Child::Stored(hash, height)`), so a block's new nodes
//! are one contiguous run of keys (appended, never scattered over the whole store). A stored
//! record is the node's RLP followed by a *locator*: the heights of the stored nodes it refers
//! to — its hashed children in order, and for a leaf whose value roots another trie (an
//! account's storage) that trie's root — as LEB128 numbers. A record without a locator (a
//! content-addressed store, where any height will do) reads with heights 0.
//!
//! A trie is a `Child`: empty, a stored node, or a node in memory. Updates copy the path they
//! change and share everything else; `commit` encodes the changed nodes bottom-up at one
//! height, hands each new stored node to the caller, and returns the root.

use std::sync::Arc;

use revm::primitives::{b256, keccak256, B256};

use crate::rlp;

/// keccak(rlp(b"")): the root of an empty trie.
pub const EMPTY_ROOT: B256 =
    b256!("56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421");

/// The height of the block whose commit stored a node: half of its place in the store.
pub type Height = u64;

#[derive(Debug)]
pub enum TrieError {
    /// A node the trie refers to is not in the store.
    Missing(B256, Height),
    /// A stored node is not a valid trie node.
    Corrupt(&'static str),
    /// The store's reader failed (the error is kept by the store).
    Source,
}

impl std::fmt::Display for TrieError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TrieError::Missing(h, at) => {
                write!(f, "trie node {h} (stored at height {at}) is missing from the store")
            }
            TrieError::Corrupt(why) => write!(f, "corrupt trie node: {why}"),
            TrieError::Source => write!(f, "the node store failed"),
        }
    }
}

impl From<rlp::RlpError> for TrieError {
    fn from(e: rlp::RlpError) -> Self {
        TrieError::Corrupt(e.0)
    }
}

pub type Nibbles = Vec<u8>;

#[derive(Debug, Clone)]
pub enum Node {
    /// `sub`: where the trie the value roots is stored (an account leaf's storage root).
    Leaf {
        key: Nibbles,
        value: Vec<u8>,
        sub: Option<Height>,
    },
    Ext {
        key: Nibbles,
        child: Child,
    },
    Branch {
        children: Box<[Child; 16]>,
    },
}

#[derive(Debug, Clone, Default)]
pub enum Child {
    #[default]
    Empty,
    Stored(B256, Height),
    Node(Arc<Node>),
}

impl Child {
    /// The trie whose root is `root`, stored at height `at`.
    pub fn from_root(root: B256, at: Height) -> Child {
        if root == EMPTY_ROOT {
            Child::Empty
        } else {
            Child::Stored(root, at)
        }
    }

    fn is_empty(&self) -> bool {
        matches!(self, Child::Empty)
    }
}

/// Where stored nodes come from.
pub trait NodeSource {
    fn load(&mut self, hash: &B256, at: Height) -> Result<Arc<Node>, TrieError>;
}

/// A node `commit` encoded that the store must keep: its hash, its record (RLP and
/// locator) and the node as it now stands in memory (children by location).
pub struct NewNode {
    pub hash: B256,
    pub record: Vec<u8>,
    pub node: Arc<Node>,
}

/// The 64 nibbles of a 32-byte key.
pub fn key_nibbles(key: &B256) -> Nibbles {
    let mut out = Vec::with_capacity(64);
    for b in key.iter() {
        out.push(b >> 4);
        out.push(b & 0x0f);
    }
    out
}

fn resolve<S: NodeSource>(src: &mut S, child: &Child) -> Result<Option<Arc<Node>>, TrieError> {
    Ok(match child {
        Child::Empty => None,
        Child::Stored(h, at) => Some(src.load(h, *at)?),
        Child::Node(n) => Some(n.clone()),
    })
}

/// A value found in the trie, with its leaf's `sub`.
pub type Found = (Vec<u8>, Option<Height>);

/// The value stored under `path` and its leaf's `sub`, if any.
pub fn get<S: NodeSource>(
    src: &mut S,
    root: &Child,
    path: &[u8],
) -> Result<Option<Found>, TrieError> {
    let mut child = root.clone();
    let mut path = path;
    loop {
        let Some(node) = resolve(src, &child)? else {
            return Ok(None);
        };
        match &*node {
            Node::Leaf { key, value, sub } => {
                return Ok(if key[..] == path[..] { Some((value.clone(), *sub)) } else { None });
            }
            Node::Ext { key, child: next } => {
                if !path.starts_with(key) {
                    return Ok(None);
                }
                path = &path[key.len()..];
                child = next.clone();
            }
            Node::Branch { children } => {
                let Some((&i, rest)) = path.split_first() else {
                    return Ok(None);
                };
                child = children[i as usize].clone();
                path = rest;
            }
        }
    }
}

fn leaf(key: &[u8], value: Vec<u8>, sub: Option<Height>) -> Child {
    Child::Node(Arc::new(Node::Leaf { key: key.to_vec(), value, sub }))
}

fn ext(key: &[u8], child: Child) -> Child {
    if key.is_empty() {
        return child;
    }
    Child::Node(Arc::new(Node::Ext { key: key.to_vec(), child }))
}

fn branch(children: Box<[Child; 16]>) -> Child {
    Child::Node(Arc::new(Node::Branch { children }))
}

fn empty_children() -> Box<[Child; 16]> {
    Box::default()
}

fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// The trie `child` with `path` set to `value` (whose own trie, if any, is stored at `sub`).
///
/// A node only this trie holds — one an earlier insert of the same update made — is changed
/// in place; a node the cache or another trie shares is copied first. So a block's sorted
/// inserts copy each branch above them once, not once per key that passes through it.
pub fn insert<S: NodeSource>(
    src: &mut S,
    child: Child,
    path: &[u8],
    value: Vec<u8>,
    sub: Option<Height>,
) -> Result<Child, TrieError> {
    let node = match child {
        Child::Empty => return Ok(leaf(path, value, sub)),
        Child::Stored(h, at) => src.load(&h, at)?,
        Child::Node(n) => n,
    };
    let node = match Arc::try_unwrap(node) {
        Ok(Node::Branch { mut children }) => {
            let Some((&i, rest)) = path.split_first() else {
                return Err(TrieError::Corrupt("keys of different lengths"));
            };
            let slot = std::mem::take(&mut children[i as usize]);
            children[i as usize] = insert(src, slot, rest, value, sub)?;
            return Ok(branch(children));
        }
        Ok(Node::Ext { key, child: next }) if path.starts_with(&key) => {
            let rest = &path[key.len()..];
            return Ok(ext(&key, insert(src, next, rest, value, sub)?));
        }
        Ok(owned) => Arc::new(owned),
        Err(shared) => shared,
    };
    Ok(match &*node {
        Node::Leaf { key, value: old, sub: old_sub } => {
            if key[..] == path[..] {
                leaf(path, value, sub)
            } else {
                let p = common_prefix(key, path);
                if p >= key.len() || p >= path.len() {
                    return Err(TrieError::Corrupt("keys of different lengths"));
                }
                let mut children = empty_children();
                children[key[p] as usize] = leaf(&key[p + 1..], old.clone(), *old_sub);
                children[path[p] as usize] = leaf(&path[p + 1..], value, sub);
                ext(&path[..p], branch(children))
            }
        }
        Node::Ext { key, child: next } => {
            let p = common_prefix(key, path);
            if p == key.len() {
                ext(key, insert(src, next.clone(), &path[p..], value, sub)?)
            } else {
                if p >= path.len() {
                    return Err(TrieError::Corrupt("keys of different lengths"));
                }
                let mut children = empty_children();
                children[key[p] as usize] = if p + 1 == key.len() {
                    next.clone()
                } else {
                    ext(&key[p + 1..], next.clone())
                };
                children[path[p] as usize] = leaf(&path[p + 1..], value, sub);
                ext(&key[..p], branch(children))
            }
        }
        Node::Branch { children } => {
            let Some((&i, rest)) = path.split_first() else {
                return Err(TrieError::Corrupt("keys of different lengths"));
            };
            let mut children = children.clone();
            let slot = std::mem::take(&mut children[i as usize]);
            children[i as usize] = insert(src, slot, rest, value, sub)?;
            branch(children)
        }
    })
}

/// The trie `child` without `path`, or None when `path` is not in it (nothing changes).
pub fn delete<S: NodeSource>(
    src: &mut S,
    child: &Child,
    path: &[u8],
) -> Result<Option<Child>, TrieError> {
    let Some(node) = resolve(src, child)? else {
        return Ok(None);
    };
    match &*node {
        Node::Leaf { key, .. } => Ok(if key[..] == path[..] { Some(Child::Empty) } else { None }),
        Node::Ext { key, child: next } => {
            if !path.starts_with(key) {
                return Ok(None);
            }
            match delete(src, next, &path[key.len()..])? {
                None => Ok(None),
                Some(new) => Ok(Some(join(src, key, new)?)),
            }
        }
        Node::Branch { children } => {
            let Some((&i, rest)) = path.split_first() else {
                return Ok(None);
            };
            let Some(new) = delete(src, &children[i as usize], rest)? else {
                return Ok(None);
            };
            let mut children = children.clone();
            children[i as usize] = new;
            let mut live = children.iter().enumerate().filter(|(_, c)| !c.is_empty());
            let first = live.next();
            if live.next().is_some() {
                return Ok(Some(branch(children)));
            }
            match first {
                None => Ok(Some(Child::Empty)),
                Some((j, only)) => Ok(Some(join(src, &[j as u8], only.clone())?)),
            }
        }
    }
}

/// `prefix` followed by `child`, in canonical form (paths merged into a leaf or extension).
fn join<S: NodeSource>(src: &mut S, prefix: &[u8], child: Child) -> Result<Child, TrieError> {
    let Some(node) = resolve(src, &child)? else {
        return Ok(Child::Empty);
    };
    Ok(match &*node {
        Node::Leaf { key, value, sub } => leaf(&[prefix, key].concat(), value.clone(), *sub),
        Node::Ext { key, child: next } => ext(&[prefix, key].concat(), next.clone()),
        Node::Branch { .. } => ext(prefix, child),
    })
}

// --- encoding ---------------------------------------------------------------------------

fn hex_prefix(nibbles: &[u8], is_leaf: bool) -> Vec<u8> {
    let flag = if is_leaf { 2u8 } else { 0 };
    let mut out = Vec::with_capacity(nibbles.len() / 2 + 1);
    let rest = if nibbles.len() % 2 == 1 {
        out.push(((flag + 1) << 4) | nibbles[0]);
        &nibbles[1..]
    } else {
        out.push(flag << 4);
        nibbles
    };
    for pair in rest.chunks(2) {
        out.push((pair[0] << 4) | pair[1]);
    }
    out
}

fn hex_prefix_decode(bytes: &[u8]) -> Result<(Nibbles, bool), TrieError> {
    let first = *bytes.first().ok_or(TrieError::Corrupt("empty path"))?;
    let flag = first >> 4;
    if flag > 3 {
        return Err(TrieError::Corrupt("bad path flag"));
    }
    let mut key = Vec::with_capacity(bytes.len() * 2);
    if flag & 1 == 1 {
        key.push(first & 0x0f);
    }
    for b in &bytes[1..] {
        key.push(b >> 4);
        key.push(b & 0x0f);
    }
    Ok((key, flag & 2 == 2))
}

/// Appends `n` as LEB128 (seven bits a byte, low first, high bit = more follows).
pub fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn read_varint(data: &mut &[u8]) -> Result<u64, TrieError> {
    let mut n: u64 = 0;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = data.split_first().ok_or(TrieError::Corrupt("short locator"))?;
        *data = rest;
        n |= ((byte & 0x7f) as u64) << shift;
        if byte & 0x80 == 0 {
            return Ok(n);
        }
    }
    Err(TrieError::Corrupt("locator number too long"))
}

/// How a parent refers to a child: nothing, a stored node, or the child's RLP embedded.
enum Enc {
    Empty,
    Stored(B256, Height),
    Inline(Vec<u8>),
}

fn put_enc(out: &mut Vec<u8>, locator: &mut Vec<u8>, enc: &Enc) {
    match enc {
        Enc::Empty => out.push(0x80),
        Enc::Stored(h, at) => {
            out.push(0xa0);
            out.extend_from_slice(h.as_slice());
            put_varint(locator, *at);
        }
        Enc::Inline(raw) => out.extend_from_slice(raw),
    }
}

/// Encodes the new nodes under `root` as stored at height `at`, passes each stored one to
/// `out`, and returns the root and where it is stored. The root node is stored whatever its
/// size. Encoding reads nothing from the store (every node it encodes is in memory), so a
/// root branch's two halves are encoded on two threads when `parallel`. The trie is consumed:
/// its new nodes become the stored ones (their memory reused, not copied).
pub fn commit(
    root: Child,
    at: Height,
    out: &mut Vec<NewNode>,
    parallel: bool,
) -> Result<(B256, Height), TrieError> {
    match root {
        Child::Empty => Ok((EMPTY_ROOT, 0)),
        Child::Stored(h, stored_at) => Ok((h, stored_at)),
        Child::Node(n) => {
            let (canon, mut record, locator) = match own(n) {
                Node::Branch { children } if parallel => encode_branch_parallel(children, at, out)?,
                node => encode_tree(node, at, out)?,
            };
            let h = keccak256(&record);
            record.extend_from_slice(&locator);
            out.push(NewNode { hash: h, record, node: canon });
            Ok((h, at))
        }
    }
}

type Encoded = (Arc<Node>, Vec<u8>, Vec<u8>);

/// The node itself: taken when this trie alone holds it (the nodes an update made), copied
/// when shared (an embedded node of a stored one, say: small).
fn own(n: Arc<Node>) -> Node {
    Arc::try_unwrap(n).unwrap_or_else(|shared| (*shared).clone())
}

fn child_ref(child: Child, at: Height, out: &mut Vec<NewNode>) -> Result<(Child, Enc), TrieError> {
    Ok(match child {
        Child::Empty => (Child::Empty, Enc::Empty),
        Child::Stored(h, stored_at) => (Child::Stored(h, stored_at), Enc::Stored(h, stored_at)),
        Child::Node(n) => {
            let (canon, mut raw, locator) = encode_tree(own(n), at, out)?;
            if raw.len() < 32 {
                if !locator.is_empty() {
                    return Err(TrieError::Corrupt("an embedded node refers to stored ones"));
                }
                (Child::Node(canon), Enc::Inline(raw))
            } else {
                let h = keccak256(&raw);
                raw.extend_from_slice(&locator);
                out.push(NewNode { hash: h, record: raw, node: canon });
                (Child::Stored(h, at), Enc::Stored(h, at))
            }
        }
    })
}

/// A node's RLP and locator, and the node as stored (children by location or embedded).
fn encode_tree(node: Node, at: Height, out: &mut Vec<NewNode>) -> Result<Encoded, TrieError> {
    let mut locator = Vec::new();
    Ok(match node {
        Node::Leaf { key, value, sub } => {
            let mut payload = Vec::with_capacity(key.len() / 2 + value.len() + 8);
            rlp::put_str(&mut payload, &hex_prefix(&key, true));
            rlp::put_str(&mut payload, &value);
            if let Some(sub) = sub {
                put_varint(&mut locator, sub);
            }
            (Arc::new(Node::Leaf { key, value, sub }), rlp::list(&payload), locator)
        }
        Node::Ext { key, child } => {
            let (canon, enc) = child_ref(child, at, out)?;
            let mut payload = Vec::with_capacity(key.len() / 2 + 40);
            rlp::put_str(&mut payload, &hex_prefix(&key, false));
            put_enc(&mut payload, &mut locator, &enc);
            (Arc::new(Node::Ext { key, child: canon }), rlp::list(&payload), locator)
        }
        Node::Branch { mut children } => {
            let mut encs = Vec::with_capacity(16);
            for c in children.iter_mut() {
                let (canon, enc) = child_ref(std::mem::take(c), at, out)?;
                *c = canon;
                encs.push(enc);
            }
            branch_encoding(children, &encs)
        }
    })
}

/// A branch from its children (as stored) and their references.
fn branch_encoding(children: Box<[Child; 16]>, encs: &[Enc]) -> Encoded {
    let mut payload = Vec::with_capacity(17 * 33);
    let mut locator = Vec::new();
    for enc in encs {
        put_enc(&mut payload, &mut locator, enc);
    }
    payload.push(0x80);
    (Arc::new(Node::Branch { children }), rlp::list(&payload), locator)
}

/// `encode_tree` of a branch, its children 8..16 encoded on a second thread.
fn encode_branch_parallel(
    children: Box<[Child; 16]>,
    at: Height,
    out: &mut Vec<NewNode>,
) -> Result<Encoded, TrieError> {
    let mut low: Vec<Child> = Vec::from(children as Box<[Child]>);
    let high = low.split_off(8);
    let encode_half = |half: Vec<Child>| {
        let mut out = Vec::new();
        let refs =
            half.into_iter().map(|c| child_ref(c, at, &mut out)).collect::<Result<Vec<_>, _>>();
        refs.map(|r| (r, out))
    };
    let (first, second) = std::thread::scope(|scope| {
        let other = scope.spawn(|| encode_half(high));
        let first = encode_half(low);
        (first, other.join().expect("trie encoding thread panicked"))
    });
    let (refs_low, out_low) = first?;
    let (refs_high, out_high) = second?;
    out.extend(out_low);
    out.extend(out_high);
    let (canon, encs): (Vec<Child>, Vec<Enc>) = refs_low.into_iter().chain(refs_high).unzip();
    let children: Box<[Child; 16]> =
        canon.into_boxed_slice().try_into().expect("a branch has 16 children");
    Ok(branch_encoding(children, &encs))
}

/// Decodes a stored record: the node's RLP, then its locator (none: every height 0).
pub fn decode_node(record: &[u8]) -> Result<Node, TrieError> {
    let (it, rest) = rlp::item(record)?;
    let mut locator = if rest.is_empty() { None } else { Some(rest) };
    let node = decode_item(&it, &mut locator)?;
    if locator.is_some_and(|l| !l.is_empty()) {
        return Err(TrieError::Corrupt("locator longer than the node's references"));
    }
    Ok(node)
}

fn decode_item(it: &rlp::Item<'_>, locator: &mut Option<&[u8]>) -> Result<Node, TrieError> {
    if !it.is_list {
        return Err(TrieError::Corrupt("a node is a list"));
    }
    let items = rlp::items(it.payload)?;
    match items.len() {
        2 => {
            if items[0].is_list {
                return Err(TrieError::Corrupt("path is a string"));
            }
            let (key, is_leaf) = hex_prefix_decode(items[0].payload)?;
            if is_leaf {
                if items[1].is_list {
                    return Err(TrieError::Corrupt("leaf value is a string"));
                }
                let sub = match locator {
                    Some(l) if !l.is_empty() => Some(read_varint(l)?),
                    _ => None,
                };
                Ok(Node::Leaf { key, value: items[1].payload.to_vec(), sub })
            } else {
                Ok(Node::Ext { key, child: decode_child(&items[1], locator)? })
            }
        }
        17 => {
            let mut children = empty_children();
            for (i, item) in items[..16].iter().enumerate() {
                children[i] = decode_child(item, locator)?;
            }
            if !items[16].payload.is_empty() {
                return Err(TrieError::Corrupt("branch value in a secure trie"));
            }
            Ok(Node::Branch { children })
        }
        _ => Err(TrieError::Corrupt("a node has 2 or 17 items")),
    }
}

fn decode_child(item: &rlp::Item<'_>, locator: &mut Option<&[u8]>) -> Result<Child, TrieError> {
    if item.is_list {
        // embedded: refers to no stored node, so it takes nothing from the locator
        return Ok(Child::Node(Arc::new(decode_item(item, &mut None)?)));
    }
    match item.payload.len() {
        0 => Ok(Child::Empty),
        32 => {
            let at = match locator {
                Some(l) => read_varint(l)?,
                None => 0,
            };
            Ok(Child::Stored(B256::from_slice(item.payload), at))
        }
        _ => Err(TrieError::Corrupt("a child is a hash or a node")),
    }
}

/// Every (key, value, sub) under `root`, in key order (for checks and the full-recompute
/// oracle).
#[allow(clippy::type_complexity)]
pub fn leaves<S: NodeSource>(
    src: &mut S,
    root: &Child,
) -> Result<Vec<(Nibbles, Vec<u8>, Option<Height>)>, TrieError> {
    let mut out = Vec::new();
    let mut stack: Vec<(Nibbles, Child)> = vec![(Vec::new(), root.clone())];
    while let Some((prefix, child)) = stack.pop() {
        let Some(node) = resolve(src, &child)? else { continue };
        match &*node {
            Node::Leaf { key, value, sub } => {
                out.push(([prefix, key.clone()].concat(), value.clone(), *sub))
            }
            Node::Ext { key, child } => stack.push(([prefix, key.clone()].concat(), child.clone())),
            Node::Branch { children } => {
                for i in (0..16).rev() {
                    if !children[i].is_empty() {
                        let mut p = prefix.clone();
                        p.push(i as u8);
                        stack.push((p, children[i].clone()));
                    }
                }
            }
        }
    }
    Ok(out)
}

/// The root of a trie holding `leaves` (sorted by key), computed from scratch with
/// alloy-trie's `HashBuilder`: the oracle for the incremental trie.
pub fn full_root<'a>(leaves: impl IntoIterator<Item = (&'a Nibbles, &'a Vec<u8>)>) -> B256 {
    let mut hb = alloy_trie::HashBuilder::default();
    for (key, value) in leaves {
        hb.add_leaf(alloy_trie::Nibbles::from_nibbles(key), value);
    }
    hb.root()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, HashMap};

    /// Records by (height, hash), as the node's store keeps them: a load must name the
    /// height the node was committed at.
    #[derive(Default)]
    struct MemStore {
        records: HashMap<(Height, B256), Vec<u8>>,
    }

    impl NodeSource for MemStore {
        fn load(&mut self, hash: &B256, at: Height) -> Result<Arc<Node>, TrieError> {
            // Read the encoded store, not the memory, so encoding and decoding are both tested.
            let raw = self.records.get(&(at, *hash)).ok_or(TrieError::Missing(*hash, at))?;
            Ok(Arc::new(decode_node(raw)?))
        }
    }

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    type Model = BTreeMap<Nibbles, (Vec<u8>, Option<Height>)>;

    #[test]
    fn random_updates_match_hash_builder() {
        let mut rng = Rng(0x9e3779b97f4a7c15);
        let mut store = MemStore::default();
        let (mut root, mut root_at) = (EMPTY_ROOT, 0);
        let mut model: Model = BTreeMap::new();
        let keys: Vec<B256> = (0..400u64).map(|i| keccak256(i.to_be_bytes())).collect();
        for height in 1..=60u64 {
            let mut trie = Child::from_root(root, root_at);
            for _ in 0..(1 + rng.next() % 40) {
                let key = key_nibbles(&keys[(rng.next() % keys.len() as u64) as usize]);
                if rng.next().is_multiple_of(3) {
                    if let Some(t) = delete(&mut store, &trie, &key).unwrap() {
                        trie = t;
                    }
                    model.remove(&key);
                } else {
                    // short values give embedded nodes deep down; long ones stored nodes,
                    // some of them with a sub-trie location (as account leaves have)
                    let len = 1 + (rng.next() % 40) as usize;
                    let value: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                    let sub =
                        (len >= 32 && rng.next().is_multiple_of(2)).then(|| rng.next() % 1000);
                    trie = insert(&mut store, trie, &key, value.clone(), sub).unwrap();
                    model.insert(key, (value, sub));
                }
            }
            let mut out = Vec::new();
            (root, root_at) = commit(trie, height, &mut out, height % 2 == 0).unwrap();
            for n in out {
                let (it, _) = rlp::item(&n.record).unwrap();
                assert_eq!(keccak256(it.raw), n.hash);
                store.records.insert((height, n.hash), n.record);
            }
            assert!(root == EMPTY_ROOT || root_at <= height);
            assert_eq!(root, full_root(model.iter().map(|(k, (v, _))| (k, v))), "height {height}");
            let walked = leaves(&mut store, &Child::from_root(root, root_at)).unwrap();
            let expected: Vec<_> =
                model.iter().map(|(k, (v, s))| (k.clone(), v.clone(), *s)).collect();
            assert_eq!(walked, expected);
            for (k, (v, s)) in &model {
                let got = get(&mut store, &Child::from_root(root, root_at), k).unwrap();
                assert_eq!(got, Some((v.clone(), *s)));
            }
        }
    }

    #[test]
    fn records_without_a_locator_read_at_height_zero() {
        // a content-addressed store (records = plain RLP): every reference reads at 0
        let mut store = MemStore::default();
        let mut trie = Child::Empty;
        for i in 0..50u64 {
            let key = key_nibbles(&keccak256(i.to_be_bytes()));
            trie = insert(&mut store, trie, &key, vec![7u8; 40], None).unwrap();
        }
        let mut out = Vec::new();
        let (root, _) = commit(trie, 9, &mut out, false).unwrap();
        for n in out {
            let (it, _) = rlp::item(&n.record).unwrap();
            store.records.insert((0, n.hash), it.raw.to_vec());
        }
        assert_eq!(leaves(&mut store, &Child::from_root(root, 0)).unwrap().len(), 50);
    }

    #[test]
    fn a_corrupt_locator_is_refused() {
        let mut trie = Child::Empty;
        let mut store = MemStore::default();
        for i in 0..20u64 {
            let key = key_nibbles(&keccak256(i.to_be_bytes()));
            trie = insert(&mut store, trie, &key, vec![1u8; 40], None).unwrap();
        }
        let mut out = Vec::new();
        commit(trie, 3, &mut out, true).unwrap();
        let root = out.last().unwrap();
        let mut long = root.record.clone();
        long.push(5);
        assert!(matches!(decode_node(&long), Err(TrieError::Corrupt(_))));
        let short = &root.record[..root.record.len() - 1];
        assert!(matches!(decode_node(short), Err(TrieError::Corrupt(_))));
    }

    #[test]
    fn varints_round_trip() {
        for n in [0u64, 1, 127, 128, 300, 1 << 35, u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, n);
            let mut data = &out[..];
            assert_eq!(read_varint(&mut data).unwrap(), n);
            assert!(data.is_empty());
        }
    }

    #[test]
    fn empty_trie() {
        assert_eq!(full_root(std::iter::empty()), EMPTY_ROOT);
        let mut store = MemStore::default();
        let key = key_nibbles(&keccak256([1u8]));
        let t = insert(&mut store, Child::Empty, &key, vec![1], None).unwrap();
        let t = delete(&mut store, &t, &key).unwrap().unwrap();
        let mut out = Vec::new();
        assert_eq!(commit(t, 1, &mut out, false).unwrap().0, EMPTY_ROOT);
        assert!(out.is_empty());
    }
}

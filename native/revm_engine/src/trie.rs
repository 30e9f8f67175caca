//! An incremental Merkle-Patricia trie (Ethereum's "secure" trie: 64-nibble keys), node for
//! node the same as py-evm's `HexaryTrie` writes: every node whose RLP is 32 bytes or more is
//! stored under its keccak, smaller ones are embedded in their parent, and the root is always
//! stored by hash.
//!
//! A trie is a `Child`: empty, a hash (the node lives in the store), or a node in memory.
//! Updates copy the path they change and share everything else; `commit` encodes the changed
//! nodes bottom-up, hands each new stored node to the caller, and returns the root hash.

use std::sync::Arc;

use revm::primitives::{b256, keccak256, B256};

use crate::rlp;

/// keccak(rlp(b"")): the root of an empty trie.
pub const EMPTY_ROOT: B256 =
    b256!("56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421");

#[derive(Debug)]
pub enum TrieError {
    /// A node the trie refers to is not in the store.
    Missing(B256),
    /// A stored node is not a valid trie node.
    Corrupt(&'static str),
    /// The store's reader failed (the error is kept by the store).
    Source,
}

impl std::fmt::Display for TrieError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TrieError::Missing(h) => write!(f, "trie node {h} is missing from the store"),
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

#[derive(Debug)]
pub enum Node {
    Leaf { key: Nibbles, value: Vec<u8> },
    Ext { key: Nibbles, child: Child },
    Branch { children: Box<[Child; 16]> },
}

#[derive(Debug, Clone, Default)]
pub enum Child {
    #[default]
    Empty,
    Hash(B256),
    Node(Arc<Node>),
}

impl Child {
    pub fn from_root(root: B256) -> Child {
        if root == EMPTY_ROOT {
            Child::Empty
        } else {
            Child::Hash(root)
        }
    }

    fn is_empty(&self) -> bool {
        matches!(self, Child::Empty)
    }
}

/// Where stored nodes come from, and where committed ones are remembered.
pub trait NodeSource {
    fn load(&mut self, hash: &B256) -> Result<Arc<Node>, TrieError>;
    fn remember(&mut self, hash: B256, node: Arc<Node>);
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
        Child::Hash(h) => Some(src.load(h)?),
        Child::Node(n) => Some(n.clone()),
    })
}

/// The value stored under `path`, if any.
pub fn get<S: NodeSource>(
    src: &mut S,
    root: &Child,
    path: &[u8],
) -> Result<Option<Vec<u8>>, TrieError> {
    let mut child = root.clone();
    let mut path = path;
    loop {
        let Some(node) = resolve(src, &child)? else {
            return Ok(None);
        };
        match &*node {
            Node::Leaf { key, value } => {
                return Ok(if key[..] == path[..] { Some(value.clone()) } else { None });
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

fn leaf(key: &[u8], value: Vec<u8>) -> Child {
    Child::Node(Arc::new(Node::Leaf { key: key.to_vec(), value }))
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

/// The trie `child` with `path` set to `value`.
pub fn insert<S: NodeSource>(
    src: &mut S,
    child: &Child,
    path: &[u8],
    value: Vec<u8>,
) -> Result<Child, TrieError> {
    let Some(node) = resolve(src, child)? else {
        return Ok(leaf(path, value));
    };
    Ok(match &*node {
        Node::Leaf { key, value: old } => {
            if key[..] == path[..] {
                leaf(path, value)
            } else {
                let p = common_prefix(key, path);
                if p >= key.len() || p >= path.len() {
                    return Err(TrieError::Corrupt("keys of different lengths"));
                }
                let mut children = empty_children();
                children[key[p] as usize] = leaf(&key[p + 1..], old.clone());
                children[path[p] as usize] = leaf(&path[p + 1..], value);
                ext(&path[..p], branch(children))
            }
        }
        Node::Ext { key, child: next } => {
            let p = common_prefix(key, path);
            if p == key.len() {
                ext(key, insert(src, next, &path[p..], value)?)
            } else {
                if p >= path.len() {
                    return Err(TrieError::Corrupt("keys of different lengths"));
                }
                let mut children = empty_children();
                children[key[p] as usize] =
                    if p + 1 == key.len() { next.clone() } else { ext(&key[p + 1..], next.clone()) };
                children[path[p] as usize] = leaf(&path[p + 1..], value);
                ext(&key[..p], branch(children))
            }
        }
        Node::Branch { children } => {
            let Some((&i, rest)) = path.split_first() else {
                return Err(TrieError::Corrupt("keys of different lengths"));
            };
            let mut children = children.clone();
            children[i as usize] = insert(src, &children[i as usize], rest, value)?;
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
        Node::Leaf { key, value } => leaf(&[prefix, key].concat(), value.clone()),
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

/// How a parent refers to a child: nothing, a hash, or the child's RLP embedded.
enum Enc {
    Empty,
    Hash(B256),
    Inline(Vec<u8>),
}

fn put_enc(out: &mut Vec<u8>, enc: &Enc) {
    match enc {
        Enc::Empty => out.push(0x80),
        Enc::Hash(h) => {
            out.push(0xa0);
            out.extend_from_slice(h.as_slice());
        }
        Enc::Inline(raw) => out.extend_from_slice(raw),
    }
}

/// Encodes the new nodes under `root`, passes each stored one to `out` (and to the source's
/// memory), and returns the root hash. The root node is stored whatever its size.
pub fn commit<S: NodeSource>(
    src: &mut S,
    root: &Child,
    out: &mut Vec<(B256, Vec<u8>)>,
) -> B256 {
    match root {
        Child::Empty => EMPTY_ROOT,
        Child::Hash(h) => *h,
        Child::Node(n) => {
            let (canon, raw) = encode_tree(src, n, out);
            let h = keccak256(&raw);
            src.remember(h, canon);
            out.push((h, raw));
            h
        }
    }
}

fn child_ref<S: NodeSource>(
    src: &mut S,
    child: &Child,
    out: &mut Vec<(B256, Vec<u8>)>,
) -> (Child, Enc) {
    match child {
        Child::Empty => (Child::Empty, Enc::Empty),
        Child::Hash(h) => (Child::Hash(*h), Enc::Hash(*h)),
        Child::Node(n) => {
            let (canon, raw) = encode_tree(src, n, out);
            if raw.len() < 32 {
                (Child::Node(canon), Enc::Inline(raw))
            } else {
                let h = keccak256(&raw);
                src.remember(h, canon);
                out.push((h, raw));
                (Child::Hash(h), Enc::Hash(h))
            }
        }
    }
}

/// A node's RLP, and the node as stored (children by hash or embedded).
fn encode_tree<S: NodeSource>(
    src: &mut S,
    node: &Arc<Node>,
    out: &mut Vec<(B256, Vec<u8>)>,
) -> (Arc<Node>, Vec<u8>) {
    match &**node {
        Node::Leaf { key, value } => {
            let mut payload = Vec::with_capacity(key.len() / 2 + value.len() + 8);
            rlp::put_str(&mut payload, &hex_prefix(key, true));
            rlp::put_str(&mut payload, value);
            (node.clone(), rlp::list(&payload))
        }
        Node::Ext { key, child } => {
            let (canon, enc) = child_ref(src, child, out);
            let mut payload = Vec::with_capacity(key.len() / 2 + 40);
            rlp::put_str(&mut payload, &hex_prefix(key, false));
            put_enc(&mut payload, &enc);
            let stored = Arc::new(Node::Ext { key: key.clone(), child: canon });
            (stored, rlp::list(&payload))
        }
        Node::Branch { children } => {
            let mut canon_children = empty_children();
            let mut payload = Vec::with_capacity(17 * 33);
            for (i, c) in children.iter().enumerate() {
                let (canon, enc) = child_ref(src, c, out);
                put_enc(&mut payload, &enc);
                canon_children[i] = canon;
            }
            payload.push(0x80);
            (Arc::new(Node::Branch { children: canon_children }), rlp::list(&payload))
        }
    }
}

/// Decodes a stored node.
pub fn decode_node(raw: &[u8]) -> Result<Node, TrieError> {
    let (it, _) = rlp::item(raw)?;
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
                Ok(Node::Leaf { key, value: items[1].payload.to_vec() })
            } else {
                Ok(Node::Ext { key, child: decode_child(&items[1])? })
            }
        }
        17 => {
            let mut children = empty_children();
            for (i, item) in items[..16].iter().enumerate() {
                children[i] = decode_child(item)?;
            }
            if !items[16].payload.is_empty() {
                return Err(TrieError::Corrupt("branch value in a secure trie"));
            }
            Ok(Node::Branch { children })
        }
        _ => Err(TrieError::Corrupt("a node has 2 or 17 items")),
    }
}

fn decode_child(item: &rlp::Item<'_>) -> Result<Child, TrieError> {
    if item.is_list {
        return Ok(Child::Node(Arc::new(decode_node(item.raw)?)));
    }
    match item.payload.len() {
        0 => Ok(Child::Empty),
        32 => Ok(Child::Hash(B256::from_slice(item.payload))),
        _ => Err(TrieError::Corrupt("a child is a hash or a node")),
    }
}

/// Every (key, value) under `root`, in key order (for checks and the full-recompute oracle).
pub fn leaves<S: NodeSource>(
    src: &mut S,
    root: &Child,
) -> Result<Vec<(Nibbles, Vec<u8>)>, TrieError> {
    let mut out = Vec::new();
    let mut stack: Vec<(Nibbles, Child)> = vec![(Vec::new(), root.clone())];
    while let Some((prefix, child)) = stack.pop() {
        let Some(node) = resolve(src, &child)? else { continue };
        match &*node {
            Node::Leaf { key, value } => out.push(([prefix, key.clone()].concat(), value.clone())),
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
pub fn full_root(leaves: &[(Nibbles, Vec<u8>)]) -> B256 {
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

    #[derive(Default)]
    struct MemStore {
        nodes: HashMap<B256, Vec<u8>>,
        decoded: HashMap<B256, Arc<Node>>,
    }

    impl NodeSource for MemStore {
        fn load(&mut self, hash: &B256) -> Result<Arc<Node>, TrieError> {
            // Read the encoded store, not the memory, so encoding and decoding are both tested.
            let raw = self.nodes.get(hash).ok_or(TrieError::Missing(*hash))?;
            Ok(Arc::new(decode_node(raw)?))
        }
        fn remember(&mut self, hash: B256, node: Arc<Node>) {
            self.decoded.insert(hash, node);
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

    #[test]
    fn random_updates_match_hash_builder() {
        let mut rng = Rng(0x9e3779b97f4a7c15);
        let mut store = MemStore::default();
        let mut root = EMPTY_ROOT;
        let mut model: BTreeMap<Nibbles, Vec<u8>> = BTreeMap::new();
        let keys: Vec<B256> =
            (0..400u64).map(|i| keccak256(i.to_be_bytes())).collect();
        for round in 0..60 {
            let mut trie = Child::from_root(root);
            for _ in 0..(1 + rng.next() % 40) {
                let key = key_nibbles(&keys[(rng.next() % keys.len() as u64) as usize]);
                if rng.next() % 3 == 0 {
                    if let Some(t) = delete(&mut store, &trie, &key).unwrap() {
                        trie = t;
                    }
                    model.remove(&key);
                } else {
                    // short values give embedded nodes deep down; long ones stored nodes
                    let len = 1 + (rng.next() % 40) as usize;
                    let value: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                    trie = insert(&mut store, &trie, &key, value.clone()).unwrap();
                    model.insert(key, value);
                }
            }
            let mut out = Vec::new();
            root = commit(&mut store, &trie, &mut out);
            for (h, raw) in out {
                assert_eq!(keccak256(&raw), h);
                store.nodes.insert(h, raw);
            }
            let expected: Vec<_> = model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            assert_eq!(root, full_root(&expected), "round {round}");
            let walked = leaves(&mut store, &Child::from_root(root)).unwrap();
            assert_eq!(walked, expected);
            for (k, v) in &expected {
                assert_eq!(get(&mut store, &Child::from_root(root), k).unwrap().as_ref(), Some(v));
            }
        }
    }

    #[test]
    fn empty_trie() {
        assert_eq!(full_root(&[]), EMPTY_ROOT);
        let mut store = MemStore::default();
        let key = key_nibbles(&keccak256([1u8]));
        let t = insert(&mut store, &Child::Empty, &key, vec![1]).unwrap();
        let t = delete(&mut store, &t, &key).unwrap().unwrap();
        let mut out = Vec::new();
        assert_eq!(commit(&mut store, &t, &mut out), EMPTY_ROOT);
        assert!(out.is_empty());
    }
}

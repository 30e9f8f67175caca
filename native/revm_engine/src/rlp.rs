//! The little RLP the state trie needs: strings, lists, and a reader for nodes and accounts.

use revm::primitives::{B256, U256};

pub fn put_len(out: &mut Vec<u8>, len: usize, short: u8) {
    if len < 56 {
        out.push(short + len as u8);
    } else {
        let be = (len as u64).to_be_bytes();
        let skip = be.iter().take_while(|b| **b == 0).count();
        out.push(short + 55 + (8 - skip) as u8);
        out.extend_from_slice(&be[skip..]);
    }
}

/// Appends `data` as an RLP string.
pub fn put_str(out: &mut Vec<u8>, data: &[u8]) {
    if data.len() == 1 && data[0] < 0x80 {
        out.push(data[0]);
    } else {
        put_len(out, data.len(), 0x80);
        out.extend_from_slice(data);
    }
}

/// Wraps an already encoded payload as an RLP list.
pub fn list(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 9);
    put_len(&mut out, payload.len(), 0xc0);
    out.extend_from_slice(payload);
    out
}

/// Appends an unsigned integer (minimal big-endian bytes; zero is the empty string).
pub fn put_u256(out: &mut Vec<u8>, value: &U256) {
    let be: [u8; 32] = value.to_be_bytes();
    let skip = be.iter().take_while(|b| **b == 0).count();
    put_str(out, &be[skip..]);
}

pub fn put_u64(out: &mut Vec<u8>, value: u64) {
    let be = value.to_be_bytes();
    let skip = be.iter().take_while(|b| **b == 0).count();
    put_str(out, &be[skip..]);
}

/// The RLP encoding of an integer (a storage trie leaf's value).
pub fn encode_u256(value: &U256) -> Vec<u8> {
    let mut out = Vec::with_capacity(33);
    put_u256(&mut out, value);
    out
}

#[derive(Debug)]
pub struct RlpError(pub &'static str);

/// One item of an RLP byte string: whether it is a list, its payload, and its full bytes.
pub struct Item<'a> {
    pub is_list: bool,
    pub payload: &'a [u8],
    /// The item with its header (a node's RLP without what follows it).
    #[allow(dead_code)]
    pub raw: &'a [u8],
}

/// Reads the item at the start of `data`; returns it and the rest.
pub fn item(data: &[u8]) -> Result<(Item<'_>, &[u8]), RlpError> {
    let first = *data.first().ok_or(RlpError("empty input"))?;
    let (is_list, head, len) = match first {
        0x00..=0x7f => (false, 0usize, 1usize),
        0x80..=0xb7 => (false, 1, (first - 0x80) as usize),
        0xb8..=0xbf => {
            let n = (first - 0xb7) as usize;
            (false, 1 + n, be_len(data.get(1..1 + n).ok_or(RlpError("short length"))?)?)
        }
        0xc0..=0xf7 => (true, 1, (first - 0xc0) as usize),
        _ => {
            let n = (first - 0xf7) as usize;
            (true, 1 + n, be_len(data.get(1..1 + n).ok_or(RlpError("short length"))?)?)
        }
    };
    let end = head.checked_add(len).ok_or(RlpError("length overflow"))?;
    if data.len() < end {
        return Err(RlpError("truncated item"));
    }
    let payload = if first < 0x80 { &data[..1] } else { &data[head..end] };
    Ok((Item { is_list, payload, raw: &data[..end] }, &data[end..]))
}

fn be_len(bytes: &[u8]) -> Result<usize, RlpError> {
    if bytes.len() > 8 {
        return Err(RlpError("length too long"));
    }
    Ok(bytes.iter().fold(0usize, |acc, b| (acc << 8) | *b as usize))
}

/// The items of a list payload.
pub fn items(mut payload: &[u8]) -> Result<Vec<Item<'_>>, RlpError> {
    let mut out = Vec::with_capacity(17);
    while !payload.is_empty() {
        let (it, rest) = item(payload)?;
        out.push(it);
        payload = rest;
    }
    Ok(out)
}

pub fn as_u256(bytes: &[u8]) -> Result<U256, RlpError> {
    if bytes.len() > 32 {
        return Err(RlpError("integer too long"));
    }
    Ok(U256::from_be_slice(bytes))
}

pub fn as_u64(bytes: &[u8]) -> Result<u64, RlpError> {
    if bytes.len() > 8 {
        return Err(RlpError("integer too long"));
    }
    Ok(bytes.iter().fold(0u64, |acc, b| (acc << 8) | *b as u64))
}

pub fn as_b256(bytes: &[u8]) -> Result<B256, RlpError> {
    if bytes.len() != 32 {
        return Err(RlpError("expected 32 bytes"));
    }
    Ok(B256::from_slice(bytes))
}

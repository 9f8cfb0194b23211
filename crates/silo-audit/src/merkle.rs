//! The RFC 6962 Merkle tree over the entries: leaf and node hashes, roots, inclusion proofs.
//!
//! Hand-written (about a hundred lines) because the crates that implement RFC 6962 either
//! pull in a whole transparency-log client or are unmaintained; the definitions are short and
//! the tests below check them against the Certificate Transparency test vectors.
//! - leaf hash `SHA-256(0x00 || entry)`, node hash `SHA-256(0x01 || left || right)`;
//! - `MTH` of `n > 1` leaves splits at the largest power of two below `n`;
//! - the root of the empty tree is `SHA-256("")`.

use crate::hash::Hash;

/// Hash of one leaf (one canonical entry).
pub fn leaf_hash(entry: &[u8]) -> Hash {
    Hash::digest(&[&[0x00], entry])
}

/// Hash of an interior node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    Hash::digest(&[&[0x01], left.as_bytes(), right.as_bytes()])
}

/// The root of the empty tree.
pub fn empty_root() -> Hash {
    Hash::digest(&[])
}

/// The largest power of two strictly below `n` (`n >= 2`).
fn split_point(n: usize) -> usize {
    1usize << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// The Merkle tree hash (`MTH`) of the given leaf hashes.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves {
        [] => empty_root(),
        [one] => *one,
        _ => {
            let (left, right) = leaves.split_at(split_point(leaves.len()));
            node_hash(&root(left), &root(right))
        }
    }
}

/// The audit path (`PATH(m, D[n])`, RFC 6962 §2.1.1) for leaf `index` in the tree made of
/// `leaves`, or `None` when `index` is out of range.
pub fn inclusion_proof(leaves: &[Hash], index: usize) -> Option<Vec<Hash>> {
    if index >= leaves.len() {
        return None;
    }
    let mut path = Vec::new();
    build_path(leaves, index, &mut path);
    Some(path)
}

fn build_path(leaves: &[Hash], index: usize, path: &mut Vec<Hash>) {
    if leaves.len() <= 1 {
        return;
    }
    let k = split_point(leaves.len());
    let (left, right) = leaves.split_at(k);
    if index < k {
        build_path(left, index, path);
        path.push(root(right));
    } else {
        build_path(right, index - k, path);
        path.push(root(left));
    }
}

/// Checks an inclusion proof (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    snode == 0 && r == *root
}

/// The consistency proof (`PROOF(m, D[n])`, RFC 6962 §2.1.2) that the tree of the first
/// `old_size` leaves is a prefix of the tree made of `leaves`, or `None` when
/// `old_size > leaves.len()`.
pub fn consistency_proof(leaves: &[Hash], old_size: usize) -> Option<Vec<Hash>> {
    if old_size > leaves.len() {
        return None;
    }
    let mut path = Vec::new();
    if old_size > 0 {
        build_subproof(leaves, old_size, true, &mut path);
    }
    Some(path)
}

fn build_subproof(leaves: &[Hash], m: usize, whole: bool, path: &mut Vec<Hash>) {
    let n = leaves.len();
    if m == n {
        if !whole {
            path.push(root(leaves));
        }
        return;
    }
    let k = split_point(n);
    let (left, right) = leaves.split_at(k);
    if m <= k {
        build_subproof(left, m, whole, path);
        path.push(root(right));
    } else {
        build_subproof(right, m - k, false, path);
        path.push(root(left));
    }
}

/// Checks a consistency proof between an old and a new tree (RFC 9162 §2.1.4.2).
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> bool {
    if old_size > new_size {
        return false;
    }
    if old_size == new_size {
        return proof.is_empty() && old_root == new_root;
    }
    if old_size == 0 {
        return proof.is_empty();
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let (mut fnode, mut snode) = (old_size - 1, new_size - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let mut iter = path.iter();
    let Some(first) = iter.next() else {
        return false;
    };
    let (mut fr, mut sr) = (*first, *first);
    for c in iter {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    snode == 0 && fr == *old_root && sr == *new_root
}

/// Proof that the tree of `old_size` entries is a prefix of the tree of `new_size` entries,
/// so a holder of two checkpoints can check the newer extends the older without the log.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConsistencyProof {
    /// The older tree size.
    pub old_size: u64,
    /// The newer tree size.
    pub new_size: u64,
    /// The older root.
    pub old_root: Hash,
    /// The newer root.
    pub new_root: Hash,
    /// The proof nodes.
    pub path: Vec<Hash>,
}

impl ConsistencyProof {
    /// True when the older tree is a prefix of the newer one.
    pub fn verify(&self) -> bool {
        verify_consistency(
            self.old_size,
            self.new_size,
            &self.old_root,
            &self.new_root,
            &self.path,
        )
    }
}

/// Proof that the entry at `seq` is in the tree of `size` entries with root `root`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InclusionProof {
    /// The entry's seq (leaf index).
    pub seq: u64,
    /// The tree size the proof is for.
    pub size: u64,
    /// The entry's hash (leaf hash).
    pub leaf: Hash,
    /// The tree's root at `size`.
    pub root: Hash,
    /// The audit path, bottom up.
    pub path: Vec<Hash>,
}

impl InclusionProof {
    /// True when the path leads from `leaf` to `root`.
    pub fn verify(&self) -> bool {
        verify_inclusion(&self.leaf, self.seq, self.size, &self.path, &self.root)
    }
}

/// The right edge of a growing tree: one subtree root per set bit of the size, so the root
/// of any prefix is available in O(log n) memory while entries stream past.
#[derive(Clone, Debug, Default)]
pub struct Frontier {
    size: u64,
    /// Perfect subtree roots, largest first; their sizes are the set bits of `size`.
    stack: Vec<Hash>,
}

impl Frontier {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of leaves pushed.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Adds one leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        let mut h = leaf;
        let mut s = self.size;
        // Like a binary counter's carry: each trailing 1 bit merges two equal subtrees.
        while s & 1 == 1 {
            match self.stack.pop() {
                Some(left) => h = node_hash(&left, &h),
                None => break,
            }
            s >>= 1;
        }
        self.stack.push(h);
        self.size += 1;
    }

    /// The root of the leaves pushed so far. MTH splits at the largest power of two, so the
    /// root is the perfect subtrees folded right to left: `H(P1, H(P2, … Pk))`.
    pub fn root(&self) -> Hash {
        let mut iter = self.stack.iter().rev();
        let Some(last) = iter.next() else {
            return empty_root();
        };
        iter.fold(*last, |acc, left| node_hash(left, &acc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The leaves of the Certificate Transparency reference test tree.
    fn ct_leaves() -> Vec<Hash> {
        let inputs: [&[u8]; 8] = [
            b"",
            b"\x00",
            b"\x10",
            b"\x20\x21",
            b"\x30\x31",
            b"\x40\x41\x42\x43",
            b"\x50\x51\x52\x53\x54\x55\x56\x57",
            b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
        ];
        inputs.iter().map(|d| leaf_hash(d)).collect()
    }

    #[test]
    fn roots_match_the_certificate_transparency_vectors() {
        let want = [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        let leaves = ct_leaves();
        for (n, want) in want.iter().enumerate() {
            assert_eq!(root(&leaves[..=n]).to_hex(), *want, "size {}", n + 1);
        }
        assert_eq!(
            empty_root().to_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn frontier_root_equals_recursive_root_for_every_size() {
        let leaves: Vec<Hash> = (0u32..70).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let mut frontier = Frontier::new();
        assert_eq!(frontier.root(), root(&[]));
        for (i, leaf) in leaves.iter().enumerate() {
            frontier.push(*leaf);
            assert_eq!(frontier.root(), root(&leaves[..=i]), "size {}", i + 1);
            assert_eq!(frontier.size(), i as u64 + 1);
        }
    }

    #[test]
    fn consistency_proofs_verify_for_every_pair_and_reject_other_trees() {
        let leaves: Vec<Hash> = (0u32..33).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let forged: Vec<Hash> = (0u32..33)
            .map(|i| leaf_hash(&(i + 1000).to_be_bytes()))
            .collect();
        for n in 0..=leaves.len() {
            let new_root = root(&leaves[..n]);
            for m in 0..=n {
                let old_root = root(&leaves[..m]);
                let proof = consistency_proof(&leaves[..n], m).unwrap();
                assert!(
                    verify_consistency(m as u64, n as u64, &old_root, &new_root, &proof),
                    "{m} -> {n}"
                );
                if m > 0 && m < n {
                    // A rewritten old tree is not a prefix of the new one.
                    let other_old = root(&forged[..m]);
                    assert!(!verify_consistency(
                        m as u64, n as u64, &other_old, &new_root, &proof
                    ));
                    let mut rewritten = leaves[..n].to_vec();
                    rewritten[m - 1] = forged[m - 1];
                    let other_new = root(&rewritten);
                    assert!(!verify_consistency(
                        m as u64, n as u64, &old_root, &other_new, &proof
                    ));
                }
            }
            assert!(consistency_proof(&leaves[..n], n + 1).is_none());
        }
    }

    #[test]
    fn inclusion_proofs_verify_and_reject_wrong_leaves() {
        let leaves: Vec<Hash> = (0u32..33).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        for n in 1..=leaves.len() {
            let tree = &leaves[..n];
            let r = root(tree);
            for m in 0..n {
                let proof = inclusion_proof(tree, m).unwrap();
                assert!(verify_inclusion(&tree[m], m as u64, n as u64, &proof, &r));
                let other = leaf_hash(b"forged");
                assert!(!verify_inclusion(&other, m as u64, n as u64, &proof, &r));
                if n > 1 {
                    let wrong_index = ((m + 1) % n) as u64;
                    assert!(!verify_inclusion(
                        &tree[m],
                        wrong_index,
                        n as u64,
                        &proof,
                        &r
                    ));
                }
            }
            assert!(inclusion_proof(tree, n).is_none());
        }
    }
}

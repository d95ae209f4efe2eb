//! Streaming digests for every checksum type a plan may carry (md5, sha1, sha256, sha512).
//!
//! A [`Hasher`] is fed bytes as they arrive from the network, so a download is verified without
//! reading it back; [`Hasher::finish`] yields a [`Checksum`] of the same algorithm, and
//! [`verify`] compares it with the expected one and names both digests when they differ.
//! [`hash_file`] hashes a file already on disk (used to record the installed binary's sha256
//! and by the throughput benchmark).

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};
use switchyard_core::{Checksum, ChecksumAlgo};

/// Size of the read buffer used when hashing a file from disk.
pub(crate) const READ_BUF: usize = 256 * 1024;

/// The downloaded bytes do not hash to the expected digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("checksum mismatch: expected {expected}, got {actual}")]
pub struct ChecksumMismatch {
    pub expected: Checksum,
    pub actual: Checksum,
}

/// An incremental digest of one of the algorithms cosmovisor accepts.
#[derive(Clone)]
pub(crate) enum Hasher {
    Md5(Md5),
    Sha1(Sha1),
    Sha256(Sha256),
    Sha512(Sha512),
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Hasher({})", self.algo().as_str())
    }
}

impl Hasher {
    pub(crate) fn new(algo: ChecksumAlgo) -> Self {
        match algo {
            ChecksumAlgo::Md5 => Hasher::Md5(Md5::new()),
            ChecksumAlgo::Sha1 => Hasher::Sha1(Sha1::new()),
            ChecksumAlgo::Sha256 => Hasher::Sha256(Sha256::new()),
            ChecksumAlgo::Sha512 => Hasher::Sha512(Sha512::new()),
        }
    }

    pub(crate) fn algo(&self) -> ChecksumAlgo {
        match self {
            Hasher::Md5(_) => ChecksumAlgo::Md5,
            Hasher::Sha1(_) => ChecksumAlgo::Sha1,
            Hasher::Sha256(_) => ChecksumAlgo::Sha256,
            Hasher::Sha512(_) => ChecksumAlgo::Sha512,
        }
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Md5(h) => h.update(bytes),
            Hasher::Sha1(h) => h.update(bytes),
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Sha512(h) => h.update(bytes),
        }
    }

    pub(crate) fn finish(self) -> Checksum {
        let algo = self.algo();
        let hex = match self {
            Hasher::Md5(h) => hex::encode(h.finalize()),
            Hasher::Sha1(h) => hex::encode(h.finalize()),
            Hasher::Sha256(h) => hex::encode(h.finalize()),
            Hasher::Sha512(h) => hex::encode(h.finalize()),
        };
        Checksum { algo, hex }
    }
}

/// Checks `actual` against `expected` (both lowercase hex by construction).
pub(crate) fn verify(expected: &Checksum, actual: &Checksum) -> Result<(), ChecksumMismatch> {
    if expected.algo == actual.algo && expected.hex.eq_ignore_ascii_case(&actual.hex) {
        Ok(())
    } else {
        Err(ChecksumMismatch {
            expected: expected.clone(),
            actual: actual.clone(),
        })
    }
}

/// Hashes everything `reader` yields.
pub fn hash_reader(mut reader: impl Read, algo: ChecksumAlgo) -> io::Result<(Checksum, u64)> {
    let mut hasher = Hasher::new(algo);
    let mut buf = vec![0u8; READ_BUF];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((hasher.finish(), total))
}

/// Hashes a file on disk; returns the digest and the number of bytes read.
pub fn hash_file(path: &Path, algo: ChecksumAlgo) -> io::Result<(Checksum, u64)> {
    hash_reader(File::open(path)?, algo)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors_for_every_algorithm() {
        // Digests of "abc" from the respective standards (RFC 1321, FIPS 180).
        let cases = [
            (ChecksumAlgo::Md5, "900150983cd24fb0d6963f7d28e17f72"),
            (
                ChecksumAlgo::Sha1,
                "a9993e364706816aba3e25717850c26c9cd0d89d",
            ),
            (
                ChecksumAlgo::Sha256,
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            ),
            (
                ChecksumAlgo::Sha512,
                "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
                 2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
            ),
        ];
        for (algo, want) in cases {
            // Feed in two pieces to exercise the streaming path.
            let mut h = Hasher::new(algo);
            h.update(b"a");
            h.update(b"bc");
            let got = h.finish();
            assert_eq!(got.hex, want, "{algo:?}");
            assert_eq!(got.algo, algo);
            let expected = Checksum::parse(&format!("{}:{want}", algo.as_str())).unwrap();
            verify(&expected, &got).unwrap();
        }
    }

    #[test]
    fn mismatch_names_both_digests() {
        let mut h = Hasher::new(ChecksumAlgo::Sha256);
        h.update(b"hello");
        let actual = h.finish();
        let expected = Checksum::parse(&"0".repeat(64)).unwrap();
        let err = verify(&expected, &actual).unwrap_err().to_string();
        assert!(err.contains(&"0".repeat(64)), "{err}");
        assert!(err.contains(&actual.hex), "{err}");
    }

    #[test]
    fn hash_file_matches_in_memory_digest() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let data: Vec<u8> = (0..(READ_BUF * 3 + 17)).map(|i| (i % 251) as u8).collect();
        std::fs::write(&p, &data).unwrap();
        let (sum, n) = hash_file(&p, ChecksumAlgo::Sha512).unwrap();
        let mut h = Hasher::new(ChecksumAlgo::Sha512);
        h.update(&data);
        assert_eq!(sum, h.finish());
        assert_eq!(n, data.len() as u64);
    }
}

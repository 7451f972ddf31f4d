//! Identifiers and API keys.

use rand::Rng;
use rand::distr::Alphanumeric;
use sha2::{Digest, Sha256};

/// `<prefix>-` followed by 12 random letters and digits, e.g. `tk-Zx81bQ0aLm2P`.
pub fn new_id(prefix: &str) -> String {
    let tail: String = rand::rng()
        .sample_iter(&Alphanumeric)
        .take(12)
        .map(char::from)
        .collect();
    format!("{prefix}-{tail}")
}

const URL_SAFE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// A new API key: `pwk-` and 43 URL-safe characters (258 random bits).
pub fn new_api_key() -> String {
    let mut rng = rand::rng();
    let tail: String = (0..43)
        .map(|_| URL_SAFE[rng.random_range(0..64)] as char)
        .collect();
    format!("pwk-{tail}")
}

/// What the database keeps of a key: its SHA-256 digest. Keys are high-entropy random
/// strings, so a fast hash is enough and the digest can be looked up directly.
pub fn key_digest(key: &str) -> Vec<u8> {
    Sha256::digest(key.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let id = new_id("tk");
        assert_eq!(id.len(), 15);
        assert!(id.starts_with("tk-") && id[3..].chars().all(|c| c.is_ascii_alphanumeric()));
        let key = new_api_key();
        assert_eq!(key.len(), 47);
        assert!(key[4..].bytes().all(|b| URL_SAFE.contains(&b)));
        assert_ne!(new_api_key(), key);
        assert_eq!(key_digest(&key).len(), 32);
    }
}

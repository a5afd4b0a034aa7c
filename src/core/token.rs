//! Vault key tokens and ids.
//!
//! A token reads `kbk_<key id: 24 hex>_<secret: 40 hex><checksum: 8 hex>`.
//! It carries the key id, so the proxy finds the key's Durable Object with no
//! lookup, and a checksum (first 4 bytes of SHA-256 over everything before
//! it), so a secret scanner can recognise a real token and a typo is refused
//! offline. Only SHA-256 of the whole token is ever stored.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

pub const TOKEN_PREFIX: &str = "kbk_";
pub const KEY_ID_PREFIX: &str = "key_";
const ID_HEX: usize = 24;
const SECRET_HEX: usize = 40;
const CHECKSUM_HEX: usize = 8;
const TOKEN_LEN: usize = TOKEN_PREFIX.len() + ID_HEX + 1 + SECRET_HEX + CHECKSUM_HEX;

/// A key id: `key_` + 24 lowercase hex digits (96 random bits).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyId(String);

impl KeyId {
    pub fn generate() -> KeyId {
        KeyId(format!("{KEY_ID_PREFIX}{}", random_hex(ID_HEX / 2)))
    }

    /// Accepts only the exact shape Keybrake generates.
    pub fn parse(text: &str) -> Option<KeyId> {
        let hex = text.strip_prefix(KEY_ID_PREFIX)?;
        (hex.len() == ID_HEX && is_lower_hex(hex)).then(|| KeyId(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn hex(&self) -> &str {
        &self.0[KEY_ID_PREFIX.len()..]
    }
}

impl std::fmt::Display for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A freshly minted token, shown to the caller once.
pub struct MintedToken {
    pub token: String,
    pub hash: TokenHash,
}

/// SHA-256 of a whole token, hex. What the key's Durable Object stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenHash(pub String);

pub fn mint_token(id: &KeyId) -> MintedToken {
    let body = format!("{TOKEN_PREFIX}{}_{}", id.hex(), random_hex(SECRET_HEX / 2));
    let token = format!("{body}{}", checksum(&body));
    let hash = hash_token(&token);
    MintedToken { token, hash }
}

/// The key id and token an idempotent issuance gets: derived from the
/// server's secret and the caller's idempotency key, so a retried request
/// gets the same key and token back with nothing secret stored anywhere.
/// Anyone able to re-derive them holds the admin token, and could issue
/// keys anyway.
pub fn derive_idempotent(server_secret: &[u8], idempotency_key: &str) -> (KeyId, MintedToken) {
    let mac = |purpose: &str| {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(server_secret)
            .expect("HMAC takes a key of any length");
        m.update(purpose.as_bytes());
        m.update(&[0]);
        m.update(idempotency_key.as_bytes());
        m.finalize().into_bytes()
    };
    let id = KeyId(format!(
        "{KEY_ID_PREFIX}{}",
        hex(&mac("keybrake/key-id")[..ID_HEX / 2])
    ));
    let body = format!(
        "{TOKEN_PREFIX}{}_{}",
        id.hex(),
        hex(&mac("keybrake/token-secret")[..SECRET_HEX / 2])
    );
    let token = format!("{body}{}", checksum(&body));
    let hash = hash_token(&token);
    (id, MintedToken { token, hash })
}

pub fn hash_token(token: &str) -> TokenHash {
    TokenHash(hex(&Sha256::digest(token.as_bytes())))
}

/// Why a presented token was refused before any lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    NotAVaultKey,
    BadChecksum,
}

/// Checks a presented token offline and returns the key id it names.
pub fn parse_token(token: &str) -> Result<KeyId, TokenError> {
    let id_hex = parse_with(TOKEN_PREFIX, token)?;
    Ok(KeyId(format!("{KEY_ID_PREFIX}{id_hex}")))
}

/// An issuer token's prefix: same shape as a vault key, another family.
pub const ISSUER_TOKEN_PREFIX: &str = "kbi_";
pub const ISSUER_ID_PREFIX: &str = "iss_";

/// An issuer id: `iss_` + 24 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IssuerId(String);

impl IssuerId {
    pub fn generate() -> IssuerId {
        IssuerId(format!("{ISSUER_ID_PREFIX}{}", random_hex(ID_HEX / 2)))
    }

    pub fn parse(text: &str) -> Option<IssuerId> {
        let hex = text.strip_prefix(ISSUER_ID_PREFIX)?;
        (hex.len() == ID_HEX && is_lower_hex(hex)).then(|| IssuerId(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for IssuerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A fresh issuer token, `kbi_<issuer id hex>_<secret><checksum>`.
pub fn mint_issuer_token(id: &IssuerId) -> MintedToken {
    let hex_id = &id.0[ISSUER_ID_PREFIX.len()..];
    let body = format!(
        "{ISSUER_TOKEN_PREFIX}{hex_id}_{}",
        random_hex(SECRET_HEX / 2)
    );
    let token = format!("{body}{}", checksum(&body));
    let hash = hash_token(&token);
    MintedToken { token, hash }
}

/// Checks an issuer token offline and returns the issuer it names.
pub fn parse_issuer_token(token: &str) -> Result<IssuerId, TokenError> {
    let id_hex = parse_with(ISSUER_TOKEN_PREFIX, token)?;
    Ok(IssuerId(format!("{ISSUER_ID_PREFIX}{id_hex}")))
}

/// The id hex of a `<prefix><id>_<secret><checksum>` token.
fn parse_with<'a>(prefix: &str, token: &'a str) -> Result<&'a str, TokenError> {
    let rest = token.strip_prefix(prefix).ok_or(TokenError::NotAVaultKey)?;
    if token.len() != TOKEN_LEN || rest.as_bytes()[ID_HEX] != b'_' {
        return Err(TokenError::NotAVaultKey);
    }
    let (id_hex, tail) = (&rest[..ID_HEX], &rest[ID_HEX + 1..]);
    if !is_lower_hex(id_hex) || !is_lower_hex(tail) {
        return Err(TokenError::NotAVaultKey);
    }
    let (body, sum) = token.split_at(TOKEN_LEN - CHECKSUM_HEX);
    if checksum(body) != sum {
        return Err(TokenError::BadChecksum);
    }
    Ok(id_hex)
}

/// A request id: `req_` + 24 hex, unique per proxied attempt.
pub fn request_id() -> String {
    format!("req_{}", random_hex(12))
}

/// Compares two secrets without an early exit on the first difference.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn checksum(body: &str) -> String {
    hex(&Sha256::digest(body.as_bytes())[..CHECKSUM_HEX / 2])
}

pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::getrandom(&mut buf).expect("the platform's random source failed");
    hex(&buf)
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_parse_back_to_their_key() {
        let id = KeyId::generate();
        let minted = mint_token(&id);
        assert!(minted.token.starts_with("kbk_"));
        assert_eq!(minted.token.len(), TOKEN_LEN);
        assert_eq!(parse_token(&minted.token), Ok(id));
        assert_eq!(minted.hash, hash_token(&minted.token));
    }

    #[test]
    fn every_single_character_typo_is_caught() {
        let minted = mint_token(&KeyId::generate());
        let token = minted.token;
        for i in TOKEN_PREFIX.len()..token.len() {
            if i == TOKEN_PREFIX.len() + ID_HEX {
                continue;
            }
            let mut bytes = token.clone().into_bytes();
            bytes[i] = if bytes[i] == b'0' { b'1' } else { b'0' };
            let typo = String::from_utf8(bytes).unwrap();
            assert!(parse_token(&typo).is_err(), "typo at {i} accepted");
        }
    }

    #[test]
    fn rejects_foreign_shapes() {
        for bad in ["", "kbk_", "sk_test_123", "Bearer kbk_x", "KBK_0123"] {
            assert_eq!(parse_token(bad), Err(TokenError::NotAVaultKey), "{bad:?}");
        }
        let upper = mint_token(&KeyId::generate()).token.to_uppercase();
        assert!(parse_token(&upper).is_err());
    }

    #[test]
    fn key_ids_are_strict() {
        let id = KeyId::generate();
        assert_eq!(KeyId::parse(id.as_str()), Some(id));
        assert_eq!(KeyId::parse("key_123"), None);
        assert_eq!(KeyId::parse("key_../../x"), None);
    }

    #[test]
    fn constant_time_eq_compares_fully() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    #[test]
    fn idempotent_keys_are_stable_distinct_and_valid() {
        let (id, a) = derive_idempotent(b"server secret", "wf_1:charge");
        let (id2, b) = derive_idempotent(b"server secret", "wf_1:charge");
        assert_eq!((id.as_str(), &a.token), (id2.as_str(), &b.token));
        assert_eq!(parse_token(&a.token), Ok(id.clone()));
        assert_eq!(KeyId::parse(id.as_str()), Some(id.clone()));
        let (other, c) = derive_idempotent(b"server secret", "wf_1:charge2");
        assert_ne!(other, id);
        assert_ne!(c.token, a.token);
        let (rotated, d) = derive_idempotent(b"another secret", "wf_1:charge");
        assert_ne!(rotated, id);
        assert_ne!(d.token, a.token);
    }

    #[test]
    fn issuer_tokens_are_their_own_family() {
        let id = IssuerId::generate();
        let minted = mint_issuer_token(&id);
        assert!(minted.token.starts_with("kbi_"));
        assert_eq!(parse_issuer_token(&minted.token), Ok(id.clone()));
        assert_eq!(IssuerId::parse(id.as_str()), Some(id));
        // Neither family passes for the other.
        assert_eq!(parse_token(&minted.token), Err(TokenError::NotAVaultKey));
        let key = mint_token(&KeyId::generate());
        assert_eq!(
            parse_issuer_token(&key.token),
            Err(TokenError::NotAVaultKey)
        );
        let mut typo = minted.token.clone();
        typo.replace_range(10..11, if &typo[10..11] == "a" { "b" } else { "a" });
        assert_eq!(parse_issuer_token(&typo), Err(TokenError::BadChecksum));
    }
}

//! Pseudonymisation keys and the keyed hash that replaces customer ids (pure: no files, no
//! clock). The file that holds a key, the database setting that remembers which key a
//! database uses, and the refusals built on them live in `app::privacy`.
//!
//! A stored id is `p1-` followed by the first 16 bytes (128 bits) of
//! HMAC-SHA256(key, "unit\0" + raw id), in lowercase base32 without padding (26 characters).
//! 128 bits keeps accidental collisions out of reach (about 2^64 ids before one is likely)
//! while staying short enough to read in a table. The `p1-` prefix names the scheme's version
//! and lets anyone tell a pseudonym from a raw id at a glance. Identifying context values are
//! hashed the same way under a different label ("context\0" + field + "\0" + value), so a
//! hashed email never equals a hashed unit id and values of two fields never match.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// Bytes of secret in a key.
pub const KEY_BYTES: usize = 32;

/// The first line of a key file: names the format so a wrong file is refused by name.
const KEY_FILE_HEADER: &str = "liftdeck-pseudonymization-key v1";

/// Prefix of every pseudonymised id.
pub const PSEUDONYM_PREFIX: &str = "p1-";

/// A secret pseudonymisation key.
#[derive(Clone, PartialEq, Eq)]
pub struct Key([u8; KEY_BYTES]);

/// The debug form never shows the secret.
impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key(fingerprint {})", self.fingerprint())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("line 1 is not `{KEY_FILE_HEADER}`: this is not a liftdeck key file")]
    Header,
    #[error("line 2 must be the key: {KEY_BYTES} bytes as {} hex digits", KEY_BYTES * 2)]
    Secret,
}

impl Key {
    pub fn from_bytes(bytes: [u8; KEY_BYTES]) -> Key {
        Key(bytes)
    }

    /// Reads the text of a key file (as written by [`Key::to_file_text`]).
    pub fn parse(text: &str) -> Result<Key, KeyError> {
        let mut lines = text.lines();
        if lines.next().map(str::trim) != Some(KEY_FILE_HEADER) {
            return Err(KeyError::Header);
        }
        let secret = lines.next().map(str::trim).ok_or(KeyError::Secret)?;
        let bytes = data_encoding::HEXLOWER_PERMISSIVE
            .decode(secret.as_bytes())
            .map_err(|_| KeyError::Secret)?;
        let bytes: [u8; KEY_BYTES] = bytes.try_into().map_err(|_| KeyError::Secret)?;
        Ok(Key(bytes))
    }

    /// The text a key file holds: a header naming the format, then the secret in hex.
    pub fn to_file_text(&self) -> String {
        format!(
            "{KEY_FILE_HEADER}\n{}\n",
            data_encoding::HEXLOWER.encode(&self.0)
        )
    }

    /// A public name for the key (16 hex digits of a SHA-256 of it under its own label): a
    /// database records this, never the key, so a wrong key file can be told apart without
    /// the database holding anything that helps to compute pseudonyms.
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"liftdeck key fingerprint\0");
        h.update(self.0);
        data_encoding::HEXLOWER.encode(&h.finalize()[..8])
    }

    /// The id stored in place of a raw unit id. Deterministic: the same raw id always gives
    /// the same pseudonym under the same key, so assignment stays stable.
    pub fn unit_id(&self, raw: &str) -> String {
        self.pseudonym(&[b"unit\0", raw.as_bytes()])
    }

    /// The value stored in place of an identifying context value (an email, a phone number).
    pub fn context_value(&self, field: &str, raw: &str) -> String {
        self.pseudonym(&[b"context\0", field.as_bytes(), b"\0", raw.as_bytes()])
    }

    fn pseudonym(&self, parts: &[&[u8]]) -> String {
        // HMAC accepts keys of any length; new_from_slice cannot fail for a 32-byte key, but
        // the fallback keeps this total without an unwrap.
        let mut mac = match HmacSha256::new_from_slice(&self.0) {
            Ok(mac) => mac,
            Err(_) => return String::new(),
        };
        for p in parts {
            mac.update(p);
        }
        let tag = mac.finalize().into_bytes();
        let mut out = String::with_capacity(PSEUDONYM_PREFIX.len() + 26);
        out.push_str(PSEUDONYM_PREFIX);
        out.push_str(
            &data_encoding::BASE32_NOPAD
                .encode(&tag[..16])
                .to_lowercase(),
        );
        out
    }
}

/// Whether `id` has the shape of a pseudonym (prefix and 26 base32 characters).
pub fn is_pseudonym(id: &str) -> bool {
    id.strip_prefix(PSEUDONYM_PREFIX).is_some_and(|rest| {
        rest.len() == 26
            && rest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(fill: u8) -> Key {
        Key::from_bytes([fill; KEY_BYTES])
    }

    #[test]
    fn the_keyed_hash_matches_an_independent_hmac_sha256() {
        // Reference: python3 -c "import hmac,hashlib,base64;
        //   print(base64.b32encode(hmac.new(bytes([7]*32), b'unit\x00u-42',
        //   hashlib.sha256).digest()[:16]).decode().rstrip('=').lower())"
        assert_eq!(key(7).unit_id("u-42"), "p1-gjzuor6ihbz4viexrhkzw6ngxi");
    }

    #[test]
    fn pseudonyms_are_deterministic_keyed_and_labelled() {
        let k = key(1);
        assert_eq!(k.unit_id("u-1"), k.unit_id("u-1"));
        assert_ne!(k.unit_id("u-1"), k.unit_id("u-2"));
        assert_ne!(
            k.unit_id("u-1"),
            key(2).unit_id("u-1"),
            "another key, another id"
        );
        assert_ne!(k.unit_id("a"), k.context_value("email", "a"));
        assert_ne!(k.context_value("email", "a"), k.context_value("phone", "a"));
        assert!(is_pseudonym(&k.unit_id("u-1")));
        assert!(!is_pseudonym("u-1"));
    }

    #[test]
    fn a_key_file_round_trips_and_a_wrong_file_is_refused_by_name() {
        let k = key(9);
        assert_eq!(Key::parse(&k.to_file_text()), Ok(k.clone()));
        assert_eq!(Key::parse("hello\nabc\n"), Err(KeyError::Header));
        let short = "liftdeck-pseudonymization-key v1\nabcd\n";
        assert_eq!(Key::parse(short), Err(KeyError::Secret));
        assert!(!format!("{k:?}").contains("0909"), "debug hides the secret");
        assert_eq!(k.fingerprint().len(), 16);
        assert_ne!(k.fingerprint(), key(8).fingerprint());
    }
}

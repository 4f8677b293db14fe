//! Credential encryption exactly as Hermes (Lucee `encrypt(value, key, "AES", "Base64")`) does
//! it: AES-256-ECB with PKCS#7 padding, standard Base64. ECB is Hermes's format, not our choice;
//! we keep it so the Hermes web UI can still read what we write.

use std::path::{Path, PathBuf};

use aes::Aes256;
use aes::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyInit, block_padding::Pkcs7};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

type EcbEnc = ecb::Encryptor<Aes256>;
type EcbDec = ecb::Decryptor<Aes256>;

/// The 32-byte AES key from `hermes.key`; wiped from memory on drop.
pub struct Key {
    bytes: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key([REDACTED])")
    }
}

impl Key {
    /// Reads a key file the way Hermes writes it (`openssl rand -base64 32`): trimmed Base64 of
    /// exactly 32 bytes.
    pub fn load(path: &Path) -> Result<Key> {
        let key_err = |reason: &str| Error::Key {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        };
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => key_err("missing"),
            _ => key_err(&e.to_string()),
        })?);
        Key::from_base64(text.trim()).map_err(key_err)
    }

    fn from_base64(text: &str) -> std::result::Result<Key, &'static str> {
        if text.is_empty() {
            return Err("empty");
        }
        let raw = Zeroizing::new(B64.decode(text).map_err(|_| "not valid Base64")?);
        let bytes: [u8; 32] = raw
            .as_slice()
            .try_into()
            .map_err(|_| "not a 32-byte AES-256 key")?;
        Ok(Key {
            bytes: Zeroizing::new(bytes),
        })
    }

    /// A fresh random key, as `openssl rand -base64 32` would make.
    pub fn generate() -> Result<Key> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        getrandom::fill(bytes.as_mut()).map_err(|e| Error::Key {
            path: PathBuf::new(),
            reason: format!("no randomness available: {e}"),
        })?;
        Ok(Key { bytes })
    }

    /// The key file content: Base64 and a newline.
    pub fn to_file_text(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("{}\n", B64.encode(self.bytes.as_ref())))
    }

    /// Hermes stores an empty credential as `''`, not as the encryption of "".
    pub fn encrypt(&self, plain: &SecretString) -> String {
        let plain = plain.expose_secret();
        if plain.is_empty() {
            return String::new();
        }
        let enc = EcbEnc::new(&(*self.bytes).into());
        let cipher = Zeroizing::new(enc.encrypt_padded_vec::<Pkcs7>(plain.as_bytes()));
        B64.encode(cipher.as_slice())
    }

    /// `row` names where the value came from, so a bad value is reported where it lives.
    pub fn decrypt(&self, stored: &str, row: &str) -> Result<SecretString> {
        if stored.is_empty() {
            return Ok(SecretString::from(String::new()));
        }
        let fail = |reason: &str| Error::Decrypt {
            row: row.to_string(),
            reason: reason.to_string(),
        };
        let cipher = B64.decode(stored.trim()).map_err(|_| fail("not Base64"))?;
        let dec = EcbDec::new(&(*self.bytes).into());
        let plain = Zeroizing::new(
            dec.decrypt_padded_vec::<Pkcs7>(&cipher)
                .map_err(|_| fail("bad length or padding"))?,
        );
        let text = std::str::from_utf8(&plain).map_err(|_| fail("not UTF-8"))?;
        Ok(SecretString::from(text.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VECTOR_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    fn key() -> Key {
        Key::from_base64(VECTOR_KEY).unwrap()
    }

    #[test]
    fn hermes_ecb_vectors() {
        for (plain, cipher) in [
            ("relayuser", "t8nbKYgCN8IKadRpezhC9Q=="),
            ("p@ss:w0rd", "ExA7o47Yw/T6rG3DNlRAHg=="),
            ("héllo wörld", "DXw+y5vuO1R+N3CME+n1rw=="),
        ] {
            assert_eq!(key().encrypt(&SecretString::from(plain)), cipher);
            assert_eq!(key().decrypt(cipher, "r").unwrap().expose_secret(), plain);
        }
    }

    #[test]
    fn empty_is_stored_empty() {
        assert_eq!(key().encrypt(&SecretString::from("")), "");
        assert_eq!(key().decrypt("", "r").unwrap().expose_secret(), "");
    }

    #[test]
    fn undecryptable_values_name_the_row() {
        let err = key().decrypt("not base64!", "system_settings.relay_host_password");
        assert!(
            err.unwrap_err()
                .to_string()
                .contains("system_settings.relay_host_password")
        );
        assert!(key().decrypt("AAAA", "r").is_err());
    }

    #[test]
    fn key_rules() {
        assert_eq!(Key::from_base64("").unwrap_err(), "empty");
        assert_eq!(Key::from_base64("***").unwrap_err(), "not valid Base64");
        assert_eq!(
            Key::from_base64("AAECAwQFBgcICQoLDA0ODw==").unwrap_err(),
            "not a 32-byte AES-256 key"
        );
        let fresh = Key::generate().unwrap();
        let text = fresh.to_file_text();
        assert_eq!(text.len(), 45);
        assert!(Key::from_base64(text.trim()).is_ok());
    }
}

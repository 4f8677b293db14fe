//! Credential encryption exactly as Hermes (Lucee `encrypt(value, key, "AES", "Base64")`) does
//! it: AES-256-ECB with PKCS#7 padding, standard Base64. ECB is Hermes's format, not our choice;
//! we keep it by default so the Hermes web UI can still read what we write. The opt-in `cbc`
//! format is Lucee's `AES/CBC/PKCS5Padding` layout: a random 16-byte IV, then the ciphertext.

use foldhash::{HashMap, HashMapExt};
use std::path::Path;

use aes::Aes256;
use aes::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyInit, KeyIvInit, block_padding::Pkcs7};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

type EcbEnc = ecb::Encryptor<Aes256>;
type EcbDec = ecb::Decryptor<Aes256>;
type CbcEnc = cbc::Encryptor<Aes256>;
type CbcDec = cbc::Decryptor<Aes256>;

/// How stored credentials are encrypted. Reading never guesses: the configured format is used.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Cipher {
    /// AES-256-ECB, what Hermes (and its web UI) reads and writes.
    Ecb,
    /// AES-256-CBC with a random IV prepended; Hermes's web UI cannot read it today.
    Cbc,
}

impl Cipher {
    /// The longest plaintext whose stored form fits a column of `column` characters.
    pub fn max_plain_bytes(self, column: usize) -> usize {
        let blocks = column / 4 * 3 / 16;
        let blocks = if self == Cipher::Cbc {
            blocks - 1
        } else {
            blocks
        };
        blocks * 16 - 1
    }
}

/// The 32-byte AES key from `hermes.key` and the format it is used with; wiped on drop.
#[derive(Clone)]
pub struct Key {
    bytes: Zeroizing<[u8; 32]>,
    cipher: Cipher,
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
        let bytes = match crate::files::read_bounded(path, crate::files::limits::KEY) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return Err(key_err("missing")),
            Err(e @ (Error::PermissionDenied { .. } | Error::UnsafeFile { .. })) => return Err(e),
            Err(e) => return Err(key_err(&e.to_string())),
        };
        let text = std::str::from_utf8(&bytes).map_err(|_| key_err("not valid Base64"))?;
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
            cipher: Cipher::Ecb,
        })
    }

    /// The same key, used with `cipher`.
    pub fn with_cipher(self, cipher: Cipher) -> Key {
        Key { cipher, ..self }
    }

    pub fn cipher(&self) -> Cipher {
        self.cipher
    }

    /// Whether two keys are the same bytes (compared without exposing them).
    pub fn same_bytes(&self, other: &Key) -> bool {
        self.bytes.as_ref() == other.bytes.as_ref()
    }

    /// Names the key (and its format) without revealing it, as a key check value does: a
    /// digest of a fixed label and the key, for records that must notice a new key.
    pub fn check_value(&self) -> String {
        let mut hash = Sha256::new();
        hash.update(b"hermes-relayhost key check value\0");
        hash.update([self.cipher as u8]);
        hash.update(self.bytes.as_ref());
        format!("{:x}", hash.finalize())
    }

    #[cfg(test)]
    pub fn from_bytes(bytes: [u8; 32]) -> Key {
        Key {
            bytes: Zeroizing::new(bytes),
            cipher: Cipher::Ecb,
        }
    }

    /// A fresh random key, as `openssl rand -base64 32` would make.
    pub fn generate() -> Result<Key> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        getrandom::fill(bytes.as_mut()).map_err(|e| Error::Random(e.to_string()))?;
        Ok(Key {
            bytes,
            cipher: Cipher::Ecb,
        })
    }

    /// The key file content: Base64 and a newline.
    pub fn to_file_text(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("{}\n", B64.encode(self.bytes.as_ref())))
    }

    /// Hermes stores an empty credential as `''`, not as the encryption of "". Fails only
    /// when CBC finds no randomness for its IV.
    pub fn encrypt(&self, plain: &SecretString) -> Result<String> {
        let plain = plain.expose_secret();
        if plain.is_empty() {
            return Ok(String::new());
        }
        Ok(match self.cipher {
            Cipher::Ecb => {
                let enc = EcbEnc::new(&(*self.bytes).into());
                let cipher = Zeroizing::new(enc.encrypt_padded_vec::<Pkcs7>(plain.as_bytes()));
                B64.encode(cipher.as_slice())
            }
            Cipher::Cbc => {
                let mut iv = [0u8; 16];
                getrandom::fill(&mut iv).map_err(|e| Error::Random(e.to_string()))?;
                self.encrypt_cbc(plain.as_bytes(), iv)
            }
        })
    }

    fn encrypt_cbc(&self, plain: &[u8], iv: [u8; 16]) -> String {
        let enc = CbcEnc::new(&(*self.bytes).into(), &iv.into());
        let mut out = iv.to_vec();
        out.extend(enc.encrypt_padded_vec::<Pkcs7>(plain));
        B64.encode(out)
    }

    /// `row` names where the value came from, so a bad value is reported where it lives.
    pub fn decrypt(&self, stored: &str, row: &str) -> Result<SecretString> {
        self.decrypt_as(stored, || row.to_string())
    }

    /// [`Key::decrypt`] with the row name built only on failure (hot loops over many rows).
    pub fn decrypt_as(&self, stored: &str, row: impl Fn() -> String) -> Result<SecretString> {
        if stored.is_empty() {
            return Ok(SecretString::from(String::new()));
        }
        let fail = |reason: &str| Error::Decrypt {
            row: row(),
            reason: reason.to_string(),
        };
        let raw = B64.decode(stored.trim()).map_err(|_| fail("not Base64"))?;
        let padded = match self.cipher {
            Cipher::Ecb => EcbDec::new(&(*self.bytes).into()).decrypt_padded_vec::<Pkcs7>(&raw),
            Cipher::Cbc => {
                let (iv, body) = raw
                    .split_first_chunk::<16>()
                    .filter(|(_, body)| !body.is_empty())
                    .ok_or_else(|| fail("too short for an IV and a block"))?;
                CbcDec::new(&(*self.bytes).into(), &(*iv).into()).decrypt_padded_vec::<Pkcs7>(body)
            }
        };
        let plain = Zeroizing::new(padded.map_err(|_| fail("bad length or padding"))?);
        let text = std::str::from_utf8(&plain).map_err(|_| fail("not UTF-8"))?;
        Ok(SecretString::from(text.to_string()))
    }
}

/// Decrypted values by ciphertext: Hermes reuses one credential on many `transport` rows
/// (100,000 rows may carry ten distinct ciphertexts), so each is decrypted once. The
/// plaintexts are `SecretString`s, wiped on drop.
pub struct DecryptCache<'a> {
    key: &'a Key,
    /// By the address and length of the stored text: the rows share one allocation per
    /// distinct ciphertext (`TransportRow`), so this is a cheap key, and a borrowed `&'a str`
    /// cannot be freed (and its address reused) while the cache lives. An equal ciphertext at
    /// another address is merely decrypted once more.
    plain: HashMap<(usize, usize), SecretString>,
}

impl<'a> DecryptCache<'a> {
    pub fn new(key: &'a Key) -> DecryptCache<'a> {
        DecryptCache {
            key,
            plain: HashMap::new(),
        }
    }

    /// A username and a password, as [`Key::decrypt_as`] reads them (`*_row` name the columns
    /// for an error, built only then).
    pub fn pair(
        &mut self,
        user: &'a str,
        user_row: impl Fn() -> String,
        password: &'a str,
        password_row: impl Fn() -> String,
    ) -> Result<(&str, &str)> {
        let at = |s: &str| (s.as_ptr() as usize, s.len());
        for (stored, row) in [
            (user, &user_row as &dyn Fn() -> String),
            (password, &password_row),
        ] {
            if !self.plain.contains_key(&at(stored)) {
                let plain = self.key.decrypt_as(stored, row)?;
                self.plain.insert(at(stored), plain);
            }
        }
        Ok((
            self.plain[&at(user)].expose_secret(),
            self.plain[&at(password)].expose_secret(),
        ))
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
    fn cache_decrypts_like_the_key_and_names_the_row_on_failure() {
        let key = key();
        let mut cache = DecryptCache::new(&key);
        let user = "t8nbKYgCN8IKadRpezhC9Q==";
        let pass = "ExA7o47Yw/T6rG3DNlRAHg==";
        for _ in 0..2 {
            let pair = cache
                .pair(user, || "u".into(), pass, || "p".into())
                .unwrap();
            assert_eq!(pair, ("relayuser", "p@ss:w0rd"));
        }
        assert_eq!(
            cache.pair("", String::new, "", String::new).unwrap(),
            ("", "")
        );
        let err = cache
            .pair(user, || "u".into(), "bm90IGEgYmxvY2s=", || "row.pw".into())
            .unwrap_err();
        assert!(err.to_string().contains("row.pw"), "{err}");
    }

    #[test]
    fn hermes_ecb_vectors() {
        for (plain, cipher) in [
            ("relayuser", "t8nbKYgCN8IKadRpezhC9Q=="),
            ("p@ss:w0rd", "ExA7o47Yw/T6rG3DNlRAHg=="),
            ("héllo wörld", "DXw+y5vuO1R+N3CME+n1rw=="),
        ] {
            assert_eq!(key().encrypt(&SecretString::from(plain)).unwrap(), cipher);
            assert_eq!(key().decrypt(cipher, "r").unwrap().expose_secret(), plain);
        }
    }

    #[test]
    fn lucee_cbc_layout_vector() {
        let key = key().with_cipher(Cipher::Cbc);
        let iv: [u8; 16] = core::array::from_fn(|i| i as u8);
        let cipher = key.encrypt_cbc(b"relayuser", iv);
        assert_eq!(cipher, "AAECAwQFBgcICQoLDA0OD2n9VIG4+x7yLUHCUGdU/Cc=");
        assert_eq!(
            key.decrypt(&cipher, "r").unwrap().expose_secret(),
            "relayuser"
        );
        let random = key.encrypt(&SecretString::from("relayuser")).unwrap();
        assert_ne!(
            random,
            key.encrypt(&SecretString::from("relayuser")).unwrap(),
            "random IVs"
        );
        assert_eq!(
            key.decrypt(&random, "r").unwrap().expose_secret(),
            "relayuser"
        );
    }

    #[test]
    fn column_limits() {
        assert_eq!(Cipher::Ecb.max_plain_bytes(1024), 767);
        assert_eq!(Cipher::Ecb.max_plain_bytes(255), 175);
        assert_eq!(Cipher::Cbc.max_plain_bytes(1024), 751);
        assert_eq!(Cipher::Cbc.max_plain_bytes(255), 159);
        for (cipher, column) in [
            (Cipher::Ecb, 1024),
            (Cipher::Cbc, 1024),
            (Cipher::Ecb, 255),
            (Cipher::Cbc, 255),
        ] {
            let k = key().with_cipher(cipher);
            let longest = "x".repeat(cipher.max_plain_bytes(column));
            assert!(
                k.encrypt(&SecretString::from(longest.clone()))
                    .unwrap()
                    .len()
                    <= column
            );
            let over = longest + "x";
            assert!(k.encrypt(&SecretString::from(over)).unwrap().len() > column);
        }
    }

    #[test]
    fn empty_is_stored_empty() {
        assert_eq!(key().encrypt(&SecretString::from("")).unwrap(), "");
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

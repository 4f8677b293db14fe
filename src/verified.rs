//! What the last changing run wrote to sasl_passwd for the `transport` rows, and the state it
//! rendered them from. Reading 100,000 rows, decrypting their credentials and comparing their
//! lines is most of a run at that size; while the store, the key and sasl_passwd are exactly
//! as that run left them, the per-domain lines are known without reading a row. A no-change
//! run then costs about as much as one on a host with no `transport` rows, and a relay password
//! change writes the new relay line before the file's verified per-domain lines.
//!
//! The record is `.hermes-relayhost.verified` in the Postfix directory (0600), written only
//! by a run that changed something, after its commit. It vouches only while each of these is
//! unchanged: the store's version (a backend that cannot tell has none, and is always read in
//! full), the key's check value, sasl_passwd's identity (inode, size, mtime), the relay line's
//! key, this binary's version. Anything else means the rows are read as before. `doctor`,
//! diff mode and `transport_auth` never use it.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::crypto::Key;
use crate::error::Result;
use crate::files::{self, FileId};

pub const FILE: &str = ".hermes-relayhost.verified";

/// Bumped whenever what the record means changes.
const FORMAT: u32 = 2;

/// How the per-domain part of sasl_passwd was rendered, as a plan reports it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DomainLines {
    /// The relay line's key when the file starts with one: a per-domain line with that key is
    /// skipped, so the per-domain lines depend on it.
    pub relay_key: Option<String>,
    /// Bytes before the first per-domain line (the relay line).
    pub head_len: u64,
    /// The warnings about skipped rows; a run that trusts the record repeats them.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    format: u32,
    binary: String,
    /// [`crate::store::Store::version`] after the run's commit.
    pub store: String,
    pub key: String,
    /// sasl_passwd as installed (or verified) by the run.
    pub sasl_passwd: FileId,
    pub lines: DomainLines,
}

impl Record {
    pub fn new(store: String, key: &Key, sasl_passwd: FileId, lines: DomainLines) -> Record {
        Record {
            format: FORMAT,
            binary: env!("CARGO_PKG_VERSION").to_string(),
            store,
            key: key.check_value(),
            sasl_passwd,
            lines,
        }
    }

    /// Whether the record speaks of these rows under this key; sasl_passwd's identity and the
    /// relay line are the plan's to compare.
    pub fn vouches_for(&self, store: Option<&str>, key: &Key) -> bool {
        self.format == FORMAT
            && self.binary == env!("CARGO_PKG_VERSION")
            && store == Some(self.store.as_str())
            && self.key == key.check_value()
    }
}

/// The record in `dir`; `None` when there is none or it does not parse (then it vouches for
/// nothing).
pub fn read(dir: &Path) -> Result<Option<Record>> {
    let Some(bytes) = files::read_bounded(&dir.join(FILE), files::limits::RECORD)? else {
        return Ok(None);
    };
    Ok(serde_json::from_slice(&bytes).ok())
}

/// Installs `record` (temp file, fsync, rename). Nothing secret is in it: identities, a key
/// check value, the relay line's key and warnings that name rows.
pub fn write(dir: &Path, record: &Record) -> Result<()> {
    let text = serde_json::to_vec(record).unwrap_or_default();
    files::stage(&dir.join(FILE), &text, 0o600)?.install()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> Key {
        Key::from_bytes([byte; 32])
    }

    mod fuzz {
        use proptest::prelude::*;

        use super::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]
            /// Whatever bytes the record file holds, reading it yields a record or none (it
            /// then vouches for nothing), never a panic.
            #[test]
            fn any_record_file_reads_or_vouches_for_nothing(
                bytes in prop::collection::vec(any::<u8>(), 0..512),
                json in prop::string::string_regex("\\{\"format\":[0-9],\"binary\":\".{0,4}\",.{0,40}\\}").unwrap(),
            ) {
                let dir = tempfile::tempdir().unwrap();
                for content in [bytes.as_slice(), json.as_bytes()] {
                    std::fs::write(dir.path().join(FILE), content).unwrap();
                    let read = read(dir.path()).unwrap();
                    prop_assert!(read.is_none_or(|r| r.format == FORMAT || !r.vouches_for(Some(&r.store), &key(1))));
                }
            }
        }
    }

    #[test]
    fn vouches_only_for_the_same_store_version_and_key() {
        let id = FileId {
            dev: 1,
            ino: 2,
            size: 3,
            mtime_ns: 4,
            ctime_ns: 5,
        };
        let record = Record::new("v1".into(), &key(1), id, DomainLines::default());
        assert!(record.vouches_for(Some("v1"), &key(1)));
        assert!(!record.vouches_for(Some("v2"), &key(1)));
        assert!(!record.vouches_for(None, &key(1)));
        assert!(!record.vouches_for(Some("v1"), &key(2)));
        let older = Record {
            binary: "0.0.0".into(),
            ..record.clone()
        };
        assert!(!older.vouches_for(Some("v1"), &key(1)));
        let text = serde_json::to_string(&record).unwrap();
        assert_eq!(serde_json::from_str::<Record>(&text).unwrap(), record);
    }
}

//! The sasl_passwd phase: the relay line, then the per-domain lines, compared against the
//! installed file; the map it needs.

use super::*;

/// sasl_passwd: the relay line, then the per-domain lines; `None` when the file, its mode and
/// its map are already right. Rendered as a compare against the file on disk, so an unchanged
/// file costs no copy (see [`render::SaslWriter`]).
pub(super) fn sasl_file(
    draft: &Draft,
    line: Option<RelayLine>,
    inputs: &Inputs,
) -> Result<(Option<SaslFile>, DomainLines)> {
    let files = inputs.files;
    let on_disk = files.sasl_passwd.as_deref().map(String::as_str);
    // A plain Postfix host that relays without credentials need not have a sasl_passwd.
    if inputs.edit_in_place && on_disk.is_none() && line.is_none() && draft.entries.is_empty() {
        return Ok((None, DomainLines::default()));
    }
    let mut writer =
        render::SaslWriter::new(on_disk, draft.transports.len() + draft.entries.len() + 1);
    let mut relay_entry = line.as_ref().map(RelayLine::entry);
    let mut lines = DomainLines {
        relay_key: line.as_ref().map(|l| l.key.to_string()),
        head_len: line.as_ref().map_or(0, RelayLine::len),
        warnings: Vec::new(),
    };
    if let Some(l) = &line {
        writer.line(&[l.key], l.user, l.pass);
    }
    for entry in draft.entries.iter() {
        if line.as_ref().is_some_and(|l| l.key == entry.key) {
            lines.warnings.push(format!(
                "sasl_passwd: the entry for {} is now the relay's; its other credentials are dropped",
                entry.key
            ));
            continue;
        }
        let user = inputs.key.decrypt(&entry.username_cipher, &entry.key)?;
        let pass = inputs.key.decrypt(&entry.password_cipher, &entry.key)?;
        writer.line(&[&entry.key], user.expose_secret(), pass.expose_secret());
    }
    transport_entries(
        &draft.transports,
        inputs.key,
        draft.rows.value(draft.relay.relay).param(),
        &mut relay_entry,
        &mut writer,
        &mut lines.warnings,
    )?;
    let text = writer.finish();
    let map = MapState::of(draft, files)?;
    if text.is_none() && !map.needs_rewrite {
        return Ok((None, lines));
    }
    // `None` from the writer: the text is the file as it is (its mode or map needs the fix).
    let text = text.unwrap_or_else(|| Zeroizing::new(on_disk.unwrap_or_default().to_string()));
    Ok((
        Some(SaslFile {
            text,
            tail: None,
            map_type: map.map_type,
            map_suffix: map.map_suffix,
            relay_entry,
        }),
        lines,
    ))
}

/// [`sasl_file`] with the per-domain lines a record vouches for: only the relay line is
/// compared (and, on a change, written before the file's verified lines). `None` when the
/// record does not fit.
pub(super) fn verified_sasl_file(
    draft: &Draft,
    line: Option<RelayLine>,
    inputs: &Inputs,
    record: &Record,
) -> Result<Option<(Option<SaslFile>, DomainLines)>> {
    let files = inputs.files;
    if files.sasl_id != Some(record.sasl_passwd)
        || record.lines.relay_key.as_deref() != line.as_ref().map(|l| l.key)
    {
        return Ok(None);
    }
    let head = line.as_ref().map(RelayLine::text).unwrap_or_default();
    let lines = DomainLines {
        head_len: head.len() as u64,
        ..record.lines.clone()
    };
    let map = MapState::of(draft, files)?;
    let same = files.sasl_passwd.as_deref().map(String::as_str) == Some(head.as_str());
    if same && !map.needs_rewrite {
        return Ok(Some((None, lines)));
    }
    // Without a relay line, the line the built map is checked with is a per-domain one.
    let Some(line) = line else {
        return Ok(None);
    };
    Ok(Some((
        Some(SaslFile {
            text: head,
            tail: Some(Tail {
                from: record.lines.head_len,
                file: record.sasl_passwd,
            }),
            map_type: map.map_type,
            map_suffix: map.map_suffix,
            relay_entry: Some(line.entry()),
        }),
        lines,
    )))
}

/// The map the rows name, and whether sasl_passwd must be written even if its text is right
/// (a group- or world-readable file or map, a missing or stale map).
pub(super) struct MapState {
    map_type: String,
    map_suffix: Option<&'static str>,
    needs_rewrite: bool,
}

impl MapState {
    fn of(draft: &Draft, files: &FileState) -> Result<MapState> {
        let map_type = draft.rows.value(draft.relay.maps).param().to_string();
        let map_suffix = render::map_suffix(&map_type)?;
        let unsafe_mode = |m: Option<u32>| m.is_some_and(|m| m & 0o077 != 0);
        let map_stale = map_suffix.is_some()
            && (files.map_mode.is_none() || unsafe_mode(files.map_mode) || files.map_stale);
        Ok(MapState {
            map_type: map_type.split(':').next().unwrap_or("hash").to_string(),
            map_suffix,
            needs_rewrite: unsafe_mode(files.sasl_mode) || map_stale,
        })
    }
}

/// Per-domain lines from the Domains page: `[destination]:port` (empty port → 25). Each
/// distinct ciphertext is decrypted once; nothing is allocated per row unless it is skipped
/// (its warning). When the relay line is missing and the first line has the relay's key, that
/// line is the one the built map is checked with.
pub(super) fn transport_entries<'a>(
    transports: &'a [TransportRow],
    key: &Key,
    relay_key: &'a str,
    relay_entry: &mut Option<(String, Zeroizing<String>)>,
    writer: &mut render::SaslWriter,
    warnings: &mut Vec<String>,
) -> Result<()> {
    let bracketed = |k: &'a str| k.strip_prefix('[').and_then(|k| k.split_once("]:"));
    let mut keys: HashSet<(&str, &str)> = HashSet::with_capacity(transports.len() + 1);
    let mut first = relay_entry.is_none();
    if let (Some(_), Some(relay)) = (&relay_entry, bracketed(relay_key)) {
        keys.insert(relay);
    }
    let mut plain = DecryptCache::new(key);
    for t in transports {
        if !t
            .authentication
            .as_deref()
            .is_some_and(|a| a.eq_ignore_ascii_case("YES"))
        {
            continue;
        }
        let label = || t.label();
        let destination = t.destination.as_deref().unwrap_or("").trim();
        if destination.is_empty() {
            warnings.push(format!(
                "{}: no destination; sasl_passwd line skipped",
                label()
            ));
            continue;
        }
        let port = match t.port.as_deref().map(str::trim) {
            None | Some("") => "25",
            Some(p) => p,
        };
        if !destination
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control())
            || port.parse::<u16>().map_or(true, |p| p == 0)
        {
            warnings.push(format!(
                "{}: the destination or port is not one host and port number; sasl_passwd \
                 line skipped",
                label()
            ));
            continue;
        }
        if !keys.insert((destination, port)) {
            warnings.push(format!(
                "{}: [{destination}]:{port} already has a sasl_passwd line; this one is skipped",
                label()
            ));
            continue;
        }
        let (user, password) = plain.pair(
            t.username_cipher.as_deref().unwrap_or(""),
            || t.column_label(TRANSPORT_USERNAME),
            t.password_cipher.as_deref().unwrap_or(""),
            || t.column_label(TRANSPORT_PASSWORD),
        )?;
        if user.is_empty() || password.is_empty() {
            warnings.push(format!(
                "{}: empty credentials; sasl_passwd line skipped",
                label()
            ));
            continue;
        }
        if let Err(why) = sasl_safe(user, password) {
            warnings.push(format!("{}: {why}; sasl_passwd line skipped", label()));
            continue;
        }
        writer.line(&["[", destination, "]:", port], user, password);
        if std::mem::take(&mut first) && bracketed(relay_key) == Some((destination, port)) {
            *relay_entry = Some((
                relay_key.to_string(),
                Zeroizing::new(format!("{user}:{password}")),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    mod properties {
        use std::sync::Arc;

        use proptest::prelude::*;

        use super::*;

        /// Any short text, tabs, line breaks and other control characters included.
        fn text() -> impl Strategy<Value = String> {
            prop::string::string_regex("(?s).{0,8}").unwrap()
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]
            /// Whatever the `transport` rows hold, sasl_passwd gets only whole lines
            /// `[destination]:port<TAB>user:password` of rows that meant them: a TAB or line
            /// break in a column never adds an entry of its choosing.
            #[test]
            fn sasl_passwd_holds_only_intended_lines(
                rows in prop::collection::vec((text(), text(), text(), text()), 0..6)
            ) {
                let key = Key::generate().unwrap();
                let encrypt = |v: &str| -> Option<Arc<str>> {
                    Some(key.encrypt(&SecretString::from(v.to_string())).unwrap().into())
                };
                let transports: Vec<TransportRow> = rows
                    .iter()
                    .enumerate()
                    .map(|(i, (destination, port, user, password))| TransportRow {
                        id: i64::try_from(i).unwrap(),
                        domain: Some("example.com".into()),
                        destination: Some(destination.as_str().into()),
                        port: Some(port.as_str().into()),
                        authentication: Some("YES".into()),
                        username_cipher: encrypt(user),
                        password_cipher: encrypt(password),
                    })
                    .collect();
                let intended: HashSet<String> = rows
                    .iter()
                    .map(|(destination, port, user, password)| {
                        let port = match port.trim() {
                            "" => "25",
                            p => p,
                        };
                        format!("[{}]:{port}\t{user}:{password}", destination.trim())
                    })
                    .collect();
                let mut writer = render::SaslWriter::new(None, transports.len());
                let (mut relay_entry, mut warnings) = (None, Vec::new());
                transport_entries(&transports, &key, "", &mut relay_entry, &mut writer, &mut warnings)
                    .unwrap();
                let written = writer.finish().unwrap();
                prop_assert!(written.is_empty() || written.ends_with('\n'));
                let lines: Vec<&str> = written.split_terminator('\n').collect();
                prop_assert!(lines.len() <= rows.len());
                for line in lines {
                    prop_assert!(intended.contains(line), "unintended line {line:?}");
                }
            }
        }
    }
}

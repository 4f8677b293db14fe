//! The per-domain credentials: `transport` rows (Hermes) or other sasl_passwd entries (a
//! plain Postfix host), set by `transport_auth`.

use super::*;

/// `transport_auth` on a plain Postfix host: its `domain` is the sasl_passwd key (the next hop
/// as the transport map names it); an entry with that key gets the new credentials, else one is
/// added after the others.
pub(super) fn plain_entries<'a>(
    desired: &Desired,
    snap: &'a Snapshot,
    key: &Key,
) -> Result<Cow<'a, [SaslEntry]>> {
    if desired.transport_auth.is_empty() {
        return Ok(Cow::Borrowed(&snap.sasl_entries));
    }
    let mut entries = snap.sasl_entries.clone();
    for wanted in &desired.transport_auth {
        if !wanted
            .domain
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control())
            || wanted.domain.starts_with('#')
        {
            return Err(Error::option(
                Opt::TransportAuth,
                format!("'{}' is not one sasl_passwd key", wanted.domain),
            ));
        }
        let user = SecretString::from(wanted.username.clone());
        let (username_cipher, password_cipher) =
            (key.encrypt(&user)?, key.encrypt(&wanted.password)?);
        match entries
            .iter_mut()
            .find(|e| e.key.eq_ignore_ascii_case(&wanted.domain))
        {
            Some(entry) => {
                entry.username_cipher = username_cipher;
                entry.password_cipher = password_cipher;
            }
            None => entries.push(SaslEntry {
                key: wanted.domain.clone(),
                username_cipher,
                password_cipher,
            }),
        }
    }
    Ok(Cow::Owned(entries))
}

/// `transport_auth`: new credentials on every `transport` row of each domain (the Domains
/// page's per-domain relay). Returns the rows as they will be, for sasl_passwd.
pub(super) fn domain_credentials<'a>(
    desired: &Desired,
    snap: &'a Snapshot,
    key: &Key,
    edits: &mut Vec<Change>,
) -> Result<Cow<'a, [TransportRow]>> {
    if desired.transport_auth.is_empty() {
        return Ok(Cow::Borrowed(&snap.transports));
    }
    let mut transports = snap.transports.clone();
    for wanted in &desired.transport_auth {
        let mut found = false;
        for t in transports.iter_mut().filter(|t| {
            t.domain
                .as_deref()
                .is_some_and(|d| d.trim().eq_ignore_ascii_case(&wanted.domain))
        }) {
            found = true;
            // A stored value the key cannot read is simply replaced.
            let plain = |stored: Option<&str>, column: &str| {
                key.decrypt_as(stored.unwrap_or(""), || t.column_label(column))
                    .unwrap_or_else(|_| SecretString::from(String::new()))
            };
            let before = t.creds();
            let authentication = match t.authentication.as_deref() {
                Some(a) if a.eq_ignore_ascii_case("YES") => a.to_string(),
                _ => "YES".to_string(),
            };
            let after = TransportCreds {
                authentication: Some(authentication),
                username_cipher: Some(keep_or_encrypt(
                    key,
                    &plain(t.username_cipher.as_deref(), TRANSPORT_USERNAME),
                    t.username_cipher.as_deref(),
                    &SecretString::from(wanted.username.clone()),
                )?),
                password_cipher: Some(keep_or_encrypt(
                    key,
                    &plain(t.password_cipher.as_deref(), TRANSPORT_PASSWORD),
                    t.password_cipher.as_deref(),
                    &wanted.password,
                )?),
            };
            if after != before {
                let shared = |v: &Option<String>| v.as_deref().map(Arc::from);
                t.authentication = shared(&after.authentication);
                t.username_cipher = shared(&after.username_cipher);
                t.password_cipher = shared(&after.password_cipher);
                edits.push(Change::Transport {
                    id: t.id,
                    before,
                    after,
                });
            }
        }
        if !found {
            return Err(Error::option(
                Opt::TransportAuth,
                format!("no transport row has domain '{}'", wanted.domain),
            ));
        }
    }
    Ok(Cow::Owned(transports))
}

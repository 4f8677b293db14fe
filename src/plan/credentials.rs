//! The credential phases: the stored relay credentials, Hermes's legacy pair, the wanted
//! ones (codes 5 and 6), and the `system_settings` rows that keep them.

use super::*;

/// The relay credentials as stored; a value the key cannot read stops the plan, named.
pub(super) fn stored_creds(snap: &Snapshot, key: &Key) -> Result<Creds> {
    Ok(Creds {
        user: key.decrypt(
            snap.username_cipher.as_deref().unwrap_or(""),
            &setting_label(USERNAME_SETTING),
        )?,
        pass: key.decrypt(
            snap.password_cipher.as_deref().unwrap_or(""),
            &setting_label(PASSWORD_SETTING),
        )?,
    })
}

/// The current credentials: the stored ones, or Hermes's legacy pair, which this save moves
/// out of the password_maps row.
pub(super) fn migrate_legacy(rows: &mut Rows, relay: &RelayRows, stored: &Creds) -> Creds {
    match legacy_creds(stored, rows.parent(relay.maps)) {
        Some(legacy) => {
            rows.clear_maps_name(relay);
            legacy
        }
        None => stored.clone(),
    }
}

/// The two `system_settings` credential rows; an unchanged value keeps its ciphertext.
pub(super) fn credential_settings(
    key: &Key,
    snap: &Snapshot,
    stored: &Creds,
    new: Option<&Creds>,
) -> Result<Vec<Change>> {
    let (user_cipher, pass_cipher) = match new {
        Some(c) => (
            keep_or_encrypt(key, &stored.user, snap.username_cipher.as_deref(), &c.user)?,
            keep_or_encrypt(key, &stored.pass, snap.password_cipher.as_deref(), &c.pass)?,
        ),
        None => (String::new(), String::new()),
    };
    let mut changes = Vec::new();
    for (parameter, before, after) in [
        (USERNAME_SETTING, &snap.username_cipher, user_cipher),
        (PASSWORD_SETTING, &snap.password_cipher, pass_cipher),
    ] {
        if before.as_deref() != Some(after.as_str()) {
            changes.push(Change::Setting {
                parameter,
                before: before.clone(),
                after,
            });
        }
    }
    Ok(changes)
}

/// Hermes's one-shot migration of the plaintext `user:pass` once kept in the password_maps
/// parent's `name`, split at the first `:` (Hermes splits at every `:`, cutting passwords).
pub(super) fn legacy_creds(stored: &Creds, maps_parent: &ParamRow) -> Option<Creds> {
    if !stored.user.expose_secret().is_empty() || !stored.pass.expose_secret().is_empty() {
        return None;
    }
    let (user, pass) = maps_parent.name.as_deref()?.split_once(':')?;
    Some(Creds {
        user: SecretString::from(user.to_string()),
        pass: SecretString::from(pass.to_string()),
    })
}

/// Hermes codes 5 and 6: given values win, else the stored ones are kept.
pub(super) fn wanted_creds(relay: &Relay, current: &Creds) -> Result<Creds> {
    let user = match &relay.auth.username {
        Some(u) => u.clone(),
        None => current.user.expose_secret().to_string(),
    };
    if user.is_empty() {
        return Err(Error::UsernameMissing);
    }
    let pass = match &relay.auth.password {
        Some(p) => p.clone(),
        None => current.pass.clone(),
    };
    if pass.expose_secret().is_empty() {
        return Err(Error::PasswordMissing);
    }
    Ok(Creds {
        user: SecretString::from(user),
        pass,
    })
}

/// An unchanged value keeps its stored ciphertext: equality is judged on the plaintext.
pub(super) fn keep_or_encrypt(
    key: &Key,
    stored_plain: &SecretString,
    stored: Option<&str>,
    wanted: &SecretString,
) -> Result<String> {
    match stored {
        Some(cipher) if stored_plain.expose_secret() == wanted.expose_secret() => {
            Ok(cipher.to_string())
        }
        _ => key.encrypt(wanted),
    }
}

/// Stored credentials (written by the Hermes UI or an older tool) must fit one sasl_passwd
/// line too.
pub(super) fn sasl_safe(user: &str, pass: &str) -> std::result::Result<(), LineUnsafe> {
    render::user_line_safe(user)?;
    render::password_line_safe(pass)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::PASSWORD_MAPS;

    #[test]
    fn legacy_pairs_split_at_the_first_colon_only_when_no_creds_are_stored() {
        let empty = Creds {
            user: SecretString::from(""),
            pass: SecretString::from(""),
        };
        let mut maps = ParamRow::test_parent(206, PASSWORD_MAPS);
        maps.name = Some("user:pa:ss".to_string());
        let creds = legacy_creds(&empty, &maps).unwrap();
        assert_eq!(creds.user.expose_secret(), "user");
        assert_eq!(creds.pass.expose_secret(), "pa:ss");
        let stored = Creds {
            user: SecretString::from("u"),
            pass: SecretString::from(""),
        };
        assert!(legacy_creds(&stored, &maps).is_none());
        maps.name = Some("no colon".to_string());
        assert!(legacy_creds(&empty, &maps).is_none());
    }
}

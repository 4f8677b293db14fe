//! The relay phases: the Relay Host page's own rows and the directives it lacks (implicit
//! TLS, the SASL security options, the relay's TLS policy and CA).

use super::*;

/// The Relay Host page's own rows (relayhost, TLS level, SASL switch and map); returns the
/// credentials sasl_passwd gets (`None`: no relay line). `plain`: on a plain Postfix host the
/// TLS level also governs direct delivery, so disabling the relay leaves it as it is (Hermes's
/// page clears it).
pub(super) fn edit_relay(
    rows: &mut Rows,
    relay: &RelayRows,
    wanted: &Wanted,
    current: Creds,
    plain: bool,
) -> Result<Option<Creds>> {
    match wanted {
        Wanted::Keep => Ok(Some(current)),
        Wanted::Absent => {
            rows.set(
                relay.relay,
                |p| p.enabled = 0,
                |v| {
                    v.parameter = Some(String::new());
                    v.name = Some(String::new());
                    v.enabled = 0;
                },
            );
            rows.disable_auth(relay);
            rows.clear_maps_name(relay);
            if !plain {
                rows.disable(relay.tls);
            }
            Ok(None)
        }
        Wanted::Present(wanted) => {
            let literal = wanted.host.relay_literal(wanted.port);
            let host = wanted.host.to_string();
            rows.set(
                relay.relay,
                |p| p.enabled = 1,
                |v| {
                    v.parameter = Some(literal);
                    v.name = Some(host);
                    v.enabled = 1;
                },
            );
            match wanted.tls.security_level() {
                None => rows.disable(relay.tls),
                Some(level) => rows.enable_with(relay.tls, level),
            }
            let auth_on = wanted
                .auth
                .on
                .unwrap_or(rows.parent(relay.sasl).is_enabled());
            if !auth_on {
                if wanted.auth.password.is_some() {
                    return Err(Error::ConflictingOptions(
                        "a password is given but authentication is off: set auth and username"
                            .to_string(),
                    ));
                }
                rows.disable_auth(relay);
                return Ok(None);
            }
            let creds = wanted_creds(wanted, &current)?;
            rows.enable_with(relay.sasl, "yes");
            rows.set(
                relay.maps,
                |p| {
                    p.enabled = 1;
                    p.name = Some(String::new());
                },
                |v| v.enabled = 1,
            );
            Ok(Some(creds))
        }
    }
}

/// Directives the page does not have: implicit TLS and the SASL security options.
pub(super) fn extra_directives(rows: &mut Rows, desired: &Desired) -> Result<Vec<Change>> {
    let wrapper = match &desired.relay {
        Wanted::Keep => None,
        Wanted::Absent => Some(None),
        Wanted::Present(r) => Some(r.tls.wrapper_mode().then_some("yes")),
    };
    let policy = relay_policy(rows, &desired.relay);
    // Set with a verifying `tls`, never removed: another destination may rely on the CA.
    let ca_file = match &desired.relay {
        Wanted::Present(r) if r.tls.policy_level().is_some() => {
            r.tls_ca_file.as_ref().map(|ca| Some(ca.postfix.as_str()))
        }
        _ => None,
    };
    let mut created = Vec::new();
    for (name, wanted) in [
        (WRAPPERMODE, wrapper),
        (TLS_POLICY_MAPS, policy.as_ref().map(|p| p.as_deref())),
        (TLS_CA_FILE, ca_file),
        (
            SASL_SECURITY_OPTIONS,
            desired.sasl_security_options.as_deref().map(Some),
        ),
        (
            SASL_TLS_SECURITY_OPTIONS,
            desired.sasl_tls_security_options.as_deref().map(Some),
        ),
    ] {
        if let Some(wanted) = wanted
            && let Some(new) = rows.extra_directive(name, wanted)?
        {
            created.push(new);
        }
    }
    Ok(created)
}

/// The relay's TLS policy entry (`tls: verify`/`secure`): `Some(Some(value))` sets it,
/// `Some(None)` disables an entry this module wrote, `None` leaves the directive alone (it is
/// someone else's, or the stored state is kept).
pub(super) fn relay_policy(rows: &Rows, wanted: &Wanted) -> Option<Option<String>> {
    let ours = || {
        let all = rows.all();
        let parent = all
            .iter()
            .find(|r| r.is_parent() && r.is_enabled() && r.param() == TLS_POLICY_MAPS)?;
        let id = parent.id.to_string();
        all.iter()
            .filter(|r| r.child == Some(1) && r.is_enabled() && r.parent.as_deref() == Some(&id))
            .any(|r| crate::tls::relay_policy(r.param()).is_some())
            .then_some(None)
    };
    match wanted {
        Wanted::Keep => None,
        Wanted::Absent => ours(),
        Wanted::Present(relay) => match relay.tls.policy_level() {
            None => ours(),
            Some(level) => Some(Some(crate::tls::policy_map(
                &relay.host.relay_literal(relay.port),
                level,
                relay.tls_name.as_deref(),
            ))),
        },
    }
}

//! The main.cf phase: rendered whole from the rows (Hermes) or edited in place (a plain
//! Postfix host), and the values Postfix checks only at delivery time.

use super::*;

/// main.cf as Hermes's generator writes it from the rows; `None` when the file already is.
pub(super) fn main_cf(rows: &Rows, inputs: &Inputs) -> Result<Option<String>> {
    render::check_directive_rows(rows.all(), &crate::model::MANAGED)?;
    let directives = render::directives(rows.all(), inputs.exec_dir);
    check_values(&directives)?;
    let main_cf = match (inputs.edit_in_place, inputs.files.main_cf.as_deref()) {
        (true, current) => render::edit(current.unwrap_or(""), &directives, &MANAGED),
        (false, _) => render::merge(inputs.base, &directives),
    };
    Ok((inputs.files.main_cf.as_deref() != Some(main_cf.as_str())).then_some(main_cf))
}

/// Values Postfix checks only when a daemon uses them: a bad one would pass `postconf -n` and
/// fail at delivery time, so the directives we manage are checked here.
pub(super) fn check_values(directives: &[(String, String)]) -> Result<()> {
    const LEVELS: [&str; 9] = [
        "",
        "none",
        "may",
        "encrypt",
        "dane",
        "dane-only",
        "fingerprint",
        "verify",
        "secure",
    ];
    for (name, value) in directives {
        let ok = match name.as_str() {
            TLS_LEVEL => LEVELS.contains(&value.as_str()),
            SASL_AUTH | WRAPPERMODE => matches!(value.as_str(), "yes" | "no"),
            _ => true,
        };
        if !ok {
            return Err(Error::PostfixConfig(format!(
                "{name} = {value:?} is not a value Postfix accepts"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_time_values_are_checked() {
        let ok = |n: &str, v: &str| check_values(&[(n.to_string(), v.to_string())]).is_ok();
        assert!(ok(TLS_LEVEL, "encrypt") && ok(TLS_LEVEL, "dane") && ok(TLS_LEVEL, ""));
        assert!(!ok(TLS_LEVEL, "bogus"));
        assert!(ok(SASL_AUTH, "yes") && ok(WRAPPERMODE, "no"));
        assert!(!ok(SASL_AUTH, "true") && !ok(WRAPPERMODE, "1"));
        assert!(ok("myhostname", "anything"));
    }
}

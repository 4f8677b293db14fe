//! The pure heart: desired state + what is stored and on disk → the exact row writes, file
//! contents and diff of a Hermes save. No I/O here, so check mode is "plan and report".
//!
//! [`plan`] runs the save's phases in order over a working set of rows ([`Rows`]): read the
//! stored credentials (and Hermes's legacy pair), edit the relay rows, the extra directives,
//! the credential settings and the per-domain credentials, mark pending rows applied, render
//! main.cf and sasl_passwd. [`crate::diff`] presents a plan, masked.

use foldhash::{HashSet, HashSetExt};
use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::args::Opt;
use crate::crypto::{DecryptCache, Key};
use crate::error::{Error, Result};
use crate::files::FileId;
use crate::files::PostfixDir;
use crate::load::FileState;
use crate::model::{
    Change, MANAGED, PASSWORD_SETTING, ParamRow, SASL_AUTH, SASL_SECURITY_OPTIONS,
    SASL_TLS_SECURITY_OPTIONS, SaslEntry, Snapshot, TLS_CA_FILE, TLS_LEVEL, TLS_POLICY_MAPS,
    TRANSPORT_PASSWORD, TRANSPORT_USERNAME, TransportCreds, TransportRow, USERNAME_SETTING,
    WRAPPERMODE, setting_label,
};
use crate::render::{self, LineUnsafe};
use crate::rows::{RelayRows, Rows};
use crate::validate::{Desired, Relay, Wanted};
use crate::verified::{DomainLines, Record};

mod credentials;
mod domains;
mod main_cf;
mod relay;
mod sasl;

use credentials::*;
use domains::*;
use main_cf::*;
use relay::*;
use sasl::*;

/// Everything besides the desired state that the plan depends on.
pub struct Inputs<'a> {
    pub snapshot: &'a Snapshot,
    pub files: &'a FileState,
    pub key: &'a Key,
    /// The rendered base template.
    pub base: &'a str,
    pub exec_dir: &'a str,
    pub postfix_dir: &'a Path,
    /// A plain Postfix host: main.cf is edited in place for the keys of [`MANAGED`] only
    /// (`base` is unused), and the rows are only the store's reading of the files, so they
    /// are not written.
    pub edit_in_place: bool,
}

/// The new sasl_passwd and the map postmap must build from it.
pub struct SaslFile {
    /// The whole file, or with a `tail` the part before it.
    pub text: Zeroizing<String>,
    pub tail: Option<Tail>,
    pub map_type: String,
    /// `None` for texthash, which Postfix reads without postmap.
    pub map_suffix: Option<&'static str>,
    /// The relay line's key and `user:password`, to check the built map answers with them.
    pub relay_entry: Option<(String, Zeroizing<String>)>,
}

/// The end of the new sasl_passwd when a record vouches for it: the installed file from byte
/// `from`, which must still be `file`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tail {
    pub from: u64,
    pub file: FileId,
}

/// The relay login a plan commits, for the live probe.
pub struct Login {
    pub user: String,
    pub password: SecretString,
}

#[derive(Default)]
pub struct Plan {
    /// Row writes of the save itself; changed `parameters` rows go pending (`applied = 2`).
    pub edits: Vec<Change>,
    /// After main.cf is installed: every pending row becomes applied.
    pub marks: Vec<Change>,
    pub main_cf: Option<String>,
    pub sasl: Option<SaslFile>,
    pub warnings: Vec<String>,
    /// Rows other Hermes pages left pending that this run applies.
    pub pending: Vec<String>,
    /// The relay login this plan commits (auth on), for the live probe.
    pub login: Option<Login>,
    /// How the per-domain part of the (new) sasl_passwd was rendered, for the record.
    pub domain_lines: DomainLines,
    /// The relay credentials as stored and as planned, for the masked diff.
    pub(crate) stored_creds: Option<Creds>,
    pub(crate) new_creds: Option<Creds>,
}

/// What a plan changes, by the name the result's `changes` uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Changed {
    Rows,
    MainCf,
    SaslPasswd,
}

impl Serialize for Changed {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl Changed {
    pub fn as_str(self) -> &'static str {
        match self {
            Changed::Rows => "rows",
            Changed::MainCf => PostfixDir::MAIN_CF,
            Changed::SaslPasswd => PostfixDir::SASL_PASSWD,
        }
    }
}

impl Plan {
    pub fn is_noop(&self) -> bool {
        self.changes().is_empty()
    }

    pub fn changes(&self) -> Vec<Changed> {
        [
            (
                Changed::Rows,
                !self.edits.is_empty() || !self.marks.is_empty(),
            ),
            (Changed::MainCf, self.main_cf.is_some()),
            (Changed::SaslPasswd, self.sasl.is_some()),
        ]
        .into_iter()
        .filter_map(|(what, yes)| yes.then_some(what))
        .collect()
    }
}

/// A relay username and password in the clear, as the key decrypts them.
#[derive(Clone)]
pub(crate) struct Creds {
    pub user: SecretString,
    pub pass: SecretString,
}

pub fn plan(desired: &Desired, inputs: &Inputs) -> Result<Plan> {
    let draft = Draft::new(desired, inputs)?;
    let line = draft.relay_line()?;
    let (sasl, lines) = sasl_file(&draft, line, inputs)?;
    let mut plan = draft.finish(desired, sasl, lines);
    if inputs.edit_in_place {
        plan.edits.clear();
        plan.marks.clear();
        plan.pending.clear();
    }
    Ok(plan)
}

/// [`plan`] from a snapshot without `transport` rows, whose sasl_passwd lines `record`
/// vouches for (a [`crate::verified`] record of this store version and key). `None`: the
/// record does not fit (another relay line key, sasl_passwd not the one it describes,
/// per-domain credentials to set): plan from the rows.
pub fn plan_verified(desired: &Desired, inputs: &Inputs, record: &Record) -> Result<Option<Plan>> {
    if !desired.transport_auth.is_empty() {
        return Ok(None);
    }
    let draft = Draft::new(desired, inputs)?;
    let line = draft.relay_line()?;
    Ok(verified_sasl_file(&draft, line, inputs, record)?
        .map(|(sasl, lines)| draft.finish(desired, sasl, lines)))
}

/// A plan with everything but sasl_passwd.
struct Draft<'a> {
    plan: Plan,
    rows: Rows,
    relay: RelayRows,
    new_creds: Option<Creds>,
    transports: Cow<'a, [TransportRow]>,
    /// A plain Postfix host's other sasl_passwd entries, as they will be.
    entries: Cow<'a, [SaslEntry]>,
}

impl<'a> Draft<'a> {
    fn new(desired: &Desired, inputs: &Inputs<'a>) -> Result<Draft<'a>> {
        let snap = inputs.snapshot;
        let key = inputs.key;
        let mut rows = Rows::new(&snap.params);
        let relay = rows.relay_rows(snap)?;
        let stored = stored_creds(snap, key)?;
        let current = migrate_legacy(&mut rows, &relay, &stored);
        let new_creds = edit_relay(
            &mut rows,
            &relay,
            &desired.relay,
            current,
            inputs.edit_in_place,
        )?;

        let mut plan = Plan::default();
        plan.edits.extend(extra_directives(&mut rows, desired)?);
        plan.edits.extend(rows.edits(&snap.params));
        plan.edits
            .extend(credential_settings(key, snap, &stored, new_creds.as_ref())?);
        let (transports, entries) = if inputs.edit_in_place {
            (
                Cow::Borrowed(&snap.transports[..]),
                plain_entries(desired, snap, key)?,
            )
        } else {
            (
                domain_credentials(desired, snap, key, &mut plan.edits)?,
                Cow::Borrowed(&snap.sasl_entries[..]),
            )
        };
        (plan.marks, plan.pending) = rows.applied_marks(&plan.edits);
        plan.main_cf = main_cf(&rows, inputs)?;
        plan.stored_creds = Some(stored);
        Ok(Draft {
            plan,
            rows,
            relay,
            new_creds,
            transports,
            entries,
        })
    }

    /// The relay line sasl_passwd starts with, if the rows and credentials want one.
    fn relay_line(&self) -> Result<Option<RelayLine<'_>>> {
        let relay_value = self.rows.value(self.relay.relay);
        let Some(c) = &self.new_creds else {
            return Ok(None);
        };
        let (user, pass) = (c.user.expose_secret(), c.pass.expose_secret());
        let wanted = self.rows.parent(self.relay.sasl).is_enabled()
            && relay_value.is_enabled()
            && !relay_value.param().is_empty()
            && !user.is_empty()
            && !pass.is_empty();
        if !wanted {
            return Ok(None);
        }
        sasl_safe(user, pass).map_err(|why| {
            Error::option(
                Opt::Password,
                format!(
                    "the stored relay credentials cannot go into sasl_passwd ({why}): set new ones"
                ),
            )
        })?;
        Ok(Some(RelayLine {
            key: relay_value.param(),
            user,
            pass,
        }))
    }

    fn finish(self, desired: &Desired, sasl: Option<SaslFile>, lines: DomainLines) -> Plan {
        let mut plan = self.plan;
        plan.sasl = sasl;
        plan.warnings.extend(lines.warnings.iter().cloned());
        plan.domain_lines = lines;
        if let (Wanted::Present(_), true) = (
            &desired.relay,
            self.rows.parent(self.relay.sasl).is_enabled(),
        ) {
            plan.login = self.new_creds.as_ref().map(|c| Login {
                user: c.user.expose_secret().to_string(),
                password: c.pass.clone(),
            });
        }
        plan.new_creds = self.new_creds;
        plan
    }
}

/// sasl_passwd's first line: the relay host's key and credentials.
struct RelayLine<'a> {
    key: &'a str,
    user: &'a str,
    pass: &'a str,
}

impl RelayLine<'_> {
    fn text(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("{}\t{}:{}\n", self.key, self.user, self.pass))
    }

    /// The length of [`RelayLine::text`], without writing the password once more.
    fn len(&self) -> u64 {
        (self.key.len() + self.user.len() + self.pass.len() + 3) as u64
    }

    /// What the built map must answer for the key.
    fn entry(&self) -> (String, Zeroizing<String>) {
        (
            self.key.to_string(),
            Zeroizing::new(format!("{}:{}", self.user, self.pass)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plan phases on a "current state + args" scenario (crate::testkit).
    mod scenarios {
        use serde_json::{Value, json};

        use super::*;
        use crate::testkit::Scenario;

        const PW: &str = "p@ss:w0rd with spaces";

        fn relay() -> Value {
            json!({"host": "smtp.example.com", "port": 587, "username": "relayuser", "password": PW})
        }

        fn with(extra: Value) -> Value {
            let mut args = relay();
            for (k, v) in extra.as_object().unwrap() {
                args[k] = v.clone();
            }
            args
        }

        fn configured() -> Scenario {
            Scenario::fresh().applied(relay())
        }

        fn main_cf(plan: &Plan) -> &str {
            plan.main_cf.as_deref().expect("main.cf is rewritten")
        }

        fn sasl(plan: &Plan) -> String {
            plan.sasl
                .as_ref()
                .expect("sasl_passwd is rewritten")
                .text
                .to_string()
        }

        #[test]
        fn a_first_relay_writes_rows_main_cf_and_sasl_passwd() {
            let plan = Scenario::fresh().plan(relay()).unwrap();
            assert_eq!(
                plan.changes(),
                [Changed::Rows, Changed::MainCf, Changed::SaslPasswd]
            );
            assert!(main_cf(&plan).contains("\nrelayhost = [smtp.example.com]:587\n"));
            assert!(main_cf(&plan).contains("\nsmtp_sasl_auth_enable = yes\n"));
            assert_eq!(
                sasl(&plan),
                format!("[smtp.example.com]:587\trelayuser:{PW}\n")
            );
        }

        const DEBIAN: &str = "myhostname = mail.example.test\nrelayhost = \n\
                              smtp_tls_security_level=may\nmydestination = localhost\n";

        #[test]
        fn a_plain_host_gets_only_its_relay_lines_and_no_rows() {
            let plan = Scenario::plain(DEBIAN, None)
                .plan(with(json!({"sasl_security_options": "noanonymous"})))
                .unwrap();
            assert_eq!(plan.changes(), [Changed::MainCf, Changed::SaslPasswd]);
            assert!(plan.edits.is_empty() && plan.marks.is_empty());
            assert_eq!(
                main_cf(&plan),
                "myhostname = mail.example.test\nrelayhost = [smtp.example.com]:587\n\
                 smtp_tls_security_level=may\nmydestination = localhost\n\
                 smtp_sasl_auth_enable = yes\n\
                 smtp_sasl_password_maps = hash:/etc/postfix/sasl_passwd\n\
                 smtp_sasl_security_options = noanonymous\n"
            );
            assert_eq!(
                sasl(&plan),
                format!("[smtp.example.com]:587\trelayuser:{PW}\n")
            );
        }

        #[test]
        fn a_plain_host_without_credentials_gets_no_sasl_passwd() {
            let plan = Scenario::plain(DEBIAN, None)
                .plan(json!({"host": "smtp.example.com", "tls": "may"}))
                .unwrap();
            assert_eq!(plan.changes(), [Changed::MainCf]);
            assert!(
                Scenario::plain(DEBIAN, None)
                    .plan(json!({"state": "absent"}))
                    .unwrap()
                    .is_noop()
            );
        }

        #[test]
        fn a_plain_host_keeps_the_password_of_its_sasl_passwd() {
            let installed = "relayhost = [smtp.example.com]:587\nsmtp_sasl_auth_enable = yes\n\
                             smtp_sasl_password_maps = hash:/etc/postfix/sasl_passwd\n\
                             smtp_tls_security_level = may\n";
            let installed_sasl =
                format!("[smtp.example.com]:587\trelayuser:{PW}\n[mx.b.example]:25\tb:bpass\n");
            let mut args = relay();
            args.as_object_mut().unwrap().remove("password");
            let scenario = Scenario::plain(installed, Some(&installed_sasl));
            assert!(scenario.plan(args).unwrap().is_noop());
            let plan = scenario
                .plan(json!({"host": "mx.b.example", "port": 25, "username": "u", "password": "p"}))
                .unwrap();
            assert_eq!(sasl(&plan), "[mx.b.example]:25\tu:p\n");
            assert!(
                plan.warnings.iter().any(|w| w.contains("now the relay's")),
                "{:?}",
                plan.warnings
            );
        }

        #[test]
        fn the_same_args_again_change_nothing() {
            assert!(configured().plan(relay()).unwrap().is_noop());
        }

        #[test]
        fn an_omitted_password_keeps_the_stored_one() {
            let mut args = relay();
            args.as_object_mut().unwrap().remove("password");
            assert!(configured().plan(args).unwrap().is_noop());
        }

        #[test]
        fn auth_true_alone_uses_the_stored_credentials() {
            let plan = configured()
                .plan(json!({"host": "smtp.example.com", "port": 587, "auth": true}))
                .unwrap();
            assert!(plan.is_noop());
        }

        #[test]
        fn a_new_password_rewrites_rows_and_sasl_passwd_only() {
            let plan = configured()
                .plan(with(json!({"password": "n3w-pass"})))
                .unwrap();
            assert_eq!(plan.changes(), [Changed::Rows, Changed::SaslPasswd]);
            assert_eq!(sasl(&plan), "[smtp.example.com]:587\trelayuser:n3w-pass\n");
        }

        #[test]
        fn a_new_port_moves_the_relay_line_key() {
            let plan = configured().plan(with(json!({"port": 2525}))).unwrap();
            assert!(main_cf(&plan).contains("relayhost = [smtp.example.com]:2525\n"));
            assert!(sasl(&plan).starts_with("[smtp.example.com]:2525\t"));
        }

        #[test]
        fn absent_disables_the_relay_and_drops_the_relay_line() {
            let plan = configured().plan(json!({"state": "absent"})).unwrap();
            assert!(!main_cf(&plan).contains("relayhost = ["));
            assert!(!main_cf(&plan).contains("smtp_sasl_auth_enable = yes"));
            assert_eq!(sasl(&plan), "");
        }

        #[test]
        fn auth_false_clears_the_credentials() {
            let plan = configured()
                .plan(json!({"host": "smtp.example.com", "port": 587, "auth": false}))
                .unwrap();
            assert_eq!(sasl(&plan), "");
            assert!(!main_cf(&plan).contains("smtp_sasl_auth_enable = yes"));
        }

        #[test]
        fn tls_levels_become_their_rows() {
            for (tls, level, wrapper) in [
                ("may", Some("may"), false),
                ("encrypt", Some("encrypt"), false),
                ("wrapper", Some("encrypt"), true),
                ("none", None, false),
            ] {
                let plan = Scenario::fresh().plan(with(json!({"tls": tls}))).unwrap();
                let text = main_cf(&plan);
                match level {
                    Some(level) => assert!(
                        text.contains(&format!("smtp_tls_security_level = {level}\n")),
                        "{tls}: {text}"
                    ),
                    None => assert!(!text.contains("smtp_tls_security_level ="), "{tls}"),
                }
                assert_eq!(
                    text.contains("smtp_tls_wrappermode = yes"),
                    wrapper,
                    "{tls}"
                );
            }
        }

        #[test]
        fn an_ipv6_relay_is_written_as_postfix_reads_it() {
            let plan = Scenario::fresh()
                .plan(with(json!({"host": "2001:db8::25", "port": 25})))
                .unwrap();
            assert!(main_cf(&plan).contains("relayhost = [ipv6:2001:db8::25]:25\n"));
            assert!(sasl(&plan).starts_with("[ipv6:2001:db8::25]:25\t"));
        }

        #[test]
        fn sasl_security_options_become_directives() {
            let plan = Scenario::fresh()
                .plan(with(json!({
                    "sasl_security_options": "noanonymous",
                    "sasl_tls_security_options": "noanonymous"
                })))
                .unwrap();
            assert!(main_cf(&plan).contains("smtp_sasl_security_options = noanonymous\n"));
            assert!(main_cf(&plan).contains("smtp_sasl_tls_security_options = noanonymous\n"));
        }

        #[test]
        fn a_stale_or_readable_map_is_rebuilt_from_the_same_text() {
            let mut stale = configured();
            stale.files.map_stale = true;
            assert_eq!(
                stale.plan(relay()).unwrap().changes(),
                [Changed::SaslPasswd]
            );
            let mut readable = configured();
            readable.files.map_mode = Some(0o644);
            assert_eq!(
                readable.plan(relay()).unwrap().changes(),
                [Changed::SaslPasswd]
            );
            let mut missing = configured();
            missing.files.map_mode = None;
            assert_eq!(
                missing.plan(relay()).unwrap().changes(),
                [Changed::SaslPasswd]
            );
        }

        #[test]
        fn a_hand_edited_main_cf_is_rewritten() {
            let mut edited = configured();
            edited.files.main_cf = Some("relayhost = [other.example]:25\n".into());
            assert_eq!(edited.plan(relay()).unwrap().changes(), [Changed::MainCf]);
        }

        #[test]
        fn rows_another_page_left_pending_are_applied_and_named() {
            let plan = configured()
                .with_sql("UPDATE parameters SET applied = 2 WHERE id = 10")
                .plan(relay())
                .unwrap();
            assert_eq!(plan.changes(), [Changed::Rows]);
            assert_eq!(plan.pending.len(), 1, "{:?}", plan.pending);
        }

        #[test]
        fn per_domain_lines_follow_the_relay_line() {
            let plan = Scenario::fresh()
                .with_transport("x.example", "mx.x.example", "xuser", "xpass")
                .plan(relay())
                .unwrap();
            assert_eq!(
                sasl(&plan),
                format!(
                    "[smtp.example.com]:587\trelayuser:{PW}\n[mx.x.example]:587\txuser:xpass\n"
                )
            );
        }

        #[test]
        fn transport_auth_sets_a_domains_credentials() {
            let plan = Scenario::fresh()
                .with_transport("x.example", "mx.x.example", "xuser", "xpass")
                .plan(json!({"transport_auth": [
                    {"domain": "x.example", "username": "new", "password": "newpass"}
                ]}))
                .unwrap();
            assert!(
                sasl(&plan).contains("[mx.x.example]:587\tnew:newpass\n"),
                "{}",
                sasl(&plan)
            );
        }

        #[test]
        fn a_transport_row_keyed_like_the_relay_is_skipped_with_a_warning() {
            let plan = Scenario::fresh()
                .with_transport("x.example", "smtp.example.com", "xuser", "xpass")
                .plan(relay())
                .unwrap();
            assert!(!sasl(&plan).contains("xuser"));
            assert!(
                plan.warnings.iter().any(|w| w.contains("transport")),
                "{:?}",
                plan.warnings
            );
        }

        #[test]
        fn the_diff_masks_every_password() {
            let scenario = configured();
            let (desired, settings) = scenario
                .request(with(json!({"password": "n3w-pass"})))
                .unwrap();
            let inputs = scenario.inputs(&settings);
            let plan = plan(&desired, &inputs).unwrap();
            let entries = crate::diff::diff(&plan, &inputs);
            let all: String = entries
                .iter()
                .map(|e| format!("{}{}", e.before, e.after))
                .collect();
            assert!(!all.contains(PW) && !all.contains("n3w-pass"), "{all}");
            assert!(
                all.contains("******** (old)") && all.contains("******** (new)"),
                "{all}"
            );
        }

        /// Snapshots (`src/plan/snapshots/`, reviewed with `cargo insta review`): the whole
        /// change each request makes, as `--diff` shows it.
        mod shown {
            use super::*;

            #[test]
            fn a_first_relay_on_a_fresh_host() {
                let shown = Scenario::fresh().shown(relay());
                insta::assert_snapshot!(shown);
            }

            #[test]
            fn a_password_rotation() {
                let shown = configured().shown(with(json!({"password": "n3w-pass"})));
                insta::assert_snapshot!(shown);
            }

            #[test]
            fn implicit_tls_on_port_465() {
                let shown = configured().shown(with(json!({"port": 465, "tls": "wrapper"})));
                insta::assert_snapshot!(shown);
            }

            #[test]
            fn absent_after_a_relay() {
                let shown = configured().shown(json!({"state": "absent"}));
                insta::assert_snapshot!(shown);
            }

            #[test]
            fn per_domain_credentials_beside_the_relay() {
                let scenario = configured()
                    .with_transport("b.example", "mx.b.example", "buser", "bpass")
                    .with_transport("c.example", "mx.c.example", "cuser", "cpass");
                let shown = scenario.shown(json!({
                    "transport_auth": [{"domain": "b.example", "username": "b2", "password": "new-b"}]
                }));
                insta::assert_snapshot!(shown);
            }

            #[test]
            fn a_plain_debian_host_gets_its_relay_lines() {
                let shown = Scenario::plain(DEBIAN, None).shown(with(json!({
                    "sasl_security_options": "noanonymous",
                    "tls": "encrypt"
                })));
                insta::assert_snapshot!(shown);
            }

            #[test]
            fn a_plain_host_relaying_with_a_verified_certificate() {
                let shown = Scenario::plain(DEBIAN, None).shown(with(json!({
                    "tls": "verify",
                    "tls_name": "relay.example.com"
                })));
                insta::assert_snapshot!(shown);
            }
        }

        #[test]
        fn username_and_password_missing_are_codes_5_and_6() {
            let err = Scenario::fresh()
                .plan(json!({"host": "smtp.example.com", "auth": true}))
                .err()
                .unwrap();
            assert_eq!(err.hermes_code(), Some(5));
            let err = Scenario::fresh()
                .plan(json!({"host": "smtp.example.com", "username": "u"}))
                .err()
                .unwrap();
            assert_eq!(err.hermes_code(), Some(6));
        }
    }
}

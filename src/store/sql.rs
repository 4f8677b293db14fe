//! What every SQL backend shares: the SELECTs that read a [`Snapshot`] and the statement each
//! [`Change`] writes (or, for a rollback by before-images, puts back). A backend supplies a
//! [`Dialect`]: how to run a statement, and the few spellings that differ.

use foldhash::{HashSet, HashSetExt};
use std::borrow::Cow;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::model::{
    Change, PASSWORD_SETTING, ParamRow, Snapshot, TransportCreds, TransportRow, USERNAME_SETTING,
};
use crate::store::Scope;

/// A column or parameter value, whatever the driver.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Null,
    Int(i64),
    Text(String),
}

impl From<Option<&str>> for SqlValue {
    fn from(v: Option<&str>) -> Self {
        v.map_or(SqlValue::Null, |s| SqlValue::Text(s.to_string()))
    }
}

impl From<&str> for SqlValue {
    fn from(v: &str) -> Self {
        SqlValue::Text(v.to_string())
    }
}

impl From<Option<i64>> for SqlValue {
    fn from(v: Option<i64>) -> Self {
        v.map_or(SqlValue::Null, SqlValue::Int)
    }
}

/// A column value as a SELECT hands it over, borrowed from the driver's row where it can be:
/// a column that is interned or parsed costs no allocation.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlRef<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(Cow<'a, str>),
}

/// The backend's hook: how it runs a statement, and how it spells a column as a float.
pub trait Dialect {
    /// `order1` (a decimal) as a float: `CAST(order1 AS REAL)` in SQLite.
    const ORDER1_AS_FLOAT: &'static str;
    /// `transport.port` as text.
    const PORT_AS_TEXT: &'static str;
    /// Runs a SELECT and hands each row to `each` as it arrives: 100,000 `transport` rows are
    /// never held twice (driver rows and model rows).
    fn query(
        &mut self,
        sql: &str,
        params: &[SqlValue],
        each: &mut dyn FnMut(&[SqlRef]) -> Result<()>,
    ) -> Result<()>;
    fn execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<()>;
}

/// Inserts a directive's parent row (`?` = name), then its value row (value, parent id as
/// text, name): Hermes's dual-row form, enabled and applied. The new ids are the backend's.
pub const INSERT_PARENT: &str = "INSERT INTO parameters (parameter, module, editable, conf_file, \
     child, enabled, applied, action) VALUES (?, 'postfix', 1, 'main.cf', 2, 1, 1, 'NONE')";
pub const INSERT_VALUE: &str = "INSERT INTO parameters (parameter, module, editable, conf_file, \
     parent, parent_name, child, order1, enabled, applied, action) \
     VALUES (?, 'postfix', 1, 'main.cf', ?, ?, 1, 1, 1, 1, 'NONE')";

/// Reads the rows the plan needs.
pub fn load<D: Dialect>(db: &mut D, scope: Scope) -> Result<Snapshot> {
    let mut params = Vec::new();
    db.query(
        &format!(
            "SELECT id, parameter, name, parent, child, {}, COALESCE(enabled, 0), applied, \
             action FROM parameters WHERE module = 'postfix' AND conf_file = 'main.cf' \
             ORDER BY id",
            D::ORDER1_AS_FLOAT
        ),
        &[],
        &mut |row| {
            let [
                id,
                parameter,
                name,
                parent,
                child,
                order1,
                enabled,
                applied,
                action,
            ] = columns(row)?;
            params.push(ParamRow {
                id: int(id)?.unwrap_or_default(),
                parameter: text(parameter),
                name: text(name),
                parent: text(parent),
                child: int(child)?,
                order1: real(order1)?,
                enabled: int(enabled)?.unwrap_or_default(),
                applied: int(applied)?,
                action: text(action),
            });
            Ok(())
        },
    )?;
    let mut transports = Vec::new();
    let mut shared: HashSet<Arc<str>> = HashSet::new();
    let mut share = |v: &SqlRef| {
        str_of(v).map(|s| match shared.get(s.as_ref()) {
            Some(known) => Arc::clone(known),
            None => {
                let new: Arc<str> = s.as_ref().into();
                shared.insert(Arc::clone(&new));
                new
            }
        })
    };
    let boxed = |v: &SqlRef| str_of(v).map(|s| Box::<str>::from(s.as_ref()));
    if scope == Scope::All {
        let select = format!(
            "SELECT id, domain, destination, {}, authentication, authentication_username, \
             authentication_password FROM transport ORDER BY id",
            D::PORT_AS_TEXT
        );
        db.query(&select, &[], &mut |row| {
            let [
                id,
                domain,
                destination,
                port,
                authentication,
                user,
                password,
            ] = columns(row)?;
            transports.push(TransportRow {
                id: int(id)?.unwrap_or_default(),
                domain: boxed(domain),
                destination: boxed(destination),
                port: share(port),
                authentication: share(authentication),
                username_cipher: share(user),
                password_cipher: share(password),
            });
            Ok(())
        })?;
    }
    transports.shrink_to_fit();
    drop(shared);
    let (mut username_cipher, mut password_cipher) = (None, None);
    db.query(
        "SELECT parameter, value FROM system_settings WHERE parameter IN (?, ?)",
        &[USERNAME_SETTING.into(), PASSWORD_SETTING.into()],
        &mut |row| {
            let [parameter, value] = columns(row)?;
            let slot = match text(parameter).as_deref() {
                Some(USERNAME_SETTING) => &mut username_cipher,
                Some(PASSWORD_SETTING) => &mut password_cipher,
                _ => return Ok(()),
            };
            // The first row wins, as a lookup in the result would find it.
            if slot.is_none() {
                *slot = Some(text(value).unwrap_or_default());
            }
            Ok(())
        },
    )?;
    Ok(Snapshot {
        sasl_entries: Vec::new(),
        params,
        username_cipher,
        password_cipher,
        transports,
    })
}

/// A row's columns by position; the SELECTs above fix how many.
fn columns<'r, 'a, const N: usize>(row: &'r [SqlRef<'a>]) -> Result<&'r [SqlRef<'a>; N]> {
    row.try_into().map_err(|_| {
        Error::DatabaseLayout(format!(
            "expected {N} columns in a row, found {}",
            row.len()
        ))
    })
}

/// Which side of a change a statement writes: the change itself, or its before-image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    After,
    Before,
}

/// The statement that writes `side` of a change. `None` for a new directive, whose inserts
/// need the backend's new ids (and whose undo is deleting them).
pub fn statement(change: &Change, side: Side) -> Option<(&'static str, Vec<SqlValue>)> {
    Some(match change {
        Change::NewDirective { .. } => return None,
        Change::Param { before, after } => {
            let row = pick(side, before, after);
            (
                "UPDATE parameters SET parameter = ?, name = ?, enabled = ?, applied = ?, \
                 action = ? WHERE id = ?",
                vec![
                    row.parameter.as_deref().into(),
                    row.name.as_deref().into(),
                    SqlValue::Int(row.enabled),
                    row.applied.into(),
                    row.action.as_deref().into(),
                    SqlValue::Int(row.id),
                ],
            )
        }
        Change::Transport { id, before, after } => (
            UPDATE_TRANSPORT,
            transport_values(*id, pick(side, before, after)),
        ),
        Change::Setting {
            parameter,
            before: None,
            ..
        } if side == Side::Before => (
            "DELETE FROM system_settings WHERE parameter = ?",
            vec![(*parameter).into()],
        ),
        Change::Setting {
            parameter,
            before: None,
            after,
        } => (
            "INSERT INTO system_settings (parameter, value) VALUES (?, ?)",
            vec![(*parameter).into(), after.as_str().into()],
        ),
        Change::Setting {
            parameter,
            before: Some(before),
            after,
        } => (
            "UPDATE system_settings SET value = ? WHERE parameter = ?",
            vec![
                pick(side, before, after).as_str().into(),
                (*parameter).into(),
            ],
        ),
    })
}

fn pick<'a, T>(side: Side, before: &'a T, after: &'a T) -> &'a T {
    match side {
        Side::Before => before,
        Side::After => after,
    }
}

const UPDATE_TRANSPORT: &str = "UPDATE transport SET authentication = ?, \
     authentication_username = ?, authentication_password = ? WHERE id = ?";

/// The credential columns of a `transport` row, then its id, as [`UPDATE_TRANSPORT`] takes them.
pub fn transport_values(id: i64, creds: &TransportCreds) -> Vec<SqlValue> {
    vec![
        creds.authentication.as_deref().into(),
        creds.username_cipher.as_deref().into(),
        creds.password_cipher.as_deref().into(),
        SqlValue::Int(id),
    ]
}

/// A column as text, borrowed when it is text.
fn str_of<'b>(v: &'b SqlRef) -> Option<Cow<'b, str>> {
    match v {
        SqlRef::Null => None,
        SqlRef::Int(i) => Some(Cow::Owned(i.to_string())),
        SqlRef::Real(f) => Some(Cow::Owned(f.to_string())),
        SqlRef::Text(s) => Some(Cow::Borrowed(s.as_ref())),
    }
}

fn text(v: &SqlRef) -> Option<String> {
    str_of(v).map(Cow::into_owned)
}

fn int(v: &SqlRef) -> Result<Option<i64>> {
    match v {
        SqlRef::Null => Ok(None),
        SqlRef::Int(i) => Ok(Some(*i)),
        SqlRef::Text(s) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| not_a("an integer", s)),
        SqlRef::Real(f) => Ok(Some(*f as i64)),
    }
}

fn real(v: &SqlRef) -> Result<Option<f64>> {
    match v {
        SqlRef::Null => Ok(None),
        SqlRef::Int(i) => Ok(Some(*i as f64)),
        SqlRef::Real(f) => Ok(Some(*f)),
        SqlRef::Text(s) => s.trim().parse().map(Some).map_err(|_| not_a("a number", s)),
    }
}

fn not_a(what: &str, value: &str) -> Error {
    Error::DatabaseLayout(format!("expected a column holding {what}, found {value:?}"))
}

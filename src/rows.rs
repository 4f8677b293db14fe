//! The working set of `parameters` rows a plan edits: a copy of the stored rows that owns the
//! edits (enable, disable, set a directive, add a missing one) and turns them into the row
//! writes of a Hermes save (pending, then applied).

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::model::{Change, PASSWORD_MAPS, ParamRow, RELAYHOST, SASL_AUTH, Snapshot, TLS_LEVEL};

/// A directive: its parent row and first value row, by index into the working rows.
#[derive(Clone, Copy)]
pub struct Directive {
    parent: usize,
    value: usize,
}

/// The four directives the Relay Host page edits.
#[derive(Clone, Copy)]
pub struct RelayRows {
    pub relay: Directive,
    pub sasl: Directive,
    pub maps: Directive,
    pub tls: Directive,
}

pub struct Rows {
    rows: Vec<ParamRow>,
    /// How many rows were stored; the rest are new directives' rows.
    stored: usize,
}

impl Rows {
    pub fn new(params: &[ParamRow]) -> Rows {
        Rows {
            rows: params.to_vec(),
            stored: params.len(),
        }
    }

    pub fn all(&self) -> &[ParamRow] {
        &self.rows
    }

    pub fn parent(&self, d: Directive) -> &ParamRow {
        &self.rows[d.parent]
    }

    pub fn value(&self, d: Directive) -> &ParamRow {
        &self.rows[d.value]
    }

    /// The four relay directives; a layout without them is not a Hermes database.
    pub fn relay_rows(&self, snap: &Snapshot) -> Result<RelayRows> {
        let index: HashMap<i64, usize> = self
            .rows
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id, i))
            .collect();
        let mut missing = Vec::new();
        let mut found = Vec::new();
        for name in [RELAYHOST, SASL_AUTH, PASSWORD_MAPS, TLS_LEVEL] {
            match snap.parent(name) {
                None => missing.push(format!("{name} (parent row, child = 2)")),
                Some(parent) => match snap.values_of(parent).first() {
                    None => missing.push(format!(
                        "{name} (value row, child = 1, parent = {})",
                        parent.id
                    )),
                    Some(value) => found.push(Directive {
                        parent: index[&parent.id],
                        value: index[&value.id],
                    }),
                },
            }
        }
        match found[..] {
            [relay, sasl, maps, tls] => Ok(RelayRows {
                relay,
                sasl,
                maps,
                tls,
            }),
            _ => Err(Error::DatabaseLayout(format!(
                "parameters lacks the relay rows: {}",
                missing.join(", ")
            ))),
        }
    }

    pub fn set(
        &mut self,
        d: Directive,
        parent: impl FnOnce(&mut ParamRow),
        value: impl FnOnce(&mut ParamRow),
    ) {
        parent(&mut self.rows[d.parent]);
        value(&mut self.rows[d.value]);
    }

    /// Enables the directive with `value` as its value row's parameter.
    pub fn enable_with(&mut self, d: Directive, value: &str) {
        self.set(
            d,
            |p| p.enabled = 1,
            |v| {
                v.parameter = Some(value.to_string());
                v.enabled = 1;
            },
        );
    }

    pub fn disable(&mut self, d: Directive) {
        self.set(d, |p| p.enabled = 0, |v| v.enabled = 0);
    }

    /// Hermes's way to switch SASL off: `smtp_sasl_auth_enable` value `no`, both disabled.
    pub fn disable_auth(&mut self, relay: &RelayRows) {
        self.set(
            relay.sasl,
            |p| p.enabled = 0,
            |v| {
                v.parameter = Some("no".to_string());
                v.enabled = 0;
            },
        );
        self.disable(relay.maps);
    }

    /// Clears the password_maps parent's `name`, where Hermes once kept `user:pass`.
    pub fn clear_maps_name(&mut self, relay: &RelayRows) {
        self.rows[relay.maps.parent].name = Some(String::new());
    }

    /// A directive the page does not have (implicit TLS, SASL security options), in the same
    /// dual-row form so Hermes's own generator applies it too. `wanted: None` disables it where
    /// it exists; a missing one is created (rows appended for rendering, inserted by the store).
    pub fn extra_directive(&mut self, name: &str, wanted: Option<&str>) -> Result<Option<Change>> {
        let rows = &mut self.rows;
        let Some(parent) = rows.iter().position(|r| r.is_parent() && r.param() == name) else {
            let Some(value) = wanted else { return Ok(None) };
            let id = rows.iter().map(|r| r.id).max().unwrap_or(0) + 1;
            let row = |id, parameter: &str, parent: Option<String>, child| ParamRow {
                id,
                parameter: Some(parameter.to_string()),
                name: None,
                parent,
                child: Some(child),
                order1: (child == 1).then_some(1.0),
                enabled: 1,
                applied: Some(1),
                action: Some("NONE".to_string()),
            };
            rows.push(row(id, name, None, 2));
            rows.push(row(id + 1, value, Some(id.to_string()), 1));
            return Ok(Some(Change::NewDirective {
                name: name.to_string(),
                value: value.to_string(),
            }));
        };
        let parent_id = rows[parent].id.to_string();
        let value = rows
            .iter()
            .position(|r| r.child == Some(1) && r.parent.as_deref() == Some(parent_id.as_str()))
            .ok_or_else(|| {
                Error::DatabaseLayout(format!(
                    "parameters lacks the rows: {name} (value row, child = 1, parent = {parent_id})"
                ))
            })?;
        let d = Directive { parent, value };
        match wanted {
            Some(v) => self.enable_with(d, v),
            None => self.disable(d),
        }
        Ok(None)
    }

    /// The save's writes of stored rows: every row whose editable columns changed goes pending
    /// (`applied = 2, action = 'APPLY'`), as the Hermes page leaves it.
    pub fn edits(&mut self, stored: &[ParamRow]) -> Vec<Change> {
        let mut edits = Vec::new();
        for (before, after) in stored.iter().zip(&mut self.rows[..self.stored]) {
            if before.editable() != after.editable() {
                after.applied = Some(2);
                after.action = Some("APPLY".to_string());
                edits.push(Change::Param {
                    before: before.clone(),
                    after: after.clone(),
                });
            }
        }
        edits
    }

    /// After main.cf is regenerated every pending row is applied (`applied = 1`,
    /// `action = 'NONE'`). Returns those writes and the rows other pages had left pending
    /// (those not among `edits`).
    pub fn applied_marks(&mut self, edits: &[Change]) -> (Vec<Change>, Vec<String>) {
        let edited: Vec<i64> = edits.iter().filter_map(Change::param_id).collect();
        let mut marks = Vec::new();
        let mut pending = Vec::new();
        for row in self.rows.iter_mut().filter(|r| r.is_pending()) {
            if !edited.contains(&row.id) {
                pending.push(format!("parameters#{} {}", row.id, row.param()));
            }
            let before = row.clone();
            row.applied = Some(1);
            row.action = Some("NONE".to_string());
            marks.push(Change::Param {
                before,
                after: row.clone(),
            });
        }
        (marks, pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::WRAPPERMODE;

    #[test]
    fn extra_directives_are_created_once_then_toggled() {
        let mut rows = Rows::new(&[ParamRow::test_parent(10, "myhostname")]);
        let created = rows.extra_directive(WRAPPERMODE, Some("yes")).unwrap();
        assert_eq!(
            created,
            Some(Change::NewDirective {
                name: WRAPPERMODE.to_string(),
                value: "yes".to_string()
            })
        );
        assert_eq!(rows.all().len(), 3);
        assert_eq!(rows.all()[2].parent.as_deref(), Some("11"));
        assert_eq!(rows.extra_directive(WRAPPERMODE, None).unwrap(), None);
        assert_eq!((rows.all()[1].enabled, rows.all()[2].enabled), (0, 0));
        assert!(
            rows.edits(&[ParamRow::test_parent(10, "myhostname")])
                .is_empty()
        );
        let mut none = Rows::new(&[ParamRow::test_parent(10, "myhostname")]);
        assert_eq!(none.extra_directive(WRAPPERMODE, None).unwrap(), None);
        assert_eq!(none.all().len(), 1, "nothing to disable, nothing created");
    }
}

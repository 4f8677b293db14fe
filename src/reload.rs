//! `reload`: `postfix reload` through the exec prefix and config directory the location options
//! give, as apply reloads after a change; skipped with a warning when Postfix is not running.
//! Salt's `mod_watch` calls it, so the defaults of those options live only here.

use crate::args::Args;
use crate::error::Error;
use crate::options::Request;
use crate::postfix::Postfix;
use crate::validate;

/// What a reload did: `reloaded` is false when Postfix was not running.
#[derive(Debug)]
pub struct ReloadReport {
    pub reloaded: bool,
    pub warnings: Vec<String>,
}

pub fn reload(args: Args) -> Result<ReloadReport, Error> {
    let settings = validate::settings(&args, Request::Reload)?;
    let postfix = Postfix::new(&settings.postfix_exec, &settings.postfix_exec_dir);
    if !postfix.is_running()? {
        return Ok(ReloadReport {
            reloaded: false,
            warnings: vec!["Postfix is not running: reload skipped".to_string()],
        });
    }
    postfix.reload()?;
    Ok(ReloadReport {
        reloaded: true,
        warnings: Vec::new(),
    })
}

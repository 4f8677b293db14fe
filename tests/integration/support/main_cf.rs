//! main.cf edits for test fixtures and the benchmarks (bench/scale.rs includes this file).

/// Replaces every `key = …` line of a main.cf text (continuation lines included) with
/// `key = value`, appending the keys it did not find.
pub fn set_params(text: &str, params: &[(&str, String)]) -> String {
    let mut out = String::new();
    let mut found = vec![false; params.len()];
    let mut skipping = false;
    for line in text.lines() {
        let continuation = line.starts_with([' ', '\t']) && !line.trim().is_empty();
        if continuation && skipping {
            continue;
        }
        if !continuation {
            skipping = false;
        }
        let key = line.split(['=', ' ', '\t']).next().unwrap_or("");
        match params
            .iter()
            .position(|(k, _)| !line.starts_with('#') && *k == key)
        {
            Some(i) if !continuation => {
                skipping = true;
                if !found[i] {
                    found[i] = true;
                    out.push_str(&format!("{key} = {}\n", params[i].1));
                }
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    for (i, (k, v)) in params.iter().enumerate() {
        if !found[i] {
            out.push_str(&format!("{k} = {v}\n"));
        }
    }
    out
}

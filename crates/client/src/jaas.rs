//! JAAS configuration entries, as Kafka writes SASL settings: a broker listener's
//! (`listener.name.<listener>.<mechanism>.sasl.jaas.config`) and a Java client's
//! (`sasl.jaas.config`): `<LoginModule class> <flag> key="value" key2=value2 ... ;`. Only the
//! options are used: `username`/`password` are a client's credentials, and for a PLAIN listener
//! the `user_<name>="<password>"` entries are its users.

use std::collections::BTreeMap;

/// One login module's options, or why the text is not a JAAS entry.
pub fn parse_options(text: &str) -> Result<BTreeMap<String, String>, String> {
    let text = text.trim();
    let text = text.strip_suffix(';').ok_or("a JAAS entry ends with ';'")?.trim_end();
    let mut chars = text.char_indices().peekable();
    let mut words = Vec::new();
    // The module class and the control flag: two words without '='.
    for _ in 0..2 {
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let start = chars.peek().map(|(i, _)| *i).ok_or("expected '<LoginModule> <flag> options;'")?;
        let mut end = text.len();
        while let Some((i, c)) = chars.peek().copied() {
            if c.is_whitespace() {
                end = i;
                break;
            }
            chars.next();
        }
        words.push(&text[start..end]);
    }
    if !matches!(words[1], "required" | "requisite" | "sufficient" | "optional") {
        return Err(format!(
            "unknown control flag {:?} (expected required, requisite, sufficient or optional)",
            words[1]
        ));
    }
    let mut options = BTreeMap::new();
    loop {
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let Some((start, _)) = chars.peek().copied() else { break };
        let mut key_end = None;
        for (i, c) in chars.by_ref() {
            if c == '=' {
                key_end = Some(i);
                break;
            }
            if c.is_whitespace() {
                return Err(format!("expected key=value at {:?}", &text[start..]));
            }
        }
        let key_end = key_end.ok_or_else(|| format!("expected key=value at {:?}", &text[start..]))?;
        let key = &text[start..key_end];
        if key.is_empty() {
            return Err("an option without a name".into());
        }
        let value = if chars.next_if(|(_, c)| *c == '"').is_some() {
            let mut value = String::new();
            loop {
                match chars.next() {
                    Some((_, '"')) => break,
                    Some((_, '\\')) => match chars.next() {
                        Some((_, c)) => value.push(c),
                        None => return Err(format!("unterminated value of {key}")),
                    },
                    Some((_, c)) => value.push(c),
                    None => return Err(format!("unterminated value of {key}")),
                }
            }
            value
        } else {
            let mut value = String::new();
            while let Some((_, c)) = chars.next_if(|(_, c)| !c.is_whitespace()) {
                value.push(c);
            }
            value
        };
        options.insert(key.to_string(), value);
    }
    Ok(options)
}

/// The `user_<name>` options: PLAIN's users and their passwords.
pub fn plain_users(options: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    options
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("user_").filter(|u| !u.is_empty()).map(|u| (u.to_string(), v.clone())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafkas_documented_plain_entry_parses() {
        let text = r#"org.apache.kafka.common.security.plain.PlainLoginModule required
            username="admin"
            password="admin-secret"
            user_admin="admin-secret"
            user_alice="alice \"quoted\" secret";"#;
        let options = parse_options(text).expect("parses");
        assert_eq!(options["username"], "admin");
        let users = plain_users(&options);
        assert_eq!(users.len(), 2);
        assert_eq!(users["alice"], "alice \"quoted\" secret");
        let bare = parse_options("org.example.Module optional debug=true;").expect("parses");
        assert_eq!(bare["debug"], "true");
    }

    #[test]
    fn malformed_entries_are_refused() {
        for bad in [
            "",
            ";",
            "org.example.Module required user_a=\"x\"",
            "org.example.Module sometimes user_a=\"x\";",
            "org.example.Module required user_a=\"x;",
            "org.example.Module required user_a;",
            "org.example.Module required =x;",
        ] {
            assert!(parse_options(bad).is_err(), "{bad:?}");
        }
    }
}

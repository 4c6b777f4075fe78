//! Shared by the integration tests.
#![allow(dead_code)]

/// A small well-formedness check for the SVG we emit: every tag closes in order, attributes are
/// quoted in pairs, and text has no bare `&` or `<`. Enough to catch broken output without an XML
/// crate.
pub fn well_formed(xml: &str) -> Result<(), String> {
    let mut stack: Vec<String> = Vec::new();
    let mut rest = xml;
    let mut root_seen = false;
    while let Some(open) = rest.find('<') {
        check_text(&rest[..open])?;
        let after = &rest[open..];
        let close = after
            .find('>')
            .ok_or_else(|| format!("unterminated tag near `{}`", &after[..after.len().min(40)]))?;
        let tag = &after[1..close];
        rest = &after[close + 1..];
        if tag.starts_with('?') || tag.starts_with('!') {
            continue;
        }
        if !tag.matches('"').count().is_multiple_of(2) {
            return Err(format!("unbalanced quotes in <{tag}>"));
        }
        if let Some(name) = tag.strip_prefix('/') {
            let top = stack
                .pop()
                .ok_or_else(|| format!("</{name}> without an open tag"))?;
            if top != name.trim() {
                return Err(format!("</{name}> closes <{top}>"));
            }
            continue;
        }
        let name: String = tag
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != '/')
            .collect();
        if name.is_empty() {
            return Err(format!("tag without a name: <{tag}>"));
        }
        if stack.is_empty() {
            if root_seen {
                return Err(format!("second root element <{name}>"));
            }
            root_seen = true;
        }
        if !tag.ends_with('/') {
            stack.push(name);
        }
    }
    check_text(rest)?;
    if let Some(open) = stack.pop() {
        return Err(format!("<{open}> never closed"));
    }
    if !root_seen {
        return Err("no root element".to_owned());
    }
    Ok(())
}

fn check_text(text: &str) -> Result<(), String> {
    for (i, _) in text.match_indices('&') {
        let ent = &text[i..];
        let ok = ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"]
            .iter()
            .any(|e| ent.starts_with(e));
        if !ok {
            return Err(format!(
                "bare & in text near `{}`",
                &ent[..ent.len().min(20)]
            ));
        }
    }
    Ok(())
}

#[test]
fn the_checker_rejects_broken_xml() {
    assert!(well_formed("<svg><g></g><rect/></svg>").is_ok());
    assert!(well_formed("<svg><g></svg>").is_err());
    assert!(well_formed("<svg>a & b</svg>").is_err());
    assert!(well_formed("<svg><text x=\"1>hi</text></svg>").is_err());
    assert!(well_formed("<svg></svg><svg></svg>").is_err());
}

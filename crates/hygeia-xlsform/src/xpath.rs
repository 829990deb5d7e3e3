//! Expressions are written as XLSForm users write them; the converter only replaces `${name}`
//! references with paths (absolute, or relative inside a shared repeat, as pyxform does). Quotes
//! are tracked so that the error for an unclosed `${` names the column.

/// Splits `text` into literal runs and `${name}` references, in order.
pub fn references(text: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        if start > 0 {
            pieces.push(Piece::Text(&rest[..start]));
        }
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err(format!("'{text}': a '${{' is never closed by '}}'."));
        };
        let name = after[..end].trim();
        if name.is_empty() {
            return Err(format!("'{text}': an empty reference '${{}}'."));
        }
        pieces.push(Piece::Reference(name));
        rest = &after[end + 1..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest));
    }
    Ok(pieces)
}

/// Whether `text` is one `${name}` reference and nothing else.
pub fn is_single_reference(text: &str) -> bool {
    matches!(references(text.trim()).as_deref(), Ok([Piece::Reference(_)]))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece<'a> {
    Text(&'a str),
    Reference(&'a str),
}

/// The path from `from` (the node an expression belongs to) to `to`, relative when both lie in
/// the repeat `repeat` (the innermost repeat holding `to`), else absolute.
pub fn path_between(from: &str, to: &str, repeat: Option<&str>) -> String {
    match repeat {
        Some(repeat) if from.starts_with(&format!("{repeat}/")) && from != to => {
            let from_parts: Vec<&str> = from.split('/').collect();
            let to_parts: Vec<&str> = to.split('/').collect();
            let common = from_parts.iter().zip(&to_parts).take_while(|(a, b)| a == b).count();
            let ups = from_parts.len() - common;
            let mut path: Vec<String> = vec!["..".to_owned(); ups];
            path.extend(to_parts[common..].iter().map(|s| (*s).to_owned()));
            path.join("/")
        }
        _ => to.to_owned(),
    }
}

/// Whether the end of `text` lies inside an unclosed call that `text` opened with `call`.
pub fn inside_call(text: &str, call: &str) -> bool {
    let Some(at) = text.rfind(call) else { return false };
    let mut depth = 1i32;
    for c in text[at + call.len()..].chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ => {}
        }
        if depth == 0 {
            return false;
        }
    }
    true
}

/// The first `instance('name')/path[predicate]/path` in `text`, as a byte range: the part of a
/// label that pyxform shows as an `<output>`.
/// Whether the end of `text` lies inside a predicate (`[...]`) of a path that starts at a
/// secondary instance (`instance('x')/root/item[name = here`): there `.` is the item, so a
/// relative reference must start from `current()`.
pub fn in_instance_predicate(text: &str) -> bool {
    let Some(start) = text.rfind("instance(") else { return false };
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    for c in text[start..].chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                '\'' | '"' => quote = Some(c),
                '[' => depth += 1,
                ']' => depth = depth.saturating_sub(1),
                _ => {}
            },
        }
    }
    depth > 0 && quote.is_none()
}

pub fn instance_expression(text: &str) -> Option<(usize, usize)> {
    let start = text.find("instance(")?;
    let bytes = text.as_bytes();
    let mut i = start + "instance(".len();
    let mut depth_round = 1;
    let mut depth_square = 0;
    let mut quote: Option<u8> = None;
    while i < bytes.len() {
        let c = bytes[i];
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                b'\'' | b'"' => quote = Some(c),
                b'(' => depth_round += 1,
                b')' => {
                    depth_round -= 1;
                    if depth_round == 0 && depth_square == 0 {
                        i += 1;
                        break;
                    }
                }
                b'[' => depth_square += 1,
                b']' => depth_square -= 1,
                _ => {}
            },
        }
        i += 1;
    }
    if depth_round != 0 {
        return None;
    }
    // Then the path: names, `/`, and bracketed predicates.
    let mut depth = 0;
    let mut quote: Option<u8> = None;
    while i < bytes.len() {
        let c = bytes[i];
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == b'\'' || c == b'"' => {
                if depth == 0 {
                    break;
                }
                quote = Some(c);
            }
            None if c == b'[' => depth += 1,
            None if c == b']' => {
                if depth == 0 {
                    break;
                }
                depth -= 1;
            }
            None if depth > 0 => {}
            None if c.is_ascii_alphanumeric() || matches!(c, b'/' | b'_' | b'-' | b'.' | b':' | b'@') => {}
            None => break,
        }
        i += 1;
    }
    // A trailing period ends the sentence, not the path.
    while i > start && bytes[i - 1] == b'.' {
        i -= 1;
    }
    Some((start, i))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predicates_of_instance_paths() {
        assert!(in_instance_predicate("instance('item')/root/item[index="));
        assert!(in_instance_predicate("instance('item')/root/item[a = 1 and b = "));
        assert!(!in_instance_predicate("concat(instance('item')/root/item[index = 1]/label, "));
        assert!(!in_instance_predicate("instance('item')/root/item[name = '["), "a bracket in a string");
        assert!(!in_instance_predicate("count(/data/rep[position() = "), "not a secondary instance");
    }

    #[test]
    fn references_and_paths() {
        assert_eq!(
            references("${a} > 2 and ${ b }").unwrap(),
            [Piece::Reference("a"), Piece::Text(" > 2 and "), Piece::Reference("b")]
        );
        assert!(references("${a").is_err());
        assert_eq!(path_between("/data/r/q2", "/data/r/q1", Some("/data/r")), "../q1");
        assert_eq!(path_between("/data/r/q2", "/data/r/g/q1", Some("/data/r")), "../g/q1");
        assert_eq!(path_between("/data/q2", "/data/r/q1", Some("/data/r")), "/data/r/q1");
        assert_eq!(path_between("/data/q2", "/data/q1", None), "/data/q1");
        let text = "See instance('c1')/root/item[name = ${q1}]/label here.";
        let (start, end) = instance_expression(text).unwrap();
        assert_eq!(&text[start..end], "instance('c1')/root/item[name = ${q1}]/label");
    }
}

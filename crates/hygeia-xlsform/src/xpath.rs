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

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}

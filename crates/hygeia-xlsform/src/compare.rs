//! Whether two XForms mean the same (the corpus recipe): namespaces by URI, not prefix;
//! attributes sorted; whitespace outside string literals removed from expressions; text trimmed;
//! the model's children other than the primary instance, translations, texts and values compared
//! as sets; everything else in order.

use roxmltree::{Document, Node};

/// A canonical element: `{uri}name`, sorted attributes, text, children.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Canonical {
    pub name: String,
    pub attributes: Vec<(String, String)>,
    pub text: String,
    pub children: Vec<Canonical>,
}

const EXPRESSION_ATTRIBUTES: &[&str] =
    &["calculate", "relevant", "constraint", "required", "readonly", "nodeset", "ref", "value", "count", "length"];

pub fn canonical(xml: &str) -> Result<Canonical, String> {
    let document = Document::parse(xml).map_err(|e| e.to_string())?;
    Ok(element(document.root_element()))
}

fn qualified(namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(uri) => format!("{{{uri}}}{name}"),
        None => name.to_owned(),
    }
}

fn element(node: Node) -> Canonical {
    let name = qualified(node.tag_name().namespace(), node.tag_name().name());
    let mut attributes: Vec<(String, String)> = node
        .attributes()
        .map(|a| {
            let key = qualified(a.namespace(), a.name());
            let value =
                if EXPRESSION_ATTRIBUTES.contains(&a.name()) { squeeze(a.value()) } else { a.value().to_owned() };
            (key, value)
        })
        .collect();
    attributes.sort();
    let text: String =
        node.children().filter(|c| c.is_text()).map(|c| c.text().unwrap_or_default()).collect::<Vec<_>>().join(" ");
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let local = node.tag_name().name();
    let mut children: Vec<Canonical> = node.children().filter(|c| c.is_element()).map(element).collect();
    match local {
        "model" => {
            // The primary instance keeps its place (first); the rest is a set.
            if let Some(first) = children
                .iter()
                .position(|c| c.name.ends_with("}instance") && !c.attributes.iter().any(|(k, _)| k == "id"))
            {
                let primary = children.remove(first);
                children.sort();
                children.insert(0, primary);
            } else {
                children.sort();
            }
        }
        "itext" | "translation" | "text" => children.sort(),
        _ => {}
    }
    Canonical { name, attributes, text, children }
}

/// Whitespace outside string literals removed: pyxform pads `${}` references with spaces.
fn squeeze(expression: &str) -> String {
    let mut out = String::with_capacity(expression.len());
    let mut quote: Option<char> = None;
    for c in expression.chars() {
        match quote {
            Some(q) if c == q => {
                quote = None;
                out.push(c);
            }
            Some(_) => out.push(c),
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                out.push(c);
            }
            None if c.is_whitespace() => {}
            None => out.push(c),
        }
    }
    out
}

/// The first differences between `ours` and `theirs` (empty when equivalent), as paths.
pub fn differences(ours: &str, theirs: &str) -> Result<Vec<String>, String> {
    let (a, b) = (canonical(ours)?, canonical(theirs)?);
    let mut found = Vec::new();
    diff(&a, &b, &short(&a.name), &mut found);
    Ok(found)
}

fn short(name: &str) -> String {
    name.rsplit('}').next().unwrap_or(name).to_owned()
}

fn diff(a: &Canonical, b: &Canonical, path: &str, found: &mut Vec<String>) {
    if found.len() >= 10 {
        return;
    }
    if a.name != b.name {
        found.push(format!("{path}: element {} instead of {}", short(&a.name), short(&b.name)));
        return;
    }
    if a.attributes != b.attributes {
        found.push(format!("{path}: attributes {:?} instead of {:?}", a.attributes, b.attributes));
    }
    if a.text != b.text {
        found.push(format!("{path}: text {:?} instead of {:?}", a.text, b.text));
    }
    for (i, (x, y)) in a.children.iter().zip(&b.children).enumerate() {
        let label = x
            .attributes
            .iter()
            .find(|(k, _)| matches!(k.as_str(), "nodeset" | "ref" | "id"))
            .map(|(_, v)| format!("[{v}]"));
        diff(x, y, &format!("{path}/{}{}", short(&x.name), label.unwrap_or_else(|| format!("[{i}]"))), found);
    }
    if a.children.len() != b.children.len() {
        let extra: Vec<String> = if a.children.len() > b.children.len() {
            a.children[b.children.len()..].iter().map(|c| format!("+{}{:?}", short(&c.name), c.attributes)).collect()
        } else {
            b.children[a.children.len()..].iter().map(|c| format!("-{}{:?}", short(&c.name), c.attributes)).collect()
        };
        found.push(format!(
            "{path}: {} children instead of {} ({})",
            a.children.len(),
            b.children.len(),
            extra.join(", ")
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_padding_and_model_order_do_not_matter() {
        let a = r#"<h:html xmlns="http://www.w3.org/2002/xforms" xmlns:h="http://www.w3.org/1999/xhtml"><h:head><model><instance><data/></instance><bind nodeset="/data/b" relevant=" /data/a  = 'x y'"/><bind nodeset="/data/a"/></model></h:head></h:html>"#;
        let b = r#"<x:html xmlns:x="http://www.w3.org/1999/xhtml" xmlns:f="http://www.w3.org/2002/xforms"><x:head><f:model><f:instance><f:data/></f:instance><f:bind nodeset="/data/a"/><f:bind relevant="/data/a='x y'" nodeset="/data/b"/></f:model></x:head></x:html>"#;
        assert_eq!(differences(a, b).unwrap(), Vec::<String>::new());
        let c = b.replace("'x y'", "'xy'");
        assert_eq!(differences(a, &c).unwrap().len(), 1);
    }
}

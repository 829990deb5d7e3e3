//! The web UI's static files, embedded in the binary (see `build.rs`): served under `/static/`
//! with a content version in their URLs, so browsers may cache them for good.

/// One embedded file.
#[derive(Debug)]
pub struct Asset {
    /// Its path under `/static/`.
    pub name: &'static str,
    pub content_type: &'static str,
    /// A hash of its bytes: changes whenever the file does.
    pub version: &'static str,
    pub bytes: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// The file served as `/static/{name}`.
pub fn get(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|asset| asset.name == name)
}

/// The URL pages link to: `/static/{name}?v={version}`. Panics on a name that is not embedded,
/// which only a typo in a template can cause (and the tests render every template).
pub fn url(name: &str) -> String {
    let asset = get(name).unwrap_or_else(|| panic!("no embedded asset named {name}"));
    format!("/static/{}?v={}", asset.name, asset.version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_front_end_packages_and_our_files_are_embedded_whole() {
        let htmx = get("htmx.min.js").expect("htmx");
        assert!(htmx.bytes.len() > 10_000 && std::str::from_utf8(htmx.bytes).unwrap().contains("htmx"));
        let leaflet = get("leaflet.js").expect("leaflet");
        assert!(std::str::from_utf8(leaflet.bytes).unwrap().contains("Leaflet"));
        assert!(get("images/marker-icon.png").unwrap().bytes.starts_with(b"\x89PNG"));
        assert_eq!(get("app.css").unwrap().content_type, "text/css; charset=utf-8");
        assert!(get("nope.js").is_none());
    }

    #[test]
    fn urls_carry_the_content_version() {
        let asset = get("app.js").unwrap();
        assert_eq!(url("app.js"), format!("/static/app.js?v={}", asset.version));
        assert_eq!(asset.version.len(), 16);
        assert_ne!(get("app.js").unwrap().version, get("map.js").unwrap().version);
    }
}

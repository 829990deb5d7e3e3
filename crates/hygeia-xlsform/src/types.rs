//! XLSForm question types, with their aliases: what each binds as and which control shows it.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Input,
    Select1,
    Select,
    Upload(&'static str),
    Trigger,
    Range,
    Rank,
    /// No control: calculate, hidden, metadata.
    None,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeInfo {
    /// The canonical type name (`text`, `select_one`, `start` ...).
    pub name: &'static str,
    pub bind_type: Option<&'static str>,
    pub control: Control,
    /// `jr:preload` and `jr:preloadParams` of metadata questions.
    pub preload: Option<(&'static str, &'static str)>,
    /// A note's bind is read-only.
    pub read_only: bool,
    /// Metadata questions sit in the instance but outside `meta`, with no control.
    pub metadata: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Question,
    BeginGroup,
    EndGroup,
    BeginRepeat,
    EndRepeat,
    /// `begin_loop over L`: the questions once per choice of L.
    BeginLoop(String),
    EndLoop,
}

#[derive(Debug, Clone)]
pub struct Parsed {
    pub kind: Kind,
    pub info: TypeInfo,
    pub list: Option<String>,
    pub or_other: bool,
    pub from_file: bool,
}

const fn plain(name: &'static str, bind_type: &'static str, control: Control) -> TypeInfo {
    TypeInfo { name, bind_type: Some(bind_type), control, preload: None, read_only: false, metadata: false }
}

const fn meta(name: &'static str, bind_type: &'static str, preload: &'static str, params: &'static str) -> TypeInfo {
    TypeInfo {
        name,
        bind_type: Some(bind_type),
        control: Control::None,
        preload: Some((preload, params)),
        read_only: false,
        metadata: true,
    }
}

fn simple(name: &str) -> Option<TypeInfo> {
    Some(match name {
        "text" | "string" | "q string" => plain("text", "string", Control::Input),
        "integer" | "int" | "q int" => plain("integer", "int", Control::Input),
        "decimal" | "q decimal" => plain("decimal", "decimal", Control::Input),
        "date" | "q date" => plain("date", "date", Control::Input),
        "time" | "q time" => plain("time", "time", Control::Input),
        "datetime" | "q datetime" => plain("dateTime", "dateTime", Control::Input),
        "geopoint" | "gps" | "location" | "q geopoint" | "q location" => plain("geopoint", "geopoint", Control::Input),
        "geotrace" => plain("geotrace", "geotrace", Control::Input),
        "geoshape" => plain("geoshape", "geoshape", Control::Input),
        "barcode" | "q barcode" => plain("barcode", "barcode", Control::Input),
        "image" | "photo" | "q picture" | "q image" | "add image prompt" => {
            plain("image", "binary", Control::Upload("image/*"))
        }
        "audio" | "q audio" | "add audio prompt" => plain("audio", "binary", Control::Upload("audio/*")),
        "video" | "q video" | "add video prompt" => plain("video", "binary", Control::Upload("video/*")),
        "file" => plain("file", "binary", Control::Upload("application/*")),
        "osm" => plain("osm", "binary", Control::Upload("osm/*")),
        "note" | "q note" => TypeInfo { read_only: true, ..plain("note", "string", Control::Input) },
        "calculate" => plain("calculate", "string", Control::None),
        "hidden" => plain("hidden", "string", Control::None),
        "acknowledge" => plain("acknowledge", "string", Control::Trigger),
        // The old `trigger` type shows a button and stores nothing.
        "trigger" => TypeInfo { bind_type: None, ..plain("trigger", "string", Control::Trigger) },
        "range" => plain("range", "int", Control::Range),
        "csv-external" => TypeInfo { bind_type: None, ..plain("csv-external", "string", Control::None) },
        "xml-external" => TypeInfo { bind_type: None, ..plain("xml-external", "string", Control::None) },
        "audit" => plain("audit", "binary", Control::None),
        "background-geopoint" => plain("background-geopoint", "geopoint", Control::None),
        "start-geopoint" => plain("start-geopoint", "geopoint", Control::None),
        "background-audio" => plain("background-audio", "binary", Control::None),
        "start" => meta("start", "dateTime", "timestamp", "start"),
        "end" => meta("end", "dateTime", "timestamp", "end"),
        "today" => meta("today", "date", "date", "today"),
        "deviceid" | "imei" => meta("deviceid", "string", "property", "deviceid"),
        "phonenumber" => meta("phonenumber", "string", "property", "phonenumber"),
        // Not the metadata: a text question for digits (constraint and appearance in `survey`).
        "phone number" | "phone_number" => plain("phone number", "string", Control::Input),
        "simserial" => meta("simserial", "string", "property", "simserial"),
        "subscriberid" => meta("subscriberid", "string", "property", "subscriberid"),
        "username" => meta("username", "string", "property", "username"),
        "email" => meta("email", "string", "property", "email"),
        "uri:deviceid" => meta("deviceid", "string", "property", "uri:deviceid"),
        "uri:username" => meta("username", "string", "property", "uri:username"),
        "uri:email" => meta("email", "string", "property", "uri:email"),
        "uri:phonenumber" => meta("phonenumber", "string", "property", "uri:phonenumber"),
        "uri:simserial" => meta("simserial", "string", "property", "uri:simserial"),
        "uri:subscriberid" => meta("subscriberid", "string", "property", "uri:subscriberid"),
        _ => return None,
    })
}

/// Reads a `type` cell: `text`, `select_one yes_no`, `select one yes_no or_other`,
/// `select_one_from_file villages.csv`, `begin group` ...
pub fn parse(cell: &str) -> Option<Parsed> {
    let normalised: String = cell.split_whitespace().collect::<Vec<_>>().join(" ");
    let lower = normalised.to_ascii_lowercase();
    let structural = |kind: Kind| Parsed {
        kind,
        info: plain("group", "string", Control::None),
        list: None,
        or_other: false,
        from_file: false,
    };
    for prefix in ["begin loop over ", "begin_loop over "] {
        if lower.starts_with(prefix) {
            let list = normalised[prefix.len()..].trim().to_owned();
            return Some(structural(Kind::BeginLoop(list)));
        }
    }
    match lower.replace('_', " ").as_str() {
        "end loop" => return Some(structural(Kind::EndLoop)),
        "begin group" => return Some(structural(Kind::BeginGroup)),
        "end group" => return Some(structural(Kind::EndGroup)),
        "begin repeat" => return Some(structural(Kind::BeginRepeat)),
        "end repeat" => return Some(structural(Kind::EndRepeat)),
        _ => {}
    }
    if let Some(info) = simple(&lower) {
        return Some(Parsed { kind: Kind::Question, info, list: None, or_other: false, from_file: false });
    }
    // Selects: the type words, then the list (and maybe `or_other`). The legacy spellings
    // `select one from L`, `... or specify other` and `select_one_external L` read the same.
    let legacy = normalised.replace(" from ", " ").replace(" or specify other", " or_other");
    let words: Vec<&str> = legacy.split(' ').collect();
    let select = |prefix_words: usize, info: TypeInfo, from_file: bool| {
        let rest = &words[prefix_words..];
        let (list, or_other) = match rest {
            [list] => (*list, false),
            [list, other] if other.eq_ignore_ascii_case("or_other") => (*list, true),
            _ => return None,
        };
        Some(Parsed { kind: Kind::Question, info, list: Some(list.to_owned()), or_other, from_file })
    };
    let one = plain("select_one", "string", Control::Select1);
    let many = plain("select_multiple", "string", Control::Select);
    let head: Vec<String> = words.iter().map(|w| w.to_ascii_lowercase()).collect();
    match head.as_slice() {
        [first, ..] if first == "select_one" || first == "select1" => select(1, one, false),
        // Choices from the `external_choices` sheet, shipped as a CSV file and searched by a query.
        [first, ..] if first == "select_one_external" => {
            select(1, plain("select_one_external", "string", Control::Input), false)
        }
        [first, second, ..] if first == "select" && second == "one" => select(2, one, false),
        [first, ..] if first == "select_multiple" => select(1, many, false),
        [first, second, ..] if first == "select" && (second == "multiple" || second == "many") => {
            select(2, many, false)
        }
        [a, b, c, d, ..] if a == "select" && b == "all" && c == "that" && d == "apply" => select(4, many, false),
        [first, ..] if first == "select_one_from_file" => select(1, one, true),
        [first, ..] if first == "select_multiple_from_file" => select(1, many, true),
        [first, ..] if first == "rank" => select(1, plain("rank", "odk:rank", Control::Rank), false),
        // An OpenStreetMap feature, with the tags of an `osm` sheet list.
        [first, _] if first == "osm" => select(1, plain("osm", "binary", Control::Upload("osm/*")), false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_resolve() {
        assert_eq!(parse("Select One yes_no or_other").unwrap().list.as_deref(), Some("yes_no"));
        assert!(parse("select one yes_no or_other").unwrap().or_other);
        assert_eq!(parse("select all that apply fruits").unwrap().info.name, "select_multiple");
        assert_eq!(parse("begin group").unwrap().kind, Kind::BeginGroup);
        assert_eq!(parse("end_repeat").unwrap().kind, Kind::EndRepeat);
        assert_eq!(parse("gps").unwrap().info.bind_type, Some("geopoint"));
        assert!(parse("select_one").is_none());
        assert!(parse("textt").is_none());
    }
}

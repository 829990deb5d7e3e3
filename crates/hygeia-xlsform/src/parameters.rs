//! The `parameters` column: its `k=v` syntax, and pyxform's rules for each question type (which
//! keys the type takes, what values they may have). A refusal names the row and the column.

use crate::error::XlsFormError;
use crate::survey::{Choice, Fields};

/// `k=v` pairs separated by spaces, commas or semicolons (pyxform's grammar: `pair*`, a pair
/// being `TOKEN "=" TOKEN`); anything else is refused. Keys are lower-cased, and so are values
/// except `label` and `value`, which name columns of a user's file. A key given twice keeps its
/// last value.
pub fn parse(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut tokens: Vec<&str> = Vec::new();
    for run in text.split(|c: char| c.is_whitespace() || c == ',' || c == ';').filter(|t| !t.is_empty()) {
        let mut rest = run;
        while let Some(at) = rest.find('=') {
            if at > 0 {
                tokens.push(&rest[..at]);
            }
            tokens.push("=");
            rest = &rest[at + 1..];
        }
        if !rest.is_empty() {
            tokens.push(rest);
        }
    }
    let mut pairs: Vec<(String, String)> = Vec::new();
    for triple in tokens.chunks(3) {
        let [key, "=", value] = triple else {
            return Err("Parameters must be in the form of 'key1=value1 key2=value2'.".to_owned());
        };
        if *key == "=" || *value == "=" {
            return Err("Parameters must be in the form of 'key1=value1 key2=value2'.".to_owned());
        }
        let key = key.to_lowercase();
        let value = if key == "label" || key == "value" { (*value).to_owned() } else { value.to_lowercase() };
        pairs.retain(|(k, _)| *k != key);
        pairs.push((key, value));
    }
    Ok(pairs)
}

/// The keys each question type takes (pyxform's `Parameters*` sets); types not listed take any.
fn accepted_keys(type_name: &str, from_file: bool) -> Option<&'static [&'static str]> {
    Some(match type_name {
        "audit" => &[
            "identify-user",
            "location-max-age",
            "location-min-interval",
            "location-priority",
            "track-changes",
            "track-changes-reasons",
        ],
        "geopoint" => &["allow-mock-accuracy", "capture-accuracy", "reference-geometry", "warning-accuracy"],
        "geoshape" | "geotrace" => &["allow-mock-accuracy", "incremental", "reference-geometry"],
        "image" => &["app", "max-pixels"],
        "audio" | "background-audio" => &["quality"],
        "range" => &["end", "placeholder", "start", "step", "tick_interval", "tick_labelset"],
        "text" => &["rows"],
        "select_one" | "select_multiple" | "rank" if from_file => &["label", "randomize", "seed", "value"],
        "select_one" | "select_multiple" | "rank" | "select_one_external" => &["randomize", "seed"],
        _ => return None,
    })
}

/// A question's parameters checked as pyxform checks them (`type_name` is the canonical type).
pub fn check(
    type_name: &str,
    from_file: bool,
    fields: &Fields,
    choices: &[(String, Vec<Choice>)],
    row: usize,
) -> Result<(), XlsFormError> {
    let parameters = &fields.parameters;
    let fail = |message: String| XlsFormError::at("survey", row, Some("parameters"), message);
    let get = |key: &str| parameters.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    if let Some(keys) = accepted_keys(type_name, from_file) {
        let mut invalid: Vec<&str> = parameters.iter().map(|(k, _)| k.as_str()).filter(|k| !keys.contains(k)).collect();
        if !invalid.is_empty() {
            invalid.sort_unstable();
            invalid.dedup();
            return Err(fail(format!(
                "The accepted parameter keys for this question type are '{}'. The following are invalid parameter key(s): '{}'.",
                keys.join(", "),
                invalid.join(", ")
            )));
        }
    }
    let true_or_false = |key: &str| -> Result<(), XlsFormError> {
        match get(key) {
            Some(value) if value != "true" && value != "false" => {
                Err(fail(format!("{key} must be set to true or false: '{value}' is an invalid value.")))
            }
            _ => Ok(()),
        }
    };
    let integer = |key: &str| -> Result<(), XlsFormError> {
        match get(key) {
            Some(value) if value.parse::<i64>().is_err() => {
                Err(fail(format!("Parameter {key} must have an integer value.")))
            }
            _ => Ok(()),
        }
    };
    let number = |key: &str| get(key).is_none_or(|v| v.parse::<f64>().is_ok());
    match type_name {
        "audit" => {
            true_or_false("track-changes")?;
            true_or_false("identify-user")?;
            if get("track-changes-reasons").is_some_and(|v| v != "on-form-edit") {
                return Err(fail("track-changes-reasons must be set to on-form-edit".into()));
            }
            check_audit_location(parameters, &fail)?;
        }
        "geopoint" => {
            for key in ["capture-accuracy", "warning-accuracy"] {
                if !number(key) {
                    return Err(fail(format!("The '{key}' parameter must have a numeric value.")));
                }
            }
        }
        "geoshape" | "geotrace"
            if get("incremental")
                .is_some_and(|v| !matches!(v.to_ascii_lowercase().as_str(), "true" | "yes" | "true()")) =>
        {
            return Err(fail(
                "For geoshape and geotrace questions, the 'incremental' parameter may either be 'true' or not included."
                    .into(),
            ));
        }
        "image" => {
            integer("max-pixels")?;
            // The drawing appearances launch no app: there the parameter is ignored.
            let appearance = fields.appearance.as_deref().map(str::trim).unwrap_or_default();
            if let Some(app) = get("app")
                && (appearance.is_empty() || appearance == "annotate")
                && let Some(problem) = android_package_problem(app)
            {
                return Err(fail(format!("Parameter 'app' has an invalid Android package name - {problem}")));
            }
        }
        "audio" | "background-audio" => {
            // An external recorder app cannot run in the background.
            let qualities: &[&str] = if type_name == "audio" {
                &["voice-only", "low", "normal", "external"]
            } else {
                &["voice-only", "low", "normal"]
            };
            if get("quality").is_some_and(|q| !qualities.contains(&q)) {
                return Err(fail("Invalid value for quality.".into()));
            }
        }
        "text" => integer("rows")?,
        "range" => check_range(fields, choices, row)?,
        "select_one" | "select_multiple" | "rank" => {
            if get("randomize").is_some() {
                true_or_false("randomize")?;
                if let Some(seed) = get("seed")
                    && !crate::xpath::is_single_reference(seed)
                    && seed.parse::<f64>().is_err()
                {
                    return Err(fail("seed value must be a number or a reference to another field.".into()));
                }
            } else if get("seed").is_some() {
                return Err(fail("Parameters must include randomize=true to use a seed.".into()));
            }
        }
        _ => {}
    }
    if matches!(type_name, "geopoint" | "geoshape" | "geotrace")
        && get("allow-mock-accuracy").is_some_and(|v| v != "true" && v != "false")
    {
        return Err(fail("The 'allow-mock-accuracy' parameter must be either 'true' or 'false'.".into()));
    }
    Ok(())
}

/// An audit records locations only with all three of priority, interval and age, and sensible ones.
fn check_audit_location(
    parameters: &[(String, String)],
    fail: &dyn Fn(String) -> XlsFormError,
) -> Result<(), XlsFormError> {
    let get = |key: &str| parameters.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    let keys = ["location-priority", "location-min-interval", "location-max-age"];
    if !keys.iter().any(|k| get(k).is_some()) {
        return Ok(());
    }
    let (Some(priority), Some(interval), Some(age)) = (get(keys[0]), get(keys[1]), get(keys[2])) else {
        return Err(fail("To include location information in the audit, 'location-priority', 'location-min-interval', and 'location-max-age' are required parameters.".into()));
    };
    if !matches!(priority, "no-power" | "low-power" | "balanced" | "high-accuracy") {
        return Err(fail(format!(
            "Parameter location-priority must be set to no-power, low-power, balanced, or high-accuracy:'{priority}' is an invalid value"
        )));
    }
    let whole = |key: &str, text: &str| -> Result<i64, XlsFormError> {
        let value = text.parse::<i64>().map_err(|_| fail(format!("Parameter {key} must have an integer value.")))?;
        if value < 0 {
            return Err(fail(format!("Parameter {key} must be greater than or equal to zero.")));
        }
        Ok(value)
    };
    let interval = whole(keys[1], interval)?;
    let age = whole(keys[2], age)?;
    if age < interval {
        return Err(fail("Parameter location-max-age must be greater than or equal to location-min-interval.".into()));
    }
    Ok(())
}

/// Why `name` is not an Android package name (`org.example.app`), if it is not.
fn android_package_problem(name: &str) -> Option<&'static str> {
    if name.trim().is_empty() {
        return Some("package name is missing.");
    }
    if !name.contains('.') {
        return Some("the package name must have at least one '.' separator.");
    }
    if name.ends_with('.') {
        return Some("the package name cannot end in a '.' separator.");
    }
    let segments: Vec<&str> = name.split('.').collect();
    if segments.iter().any(|s| s.is_empty()) {
        return Some("package segments must be of non-zero length.");
    }
    if segments.iter().any(|s| s.starts_with('_')) {
        return Some("the character '_' cannot be the first character in a package name segment.");
    }
    if segments.iter().any(|s| s.starts_with(|c: char| c.is_ascii_digit())) {
        return Some("a digit cannot be the first character in a package name segment.");
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_') {
        return Some(
            "the package name can only include letters (a-z, A-Z), numbers (0-9), dots (.), and underscores (_).",
        );
    }
    None
}

/// pyxform's rules for a range's parameters: numbers, a non-zero step, ticks that fit the range,
/// tick labels at values the range can take.
fn check_range(fields: &Fields, choices: &[(String, Vec<Choice>)], row: usize) -> Result<(), XlsFormError> {
    let fail = |message: String| XlsFormError::at("survey", row, Some("parameters"), message);
    let get = |key: &str| fields.parameters.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    let number =
        |key: &str, default: Option<f64>| -> Result<Option<f64>, XlsFormError> {
            match get(key) {
                None => Ok(default),
                Some(text) => text.parse::<f64>().ok().filter(|n| n.is_finite()).map(Some).ok_or_else(|| {
                    fail(format!("For the 'range' question type, the parameter '{key}' must be a number."))
                }),
            }
        };
    let start = number("start", Some(1.0))?.unwrap_or(1.0);
    let end = number("end", Some(10.0))?.unwrap_or(10.0);
    let step = number("step", Some(1.0))?.unwrap_or(1.0);
    let tick_interval = number("tick_interval", None)?;
    let placeholder = number("placeholder", None)?;
    let (low, high) = if start <= end { (start, end) } else { (end, start) };
    let multiple = |value: f64, of: f64| of != 0.0 && ((value / of).round() * of - value).abs() < 1e-9;
    if step == 0.0 {
        return Err(fail("For the 'range' question type, the parameter 'step' must not be '0' (zero).".into()));
    }
    if let Some(interval) = tick_interval {
        if interval == 0.0 {
            return Err(fail(
                "For the 'range' question type, the parameter 'tick_interval' must not be '0' (zero).".into(),
            ));
        }
        if interval.abs() > high - low {
            return Err(fail("For the 'range' question type, the parameter 'tick_interval' must not be larger than the range (the difference between 'start' and 'end').".into()));
        }
        if !multiple(interval, step) {
            return Err(fail(
                "For the 'range' question type, the parameter 'tick_interval' must be a multiple of 'step'.".into(),
            ));
        }
    }
    if let Some(value) = placeholder {
        if value < low || value > high {
            return Err(fail("For the 'range' question type, the parameter 'placeholder' must be between the 'start' and 'end' values, inclusive).".into()));
        }
        if !multiple(value - start, step) {
            return Err(fail("For the 'range' question type, the parameter 'placeholder' must be equal to the start of the range plus a multiple of 'step'.".into()));
        }
    }
    let appearance = fields.appearance.as_deref().unwrap_or_default().trim();
    let ticked = tick_interval.is_some() || placeholder.is_some() || get("tick_labelset").is_some();
    if ticked && !appearance.split_whitespace().all(|a| a == "vertical" || a == "no-ticks") {
        return Err(fail("For the 'range' question type, the parameters 'tick_interval', 'placeholder', and 'tick_labelset' are only supported for the appearances 'vertical', 'no-ticks', 'vertical no-ticks', and the default (empty) horizontal.".into()));
    }
    if let Some(list) = get("tick_labelset") {
        let Some((_, labels)) = choices.iter().find(|(n, _)| n == list) else {
            return Err(fail(format!(
                "For the 'range' question type, the parameter 'tick_labelset' must name a choice list; there is no list '{list}'."
            )));
        };
        let no_ticks = appearance.split_whitespace().any(|a| a == "no-ticks");
        for choice in labels {
            let Ok(value) = choice.name.parse::<f64>() else {
                return Err(fail(
                    "For the 'range' question type, the parameter 'tick_labelset' choice values must all be numbers."
                        .into(),
                ));
            };
            if value < low || value > high {
                return Err(fail("For the 'range' question type, the parameter 'tick_labelset' choices must be between the 'start' and 'end' values, inclusive.".into()));
            }
            if no_ticks && value != start && value != end {
                return Err(fail("For the 'range' question type, the parameter 'tick_labelset' choice list values may only match the range 'start' and 'end' values when the 'appearance' is 'no-ticks'.".into()));
            }
            let (unit, name) = match tick_interval {
                Some(interval) => (interval, "tick_interval"),
                None => (step, "step"),
            };
            if !no_ticks && !multiple(value - start, unit) {
                return Err(fail(format!(
                    "For the 'range' question type, the parameter 'tick_labelset' choices' values must be equal to the start of the range plus a multiple of '{name}'."
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_follow_pyxform_grammar_and_case_rules() {
        let pairs = parse("Randomize=TRUE, seed = 42;value=Code label=Name").unwrap();
        assert_eq!(
            pairs,
            [("randomize", "true"), ("seed", "42"), ("value", "Code"), ("label", "Name")]
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
        // The last of a repeated key wins.
        assert_eq!(parse("step=1 step=2").unwrap(), [("step".to_owned(), "2".to_owned())]);
        for broken in ["start", "start=", "=1", "a=b=c", "a==b"] {
            assert!(parse(broken).is_err(), "{broken} should be refused");
        }
    }

    #[test]
    fn android_package_names() {
        assert_eq!(android_package_problem("org.example.app"), None);
        assert!(android_package_problem("app").unwrap().contains("at least one '.'"));
        assert!(android_package_problem("org.").unwrap().contains("cannot end"));
        assert!(android_package_problem("org..app").unwrap().contains("non-zero length"));
        assert!(android_package_problem("org._app").unwrap().contains("'_'"));
        assert!(android_package_problem("org.1app").unwrap().contains("digit"));
        assert!(android_package_problem("org.ap-p").unwrap().contains("can only include"));
    }
}

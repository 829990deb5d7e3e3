//! Conformance with pyxform 4.5.0 on `../shared/data/xlsform-corpus/` (see its README): the
//! spreadsheet/XForm pairs, the two forms pyxform refuses, and the 1,294 markdown cases from
//! pyxform's own tests. The counts are printed (`cargo test -p hygeia-xlsform -- --nocapture`) and
//! held to floors that only go up as the converter grows.

use std::path::PathBuf;

use hygeia_xlsform::{Options, Workbook, compare, convert};

fn corpus() -> Option<PathBuf> {
    let root = std::env::var("HYGEIA_TEST_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data")));
    let path = root.join("xlsform-corpus");
    if path.exists() {
        Some(path)
    } else {
        eprintln!("{} is missing: test skipped (set HYGEIA_TEST_SHARED_DATA)", path.display());
        None
    }
}

/// Pairs our output must match today, and markdown cases that must pass (raised as work lands).
const PAIRS_FLOOR: usize = 37;
const CASES_FLOOR: usize = 1238;

#[test]
fn spreadsheet_pairs_match_pyxform() {
    let Some(dir) = corpus() else { return };
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".xlsx").map(str::to_owned))
        .collect();
    names.sort();
    let (mut pairs, mut matched, mut refusals, mut refused) = (0, 0, 0, 0);
    for name in &names {
        let options = Options { fallback_form_id: Some(name.clone()), root_name: None };
        let result = Workbook::open(&dir.join(format!("{name}.xlsx"))).and_then(|w| convert(&w, &options));
        if dir.join(format!("{name}.error.txt")).exists() {
            refusals += 1;
            match result {
                Err(err) => {
                    refused += 1;
                    println!("refused as pyxform does: {name}: {err}");
                }
                Ok(_) => println!("ACCEPTED, pyxform refuses: {name}"),
            }
            continue;
        }
        let expected = std::fs::read_to_string(dir.join(format!("{name}.xml"))).unwrap();
        pairs += 1;
        match result {
            Ok(conversion) => {
                let differences = compare::differences(&conversion.xform, &expected).unwrap();
                if differences.is_empty() {
                    matched += 1;
                } else {
                    println!("DIFFERS {name}:\n  {}", differences.join("\n  "));
                }
            }
            Err(err) => println!("REFUSED {name}: {err}"),
        }
    }
    println!(
        "spreadsheet pairs: {matched} of {pairs} equivalent to pyxform's; {refused} of {refusals} refusals refused"
    );
    assert!(pairs >= 37, "the corpus holds 37 pairs, found {pairs}");
    assert_eq!(refused, refusals, "forms pyxform refuses must be refused");
    assert!(matched >= PAIRS_FLOOR, "{matched} pairs match, fewer than the {PAIRS_FLOOR} that did");
}

#[test]
fn pyxform_markdown_cases() {
    let Some(dir) = corpus() else { return };
    let text = std::fs::read_to_string(dir.join("pyxform_md_cases.jsonl")).unwrap();
    let (mut errors, mut errors_ok, mut forms, mut forms_ok, mut panics) = (0, 0, 0, 0, 0);
    let mut failures: Vec<String> = Vec::new();
    for line in text.lines() {
        let case: serde_json::Value = serde_json::from_str(line).unwrap();
        let md = case["md"].as_str().unwrap_or_default();
        let root = case["name"].as_str().unwrap_or("test_name").to_owned();
        let outcome = std::panic::catch_unwind(|| {
            let workbook = Workbook::from_markdown(md)?;
            convert(&workbook, &Options { fallback_form_id: Some("data".into()), root_name: Some(root.clone()) })
        });
        let Ok(result) = outcome else {
            panics += 1;
            failures.push(format!("PANIC {}", case["test"]));
            continue;
        };
        if case["expect_error"].as_bool() == Some(true) {
            errors += 1;
            match result {
                Err(_) => errors_ok += 1,
                Ok(_) => failures.push(format!("ACCEPTED {}", case["test"])),
            }
            continue;
        }
        let Some(expected) = case["xml"].as_str() else { continue };
        forms += 1;
        match result {
            Ok(conversion) => match compare::differences(&conversion.xform, expected) {
                Ok(d) if d.is_empty() => forms_ok += 1,
                Ok(d) => failures.push(format!("DIFFERS {}: {}", case["test"], d.join(" | "))),
                Err(e) => failures.push(format!("BROKEN XML {}: {e}", case["test"])),
            },
            Err(err) => failures.push(format!("REFUSED {}: {err}", case["test"])),
        }
    }
    if std::env::var("HYGEIA_XLSFORM_FAILURES").is_ok() {
        for failure in &failures {
            println!("{failure}");
        }
    }
    let passed = errors_ok + forms_ok;
    println!(
        "pyxform markdown cases: {passed} of {} pass ({forms_ok} of {forms} forms equivalent, {errors_ok} of {errors} expected errors refused); {panics} panics",
        forms + errors
    );
    assert_eq!(panics, 0, "no workbook may make the converter panic");
    assert!(passed >= CASES_FLOOR, "{passed} cases pass, fewer than the {CASES_FLOOR} that did");
}

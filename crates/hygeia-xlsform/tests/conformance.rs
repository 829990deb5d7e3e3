//! Conformance with pyxform 4.5.0 on `../shared/data/xlsform-corpus/` (see its README): the
//! spreadsheet/XForm pairs, the two forms pyxform refuses, and the 1,294 markdown cases from
//! pyxform's own tests. A markdown case passes when a refusal is expected and we refuse, or when
//! our XForm is equivalent to pyxform's and the case's own XPath assertions (`xml__xpath_match`:
//! exactly one node; `xml__xpath_count`) hold on it. The counts are printed (`cargo test -p
//! hygeia-xlsform -- --nocapture`) and held to floors that only go up as the converter grows.
//! (`xml__contains`/`xml__excludes` look for pyxform's exact pretty-printed text, which the
//! semantic comparison stands in for.)

use std::path::PathBuf;

use hygeia_xlsform::submission::{self, Schema};
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
const CASES_FLOOR: usize = 1247;

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
    let mut asserted = 0;
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
                Ok(d) if d.is_empty() => match failed_assertions(&conversion.xform, &case) {
                    Ok(failed) if failed.is_empty() => {
                        forms_ok += 1;
                        asserted += usize::from(has_assertions(&case));
                    }
                    Ok(failed) => failures.push(format!("ASSERTION {}: {}", case["test"], failed.join(" | "))),
                    Err(e) => failures.push(format!("BROKEN XML {}: {e}", case["test"])),
                },
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
        "pyxform markdown cases: {passed} of {} pass ({forms_ok} of {forms} forms equivalent, {asserted} of them with their XPath assertions holding; {errors_ok} of {errors} expected errors refused); {panics} panics",
        forms + errors
    );
    assert_eq!(panics, 0, "no workbook may make the converter panic");
    assert!(passed >= CASES_FLOOR, "{passed} cases pass, fewer than the {CASES_FLOOR} that did");
}

fn has_assertions(case: &serde_json::Value) -> bool {
    // pyxform's tests of its own test helper (`..._fail...`) hold assertions meant to fail.
    let of_the_helper =
        case["test"].as_str().is_some_and(|t| t.contains("test_pyxform_test_case") && t.contains("_fail"));
    !of_the_helper
        && ["xml__xpath_match", "xml__xpath_count"].iter().any(|k| case[k].as_array().is_some_and(|a| !a.is_empty()))
}

/// The case's XPath assertions that do not hold on `xform` (with pyxform's test prefixes: `x:`
/// XForms, `h:` XHTML, `jr:`, `odk:`, `orx:`, `entities:`).
fn failed_assertions(xform: &str, case: &serde_json::Value) -> Result<Vec<String>, String> {
    if !has_assertions(case) {
        return Ok(Vec::new());
    }
    let package = sxd_package(xform)?;
    let document = package.as_document();
    let mut context = sxd_xpath::Context::new();
    for (prefix, uri) in [
        ("x", "http://www.w3.org/2002/xforms"),
        ("h", "http://www.w3.org/1999/xhtml"),
        ("jr", "http://openrosa.org/javarosa"),
        ("odk", "http://www.opendatakit.org/xforms"),
        ("orx", "http://openrosa.org/xforms"),
        ("entities", "http://www.opendatakit.org/xforms/entities"),
    ] {
        context.set_namespace(prefix, uri);
    }
    let factory = sxd_xpath::Factory::new();
    let count = |expression: &str| -> Result<usize, String> {
        let xpath = factory
            .build(expression)
            .map_err(|e| format!("{expression}: {e:?}"))?
            .ok_or_else(|| format!("{expression}: empty"))?;
        match xpath.evaluate(&context, document.root()).map_err(|e| format!("{expression}: {e:?}"))? {
            sxd_xpath::Value::Nodeset(nodes) => Ok(nodes.size()),
            other => Err(format!("{expression}: not a node-set ({other:?})")),
        }
    };
    let mut failed = Vec::new();
    let mut expect = |expression: &str, wanted: usize| match count(expression) {
        Ok(found) if found == wanted => {}
        Ok(found) => failed.push(format!("{} found {found}, wanted {wanted}", expression.trim())),
        Err(e) => failed.push(e),
    };
    for expression in case["xml__xpath_match"].as_array().into_iter().flatten().filter_map(|v| v.as_str()) {
        expect(expression, 1);
    }
    for pair in case["xml__xpath_count"].as_array().into_iter().flatten() {
        if let (Some(expression), Some(wanted)) = (pair[0].as_str(), pair[1].as_u64()) {
            expect(expression, wanted as usize);
        }
    }
    Ok(failed)
}

/// `xml` as an sxd document, built from roxmltree's parse (sxd's own parser misses a default
/// namespace declared on a prefixed root, as every XForm has).
fn sxd_package(xml: &str) -> Result<sxd_document::Package, String> {
    fn copy<'d>(node: roxmltree::Node, document: &sxd_document::dom::Document<'d>) -> sxd_document::dom::Element<'d> {
        let tag = node.tag_name();
        let element = match tag.namespace() {
            Some(uri) => document.create_element((uri, tag.name())),
            None => document.create_element(tag.name()),
        };
        for attribute in node.attributes() {
            match attribute.namespace() {
                Some(uri) => element.set_attribute_value((uri, attribute.name()), attribute.value()),
                None => element.set_attribute_value(attribute.name(), attribute.value()),
            };
        }
        for child in node.children() {
            if child.is_element() {
                element.append_child(copy(child, document));
            } else if let Some(text) = child.text().filter(|_| child.is_text()) {
                element.append_child(document.create_text(text));
            }
        }
        element
    }
    let parsed = roxmltree::Document::parse(xml).map_err(|e| e.to_string())?;
    let package = sxd_document::Package::new();
    {
        let document = package.as_document();
        let root = copy(parsed.root_element(), &document);
        // The root's declarations, for the `namespace::` axis.
        for namespace in parsed.root_element().namespaces() {
            match namespace.name() {
                Some(prefix) => root.register_prefix(prefix, namespace.uri()),
                None => root.register_prefix("", namespace.uri()),
            }
        }
        document.root().append_child(root);
    }
    Ok(package)
}

/// Iaso's golden case: its real submission, flattened as Iaso's own test expects.
#[test]
fn iaso_flat_json_of_the_golden_submission() {
    let Some(dir) = corpus() else { return };
    let options = Options { fallback_form_id: Some("iaso_repeat_group_form".into()), root_name: None };
    let workbook = Workbook::open(&dir.join("iaso_repeat_group_form.xlsx")).unwrap();
    let schema = Schema::from_xform(&convert(&workbook, &options).unwrap().xform).unwrap();
    let xml = std::fs::read_to_string(dir.join("iaso_repeat_group_form.iaso_submission.xml")).unwrap();
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("iaso_repeat_group_form.iaso_flat.json")).unwrap())
            .unwrap();
    assert_eq!(submission::iaso_flat_json(&xml, Some(&schema)).unwrap(), expected);
}

/// The sample submissions made by filling corpus forms in ODK's engine: every node is one the
/// form declares, and each repeat reads as a list.
#[test]
fn typed_json_of_the_sample_submissions() {
    let Some(dir) = corpus() else { return };
    let mut read = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let Some(stem) = name.strip_suffix(".instance.xml") else { continue };
        let options = Options { fallback_form_id: Some(stem.to_owned()), root_name: None };
        let workbook = Workbook::open(&dir.join(format!("{stem}.xlsx"))).unwrap();
        let schema = Schema::from_xform(&convert(&workbook, &options).unwrap().xform).unwrap();
        let xml = std::fs::read_to_string(dir.join(&name)).unwrap();
        let json = submission::typed_json(&xml, &schema).unwrap();
        assert!(json.get("_unknown").is_none(), "{name}: nodes the form does not declare: {}", json["_unknown"]);
        assert!(submission::envelope(&xml).unwrap().instance_id.is_some_and(|id| id.starts_with("uuid:")), "{name}");
        read += 1;
    }
    println!("sample submissions read as typed JSON: {read}");
    assert!(read >= 5, "the corpus holds 5 sample submissions with their workbooks, read {read}");
}

//! `hygeia xlsform`: converts without a server or a database; a broken form exits non-zero with
//! the place of the fault, and writes nothing.

use crate::{hygeia, run};

#[test]
fn xlsform_converts_files_and_names_the_fault() {
    let dir = crate::scratch_dir("xlsform");
    let form = dir.join("visit.md");
    std::fs::write(
        &form,
        "| survey |\n| | type | name | label |\n| | text | name | Your name |\n| | integer | age | ${name}, your age? |\n",
    )
    .unwrap();
    let out = dir.join("visit.xml");
    let done = run(hygeia(&dir, None).args(["xlsform", "visit.md", "-o", "visit.xml"]), None);
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    let xml = std::fs::read_to_string(&out).unwrap();
    assert!(xml.contains(r#"<data id="visit">"#), "{xml}");
    assert!(xml.contains(r#"<output value=" /data/name "/>"#), "{xml}");
    assert!(!dir.join("data").exists(), "no database is created");
    let described = run(hygeia(&dir, None).args(["xlsform", "visit.md", "--descriptor"]), None);
    assert!(described.status.success(), "{}", String::from_utf8_lossy(&described.stderr));
    let descriptor: serde_json::Value = serde_json::from_slice(&described.stdout).unwrap();
    assert_eq!(descriptor["id_string"], "visit");
    assert_eq!(descriptor["children"][1]["label"], "${name}, your age?");
    assert_eq!(descriptor["_xpath"]["age"], "/data/age");

    std::fs::write(
        &form,
        "| survey |\n| | type | name | label |\n| | text | name | Name |\n| | begin_group | g | G |\n",
    )
    .unwrap();
    std::fs::remove_file(&out).unwrap();
    let refused = run(hygeia(&dir, None).args(["xlsform", "visit.md", "-o", "visit.xml"]), None);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("[row : 3] On the 'survey' sheet") && stderr.contains("never closed"), "{stderr}");
    assert!(!out.exists());
}

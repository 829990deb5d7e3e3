//! Any bytes, read as a submission against a form with groups, a repeat, numbers, geopoints,
//! choices and files: every reader either answers or refuses; a panic is a bug.
#![no_main]

use std::sync::LazyLock;

use hygeia_xlsform::submission::{self, Schema};
use libfuzzer_sys::fuzz_target;

static SCHEMA: LazyLock<Schema> = LazyLock::new(|| {
    Schema::from_xform(
        r#"<h:html xmlns="http://www.w3.org/2002/xforms" xmlns:h="http://www.w3.org/1999/xhtml"><h:head><model>
        <instance><data id="f"><n/><g><p/><f/><m/></g><r><d/><t/></r><meta><instanceID/></meta></data></instance>
        <bind nodeset="/data/n" type="int"/><bind nodeset="/data/g/p" type="geopoint"/>
        <bind nodeset="/data/g/f" type="binary"/><bind nodeset="/data/g/m" type="string"/>
        <bind nodeset="/data/r/d" type="decimal"/><bind nodeset="/data/r/t" type="geotrace"/>
        </model></h:head><h:body><select ref="/data/g/m"/><group ref="/data/r"><repeat nodeset="/data/r"/></group>
        </h:body></h:html>"#,
    )
    .expect("the fuzz schema reads")
});

fuzz_target!(|data: &[u8]| {
    let Ok(xml) = std::str::from_utf8(data) else { return };
    let _ = submission::envelope(xml);
    let _ = submission::typed_json(xml, &SCHEMA);
    let _ = submission::iaso_flat_json(xml, Some(&SCHEMA));
    let _ = submission::iaso_flat_json(xml, None);
    let _ = submission::expected_attachments(xml, &SCHEMA);
    let _ = Schema::from_xform(xml);
});

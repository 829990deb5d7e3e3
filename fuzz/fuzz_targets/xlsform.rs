//! Any bytes, read as a spreadsheet and as markdown tables, then converted: errors are fine, a
//! panic is a bug.
#![no_main]

use hygeia_xlsform::{Options, Workbook, convert};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let options = Options::default();
    if let Ok(workbook) = Workbook::from_bytes(data) {
        let _ = convert(&workbook, &options);
    }
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(workbook) = Workbook::from_markdown(text)
    {
        let _ = convert(&workbook, &options);
    }
});

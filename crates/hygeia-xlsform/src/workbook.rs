//! A workbook as the converter sees it: sheets of rows of text cells, read from XLSX, XLS, ODS
//! (calamine) or from the markdown tables that pyxform's tests use. Cells become text with
//! pyxform's rules, so that both readers agree: whole-number floats print as integers, other
//! floats as their shortest form, dates as `YYYY-MM-DD HH:MM:SS`, times as `HH:MM:SS`, booleans as
//! `TRUE`/`FALSE`.

use std::path::Path;

use calamine::{Data, Reader};

use crate::error::XlsFormError;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Workbook {
    pub sheets: Vec<Sheet>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sheet {
    pub name: String,
    /// Rows in order, each with its 1-based row number in the file.
    pub rows: Vec<Row>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Row {
    pub number: usize,
    pub cells: Vec<String>,
}

impl Workbook {
    /// The sheet named `name`, whatever its case.
    pub fn sheet(&self, name: &str) -> Option<&Sheet> {
        self.sheets.iter().find(|s| s.name.trim().eq_ignore_ascii_case(name))
    }

    /// Reads `.xlsx`, `.xlsm`, `.xls` or `.ods` (by content, whatever the name says).
    pub fn open(path: &Path) -> Result<Workbook, XlsFormError> {
        let bytes = std::fs::read(path).map_err(|e| XlsFormError::workbook(format!("{}: {e}", path.display())))?;
        Workbook::from_bytes(&bytes)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Workbook, XlsFormError> {
        match Workbook::read(bytes) {
            // Some writers (LibreOffice) give a sheet's extent as rows only (`<dimension
            // ref="1:63"/>`), which calamine refuses; the element is only a hint, so read the
            // workbook again without it.
            Err(err) if err.message.contains("Range is missing") => match without_dimensions(bytes) {
                Some(repaired) => Workbook::read(&repaired),
                None => Err(err),
            },
            result => result,
        }
    }

    fn read(bytes: &[u8]) -> Result<Workbook, XlsFormError> {
        let cursor = std::io::Cursor::new(bytes);
        let mut sheets = calamine::open_workbook_auto_from_rs(cursor)
            .map_err(|e| XlsFormError::workbook(format!("not a readable XLSX, XLS or ODS workbook: {e}")))?;
        let mut workbook = Workbook::default();
        for name in sheets.sheet_names() {
            let range = sheets
                .worksheet_range(&name)
                .map_err(|e| XlsFormError::workbook(format!("the sheet '{name}' is unreadable: {e}")))?;
            let (first_row, first_column) = range.start().map_or((0, 0), |(r, c)| (r as usize, c as usize));
            let mut rows = Vec::new();
            for (i, cells) in range.rows().enumerate() {
                let mut text: Vec<String> = vec![String::new(); first_column];
                text.extend(cells.iter().map(cell_text));
                while text.last().is_some_and(|c| c.is_empty()) {
                    text.pop();
                }
                rows.push(Row { number: first_row + i + 1, cells: text });
            }
            workbook.sheets.push(Sheet { name, rows });
        }
        Ok(workbook)
    }

    /// pyxform's markdown form: a `| sheet |` line starts a sheet, the rows under it have an empty
    /// first cell, the first of them is the header; `#` starts a comment; `\|` is a literal pipe.
    pub fn from_markdown(text: &str) -> Result<Workbook, XlsFormError> {
        let mut workbook = Workbook::default();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if !line.starts_with('|') {
                continue;
            }
            // A trailing comment after the last pipe.
            let end = line.rfind('|').unwrap_or(0);
            let cells = split_cells(&line[1..end.max(1)]);
            if cells.iter().all(|c| c.chars().all(|ch| ch == '-' || ch == ':' || ch == ' ')) && line.contains('-') {
                continue;
            }
            let first = cells.first().map(String::as_str).unwrap_or_default();
            if !first.is_empty() {
                workbook.sheets.push(Sheet { name: first.to_owned(), rows: Vec::new() });
                continue;
            }
            let Some(sheet) = workbook.sheets.last_mut() else {
                return Err(XlsFormError::workbook(format!("line {}: a row before any sheet name", i + 1)));
            };
            let mut row: Vec<String> = cells.into_iter().skip(1).map(|c| straight_quotes(&c)).collect();
            while row.last().is_some_and(|c| c.is_empty()) {
                row.pop();
            }
            let number = sheet.rows.len() + 1;
            sheet.rows.push(Row { number, cells: row });
        }
        Ok(workbook)
    }
}

fn split_cells(inner: &str) -> Vec<String> {
    let mut cells = Vec::new();
    let mut current = String::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                current.push('|');
                chars.next();
            }
            '|' => cells.push(std::mem::take(&mut current).trim().to_owned()),
            c => current.push(c),
        }
    }
    cells.push(current.trim().to_owned());
    cells
}

/// pyxform reads curly quotes as straight ones (they break expressions).
fn straight_quotes(text: &str) -> String {
    text.replace(['\u{2018}', '\u{2019}'], "'").replace(['\u{201C}', '\u{201D}'], "\"")
}

fn cell_text(cell: &Data) -> String {
    straight_quotes(&raw_cell_text(cell))
}

fn raw_cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty | Data::Error(_) => String::new(),
        Data::String(s) => s.clone(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) => float_text(*f),
        Data::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_owned(),
        Data::DateTime(dt) => serial_text(dt.as_f64(), dt.is_duration()),
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.replace('T', " "),
    }
}

fn float_text(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 { format!("{}", f as i64) } else { format!("{f}") }
}

/// An Excel serial date (days since 1899-12-30) as pyxform prints it.
fn serial_text(serial: f64, duration: bool) -> String {
    let seconds = (serial * 86_400.0).round() as i64;
    if duration || (0.0..1.0).contains(&serial) {
        let s = seconds.rem_euclid(86_400);
        return format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
    }
    let epoch = chrono::NaiveDate::from_ymd_opt(1899, 12, 30).and_then(|d| d.and_hms_opt(0, 0, 0));
    match epoch.and_then(|e| e.checked_add_signed(chrono::TimeDelta::seconds(seconds))) {
        Some(at) => at.format("%Y-%m-%d %H:%M:%S").to_string(),
        None => float_text(serial),
    }
}

/// The XLSX package `bytes` with the `<dimension>` element of every worksheet removed (entries
/// stored uncompressed), or `None` if it is no readable ZIP package.
fn without_dimensions(bytes: &[u8]) -> Option<Vec<u8>> {
    use std::io::{Read, Write};
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).ok()?;
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).ok()?;
        let name = entry.name().ok()?.into_owned();
        let mut content = Vec::new();
        entry.read_to_end(&mut content).ok()?;
        if name.starts_with("xl/worksheets/") && name.ends_with(".xml") {
            let text = String::from_utf8(content).ok()?;
            content = match text.find("<dimension ") {
                Some(start) => {
                    let end = start + text[start..].find("/>")? + 2;
                    format!("{}{}", &text[..start], &text[end..]).into_bytes()
                }
                None => text.into_bytes(),
            };
        }
        writer.start_file(name, options).ok()?;
        writer.write_all(&content).ok()?;
    }
    Some(writer.finish().ok()?.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_tables_become_sheets() {
        let md = "
            | survey |
            | | type | name | label \\| pipe | # not a cell
            | | text | q1   |  Q1  |
            |---|---|---|
            | choices |
            | | list_name | name |
        ";
        let book = Workbook::from_markdown(md).unwrap();
        assert_eq!(book.sheets.len(), 2);
        let survey = book.sheet("SURVEY").unwrap();
        assert_eq!(survey.rows[0].cells, ["type", "name", "label | pipe"]);
        assert_eq!(survey.rows[1].cells, ["text", "q1", "Q1"]);
        assert_eq!(book.sheet("choices").unwrap().rows.len(), 1);
    }

    #[test]
    fn cells_print_as_pyxform_prints_them() {
        assert_eq!(float_text(2.0), "2");
        assert_eq!(float_text(2.5), "2.5");
        assert_eq!(serial_text(45_000.0, false), "2023-03-15 00:00:00");
        assert_eq!(serial_text(0.5, false), "12:00:00");
    }
}

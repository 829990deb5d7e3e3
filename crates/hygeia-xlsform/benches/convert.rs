//! Conversion time per corpus form, in one process: the workbook read from memory and converted,
//! `RUNS` times each; prints each form's median and the median over forms.
//!
//!   cargo bench -p hygeia-xlsform [-- DIR]   (default: ../shared/data/xlsform-corpus)

use std::path::PathBuf;
use std::time::Instant;

use hygeia_xlsform::{Options, Workbook, convert};

const RUNS: usize = 21;

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let dir =
        std::env::args().skip(1).find(|a| !a.starts_with('-')).map(PathBuf::from).unwrap_or_else(|| {
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/xlsform-corpus"))
        });
    let mut forms: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "xlsx"))
        .collect();
    forms.sort();
    let mut medians = Vec::new();
    for path in &forms {
        let bytes = std::fs::read(path).expect("readable form");
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
        let options = Options { fallback_form_id: stem.clone(), root_name: None };
        let mut times = Vec::with_capacity(RUNS);
        let mut outcome = "ok";
        for _ in 0..RUNS {
            let start = Instant::now();
            let result = Workbook::from_bytes(&bytes).and_then(|w| convert(&w, &options));
            times.push(start.elapsed().as_secs_f64() * 1000.0);
            if result.is_err() {
                outcome = "refused";
            }
        }
        let form_median = median(times);
        println!("{:<45} {form_median:>8.3} ms  ({outcome})", stem.unwrap_or_default());
        medians.push(form_median);
    }
    println!(
        "{} forms: median {:.3} ms per form, slowest {:.3} ms",
        medians.len(),
        median(medians.clone()),
        medians.iter().cloned().fold(0.0, f64::max)
    );
}

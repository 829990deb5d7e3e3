//! DHIS2 period ids, as Iaso keeps them on submissions: `2026` (year), `2026S1` (semester),
//! `2026Q3` (quarter), `202611` (month), `2026W48` (ISO week), `20261203` (day).
//!
//! A range of periods (`startPeriod`/`endPeriod` in the submission list) selects every period of
//! any of these kinds that lies wholly between the start of the first and the end of the last:
//! 2026Q1..2026Q2 holds the two quarters, the first semester and the six months, and their
//! weeks and days.

use chrono::{Datelike, Duration, NaiveDate, Weekday};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Year(i32),
    Semester(i32, u32),
    Quarter(i32, u32),
    Month(i32, u32),
    Week(i32, u32),
    Day(NaiveDate),
}

/// Most days a range may span (a wider one would list too many periods to query by).
pub const MAX_RANGE_DAYS: i64 = 366 * 10;

impl Period {
    pub fn parse(text: &str) -> Option<Period> {
        let text = text.trim();
        let year: i32 = text.get(..4)?.parse().ok()?;
        let rest = &text[4..];
        let number = |s: &str| s.parse::<u32>().ok();
        let period = match rest.chars().next() {
            None => Period::Year(year),
            Some('S') => Period::Semester(year, number(&rest[1..]).filter(|n| (1..=2).contains(n))?),
            Some('Q') => Period::Quarter(year, number(&rest[1..]).filter(|n| (1..=4).contains(n))?),
            Some('W') => {
                let week = number(&rest[1..])?;
                NaiveDate::from_isoywd_opt(year, week, Weekday::Mon)?;
                Period::Week(year, week)
            }
            Some(_) if rest.len() == 2 => Period::Month(year, number(rest).filter(|n| (1..=12).contains(n))?),
            Some(_) if rest.len() == 4 => {
                Period::Day(NaiveDate::from_ymd_opt(year, number(&rest[..2])?, number(&rest[2..])?)?)
            }
            _ => return None,
        };
        Some(period)
    }

    pub fn id(&self) -> String {
        match self {
            Period::Year(y) => format!("{y}"),
            Period::Semester(y, s) => format!("{y}S{s}"),
            Period::Quarter(y, q) => format!("{y}Q{q}"),
            Period::Month(y, m) => format!("{y}{m:02}"),
            Period::Week(y, w) => format!("{y}W{w}"),
            Period::Day(d) => d.format("%Y%m%d").to_string(),
        }
    }

    pub fn first_day(&self) -> NaiveDate {
        let ymd = |y: i32, m: u32| NaiveDate::from_ymd_opt(y, m, 1).unwrap_or(NaiveDate::MIN);
        match *self {
            Period::Year(y) => ymd(y, 1),
            Period::Semester(y, s) => ymd(y, 6 * (s - 1) + 1),
            Period::Quarter(y, q) => ymd(y, 3 * (q - 1) + 1),
            Period::Month(y, m) => ymd(y, m),
            Period::Week(y, w) => NaiveDate::from_isoywd_opt(y, w, Weekday::Mon).unwrap_or(NaiveDate::MIN),
            Period::Day(d) => d,
        }
    }

    pub fn last_day(&self) -> NaiveDate {
        self.next().first_day() - Duration::days(1)
    }

    pub fn next(&self) -> Period {
        match *self {
            Period::Year(y) => Period::Year(y + 1),
            Period::Semester(y, 2) => Period::Semester(y + 1, 1),
            Period::Semester(y, s) => Period::Semester(y, s + 1),
            Period::Quarter(y, 4) => Period::Quarter(y + 1, 1),
            Period::Quarter(y, q) => Period::Quarter(y, q + 1),
            Period::Month(y, 12) => Period::Month(y + 1, 1),
            Period::Month(y, m) => Period::Month(y, m + 1),
            Period::Week(..) => {
                let iso = (self.first_day() + Duration::days(7)).iso_week();
                Period::Week(iso.year(), iso.week())
            }
            Period::Day(d) => Period::Day(d + Duration::days(1)),
        }
    }
}

/// Every period id lying wholly within `start`..`end` (both included), of every kind.
pub fn range(start: &str, end: &str) -> Result<Vec<String>, String> {
    let first =
        Period::parse(start).ok_or_else(|| format!("\"{start}\" is not a period (2026, 2026Q1, 202601...)."))?;
    let last = Period::parse(end).ok_or_else(|| format!("\"{end}\" is not a period (2026, 2026Q1, 202601...)."))?;
    let (from, to) = (first.first_day(), last.last_day());
    if to < from {
        return Err(format!("The range ends ({end}) before it starts ({start})."));
    }
    if (to - from).num_days() > MAX_RANGE_DAYS {
        return Err(format!("A range spans at most {MAX_RANGE_DAYS} days."));
    }
    let iso = from.iso_week();
    let starts = [
        Period::Year(from.year()),
        Period::Semester(from.year(), if from.month() <= 6 { 1 } else { 2 }),
        Period::Quarter(from.year(), (from.month() - 1) / 3 + 1),
        Period::Month(from.year(), from.month()),
        Period::Week(iso.year(), iso.week()),
        Period::Day(from),
    ];
    let mut ids = Vec::new();
    for mut period in starts {
        while period.first_day() <= to {
            if period.first_day() >= from && period.last_day() <= to {
                ids.push(period.id());
            }
            period = period.next();
        }
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        for id in ["2026", "2026S2", "2026Q3", "202611", "2026W48", "20261203", "2020W53"] {
            assert_eq!(Period::parse(id).map(|p| p.id()).as_deref(), Some(id));
        }
        for bad in ["", "26", "2026Q5", "202613", "20260230", "2026W54", "2026X1", "abcd"] {
            assert_eq!(Period::parse(bad), None, "{bad}");
        }
        assert_eq!(Period::parse("2026W1").unwrap().first_day(), NaiveDate::from_ymd_opt(2025, 12, 29).unwrap());
        assert_eq!(Period::parse("2026Q4").unwrap().last_day(), NaiveDate::from_ymd_opt(2026, 12, 31).unwrap());
    }

    #[test]
    fn a_range_holds_the_periods_inside_it() {
        let ids = range("2026Q1", "2026Q2").unwrap();
        for inside in ["2026Q1", "2026Q2", "2026S1", "202601", "202606", "2026W2", "20260101", "20260630"] {
            assert!(ids.iter().any(|i| i == inside), "{inside} missing");
        }
        for outside in ["2026", "2026Q3", "202607", "2026W1", "2025", "20260701"] {
            assert!(!ids.iter().any(|i| i == outside), "{outside} should be out");
        }
        assert_eq!(range("202603", "202603").unwrap().iter().filter(|i| i.len() == 8).count(), 31);
        assert!(range("2026", "2025").is_err());
        assert!(range("2000", "2026").is_err(), "too wide");
        assert!(range("soon", "2026").unwrap_err().contains("soon"));
    }
}

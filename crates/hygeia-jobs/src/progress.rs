//! Progress reporting, and the stop it may answer with.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use hygeia_core::{Progress, TaskId};
use hygeia_store::{DynStore, Lease};

/// Why a task must stop now.
#[derive(Debug, thiserror::Error)]
pub enum Stop {
    #[error("killed")]
    Killed,
    /// The worker's lease was lost (it stalled past its expiry and the task went to another worker).
    #[error("this worker no longer holds the task")]
    LeaseLost,
}

/// How task code reports how far it is. `Err` means: stop now, and let the error propagate (work
/// done in a transaction rolls back with it).
#[async_trait]
pub trait ProgressReporter: Send + Sync {
    async fn report(&self, progress: Progress) -> Result<(), Stop>;

    /// `value` of `end` done, with a message.
    async fn step(&self, value: i64, end: i64, message: &str) -> Result<(), Stop> {
        self.report(Progress { value: Some(value), end_value: Some(end), message: Some(message.to_owned()) }).await
    }
}

/// For code run where nobody watches (tests, one-off calls).
pub struct NoProgress;

#[async_trait]
impl ProgressReporter for NoProgress {
    async fn report(&self, _progress: Progress) -> Result<(), Stop> {
        Ok(())
    }
}

/// A progress bar on a terminal (or any writer), for commands that run task code in the foreground
/// (`hygeia import ...`): `[#########           ] 450/1000 row 450`. It never stops the work: a
/// terminal user interrupts with Ctrl-C.
pub struct TerminalProgress<W: std::io::Write + Send> {
    out: Mutex<(W, Progress)>,
}

const BAR_WIDTH: i64 = 30;

impl<W: std::io::Write + Send> TerminalProgress<W> {
    pub fn new(out: W) -> Self {
        TerminalProgress { out: Mutex::new((out, Progress::default())) }
    }

    /// Ends the bar's line; returns the writer.
    pub fn finish(self) -> W {
        let (mut out, _) = self.out.into_inner().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(out);
        out
    }
}

#[async_trait]
impl<W: std::io::Write + Send> ProgressReporter for TerminalProgress<W> {
    async fn report(&self, progress: Progress) -> Result<(), Stop> {
        let mut guard = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let (out, shown) = &mut *guard;
        shown.value = progress.value.or(shown.value);
        shown.end_value = progress.end_value.or(shown.end_value);
        shown.message = progress.message.or(shown.message.take());
        let value = shown.value.unwrap_or(0);
        let message = shown.message.as_deref().unwrap_or("");
        let line = match shown.end_value.filter(|end| *end > 0) {
            Some(end) => {
                let filled = (value.clamp(0, end) * BAR_WIDTH / end) as usize;
                let bar = format!("{}{}", "#".repeat(filled), " ".repeat(BAR_WIDTH as usize - filled));
                format!("[{bar}] {value}/{end} {message}")
            }
            None => format!("{value} {message}"),
        };
        // `\r` and a clear-to-end-of-line: the bar redraws itself in place.
        let _ = write!(out, "\r{line}\x1b[K");
        let _ = out.flush();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_terminal_bar_redraws_with_the_latest_values() {
        let bar = TerminalProgress::new(Vec::new());
        bar.step(0, 4, "reading schools.csv").await.unwrap();
        bar.report(Progress { value: Some(2), ..Default::default() }).await.unwrap();
        bar.step(4, 4, "done").await.unwrap();
        let text = String::from_utf8(bar.finish()).unwrap();
        let frames: Vec<&str> = text.split('\r').filter(|f| !f.is_empty()).collect();
        assert_eq!(frames.len(), 3);
        assert!(frames[0].starts_with(&format!("[{}] 0/4 reading schools.csv", " ".repeat(30))), "{text:?}");
        assert!(frames[1].contains("] 2/4 reading schools.csv"), "a report without a message keeps the last one");
        assert!(frames[1].starts_with(&format!("[{}{}]", "#".repeat(15), " ".repeat(15))), "{text:?}");
        assert!(frames[2].starts_with(&format!("[{}] 4/4 done", "#".repeat(30))), "{text:?}");
        assert!(text.ends_with('\n'));
    }
}

/// The worker's reporter: writes progress to the task row at most once per `interval` (a task
/// reporting every row of a 100,000-row file must not write 100,000 times), always the latest
/// values, and the final step (value = end) at once. Each write also renews the lease and reads
/// the kill request.
pub(crate) struct StoreProgress {
    pub store: DynStore,
    pub task: TaskId,
    pub worker: String,
    pub lease: Duration,
    pub interval: Duration,
    /// Values not yet written, and when the last write was.
    pub pending: Mutex<(Progress, Option<Instant>)>,
}

#[async_trait]
impl ProgressReporter for StoreProgress {
    async fn report(&self, progress: Progress) -> Result<(), Stop> {
        let to_write = {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            let (merged, last) = &mut *pending;
            merged.value = progress.value.or(merged.value);
            merged.end_value = progress.end_value.or(merged.end_value);
            merged.message = progress.message.or(merged.message.take());
            let finished = merged.value.is_some() && merged.value == merged.end_value;
            let due = last.is_none_or(|at| at.elapsed() >= self.interval);
            if !(due || finished) {
                return Ok(());
            }
            *last = Some(Instant::now());
            std::mem::take(merged)
        };
        match self.store.tasks().report_progress(self.task, &self.worker, &to_write, self.lease).await {
            Ok(Lease::Held { should_be_killed: false }) => Ok(()),
            Ok(Lease::Held { should_be_killed: true }) => Err(Stop::Killed),
            Ok(Lease::Lost) => Err(Stop::LeaseLost),
            Err(err) => {
                // A database hiccup must not fail the task: the heartbeat keeps the lease, the next
                // report writes the values again.
                tracing::warn!(task = %self.task, %err, "could not store progress");
                let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
                let (merged, _) = &mut *pending;
                merged.value = merged.value.or(to_write.value);
                merged.end_value = merged.end_value.or(to_write.end_value);
                merged.message = merged.message.take().or(to_write.message);
                Ok(())
            }
        }
    }
}

//! Background tasks: what a task's code sees ([`TaskHandler`], [`ProgressReporter`]), and the
//! [`WorkerPool`] that claims queued tasks from the store and runs them.
//!
//! A task's code reports progress through one small interface; the worker's implementation writes
//! it to the task row and answers with a stop when a kill was asked (cooperative kill, as in Iaso).
//! The CLI drives the same interface as a progress bar when an import runs in the terminal.

mod handler;
mod progress;
mod worker;

pub use handler::{Registry, TaskError, TaskHandler, TaskSuccess};
pub use progress::{NoProgress, ProgressReporter, Stop, TerminalProgress};
pub use worker::{WorkerConfig, WorkerPool};

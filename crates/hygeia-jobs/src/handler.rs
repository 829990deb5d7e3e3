//! Task code: a handler per task name, registered once at start-up.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use hygeia_core::Task;
use serde_json::Value;

use crate::progress::{ProgressReporter, Stop};

/// What a finished task says: a message for people, and optionally data for programs (a summary,
/// or `"file:<key>"` for a download).
#[derive(Debug, Clone, PartialEq)]
pub struct TaskSuccess {
    pub message: String,
    pub data: Option<Value>,
}

impl TaskSuccess {
    pub fn message(message: impl Into<String>) -> Self {
        TaskSuccess { message: message.into(), data: None }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// Killed, or taken away from this worker: not a failure of the task itself.
    #[error(transparent)]
    Stopped(#[from] Stop),
    /// The task failed; the message is stored as its result and shown to the user.
    #[error("{0}")]
    Failed(String),
}

impl TaskError {
    pub fn failed(message: impl std::fmt::Display) -> Self {
        TaskError::Failed(message.to_string())
    }
}

/// The code behind one task name. It reads its input from `task.params`, reports through
/// `progress`, and returns; the worker records the outcome.
#[async_trait]
pub trait TaskHandler: Send + Sync {
    async fn run(&self, task: &Task, progress: &dyn ProgressReporter) -> Result<TaskSuccess, TaskError>;
}

/// Handlers by task name. Workers claim only the names they know, so a server without some
/// handler leaves those tasks to workers that have it.
#[derive(Default, Clone)]
pub struct Registry {
    handlers: BTreeMap<String, Arc<dyn TaskHandler>>,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn register(&mut self, name: &str, handler: impl TaskHandler + 'static) -> &mut Self {
        self.handlers.insert(name.to_owned(), Arc::new(handler));
        self
    }

    pub fn get(&self, name: &str) -> Option<Arc<dyn TaskHandler>> {
        self.handlers.get(name).cloned()
    }

    pub fn names(&self) -> Vec<String> {
        self.handlers.keys().cloned().collect()
    }
}

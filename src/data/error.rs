use std::path::PathBuf;

/// Everything that can go wrong while reading, cleaning or splitting a dataset. Every variant
/// names the file (and the line, where there is one) so the user can go and fix it.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}:{line}: {msg}", path.display())]
    Record {
        path: PathBuf,
        line: usize,
        msg: String,
    },
    #[error("{}: {msg}", path.display())]
    File { path: PathBuf, msg: String },
    #[error("config: {0}")]
    Config(String),
}

impl DataError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    pub fn file(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        Self::File {
            path: path.into(),
            msg: msg.into(),
        }
    }

    pub fn record(path: impl Into<PathBuf>, line: usize, msg: impl Into<String>) -> Self {
        Self::Record {
            path: path.into(),
            line,
            msg: msg.into(),
        }
    }
}

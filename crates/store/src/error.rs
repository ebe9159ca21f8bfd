//! The store's one error type: each variant names the path and what the operator can do.

use std::fmt;
use std::path::PathBuf;

/// Why the store cannot be opened, read or written.
#[derive(Debug)]
#[non_exhaustive]
pub enum StoreError {
    /// The store was written in another format version than this build reads.
    Version {
        /// The store directory.
        path: PathBuf,
        /// The version recorded in the store.
        found: u32,
        /// The version this build reads and writes.
        supported: u32,
    },
    /// The store's files cannot be read back as written.
    Corrupt {
        /// The store directory.
        path: PathBuf,
        /// What was found wrong.
        detail: String,
    },
    /// The directory or its files cannot be written (read-only file system, permissions).
    ReadOnly {
        /// The store directory.
        path: PathBuf,
        /// The operating system's message.
        detail: String,
    },
    /// Another process (another `lantern serve`) has the store open.
    Locked {
        /// The store directory.
        path: PathBuf,
    },
    /// The disk is full.
    DiskFull {
        /// The store directory.
        path: PathBuf,
    },
    /// Any other input/output error.
    Io {
        /// The store directory.
        path: PathBuf,
        /// The engine's or operating system's message.
        detail: String,
    },
}

impl StoreError {
    /// Classifies an engine error met at `path`.
    pub(crate) fn from_engine(path: &std::path::Path, err: fjall::Error) -> Self {
        let path = path.to_path_buf();
        match err {
            fjall::Error::Io(io) | fjall::Error::Storage(lsm_tree::Error::Io(io)) => {
                Self::from_io(path, &io)
            }
            fjall::Error::Poisoned => Self::Io {
                path,
                detail: "an earlier write failed; the store refuses writes until restart".into(),
            },
            other => Self::Corrupt {
                path,
                detail: format!("{other:?}"),
            },
        }
    }

    /// Classifies an operating system error met at `path`.
    pub(crate) fn from_io(path: PathBuf, io: &std::io::Error) -> Self {
        use std::io::ErrorKind;
        match io.kind() {
            ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem => Self::ReadOnly {
                path,
                detail: io.to_string(),
            },
            ErrorKind::StorageFull | ErrorKind::QuotaExceeded => Self::DiskFull { path },
            ErrorKind::UnexpectedEof | ErrorKind::InvalidData => Self::Corrupt {
                path,
                detail: io.to_string(),
            },
            _ => Self::Io {
                path,
                detail: io.to_string(),
            },
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Version {
                path,
                found,
                supported,
            } => write!(
                f,
                "the store {} is format version {found}, this lantern reads version {supported}: \
                 run the lantern version that wrote it, or move the directory aside to start empty",
                path.display()
            ),
            Self::Corrupt { path, detail } => write!(
                f,
                "the store {} is corrupted ({detail}): move the directory aside (keep it for \
                 inspection) and start again to begin with an empty store",
                path.display()
            ),
            Self::ReadOnly { path, detail } => write!(
                f,
                "the store {} cannot be written ({detail}): the data directory must be on a \
                 writable file system and owned by the user running lantern",
                path.display()
            ),
            Self::Locked { path } => write!(
                f,
                "the store {} is in use by another lantern process: stop it, or give this one \
                 another --data-dir",
                path.display()
            ),
            Self::DiskFull { path } => write!(
                f,
                "the disk holding the store {} is full: free space, then restart",
                path.display()
            ),
            Self::Io { path, detail } => {
                write!(f, "the store {} failed: {detail}", path.display())
            }
        }
    }
}

impl std::error::Error for StoreError {}

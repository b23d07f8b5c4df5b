//! The crate's error type: every message names the operation, the argument
//! and the offending value.

use std::fmt;

/// What went wrong, by kind. Each variant carries the name of the operation
/// (`op`) and a message naming the argument and the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// Shapes that do not fit together (mismatch, non-broadcastable, wrong rank).
    Shape {
        /// The operation that rejected its input, e.g. `"matmul"`.
        op: &'static str,
        /// Which argument, which value, and what was expected.
        msg: String,
    },
    /// A tensor of the wrong dtype (no silent promotion).
    DType {
        /// The operation that rejected its input.
        op: &'static str,
        /// Which argument, which dtype, and what was expected.
        msg: String,
    },
    /// An index out of range: a dim, a class index, a gather index.
    Index {
        /// The operation that rejected its input.
        op: &'static str,
        /// Which position, which value, and the valid range.
        msg: String,
    },
    /// An option or value outside its domain (a negative `beta`, a probability above 1, ...).
    Value {
        /// The operation that rejected its input.
        op: &'static str,
        /// Which argument, which value, and the valid domain.
        msg: String,
    },
    /// Misuse of the autograd machinery (`backward()` on a non-scalar, ...).
    Autograd {
        /// The operation that rejected the call.
        op: &'static str,
        /// What was wrong.
        msg: String,
    },
    /// A file that could not be read or written, or whose contents are not a
    /// valid file of its format (a truncated or corrupt safetensors file, ...).
    Io {
        /// The operation that failed, e.g. `"load_safetensors"`.
        op: &'static str,
        /// Which file or tensor, and what was wrong with it.
        msg: String,
    },
}

impl Error {
    pub(crate) fn shape(op: &'static str, msg: impl Into<String>) -> Self {
        Error::Shape { op, msg: msg.into() }
    }
    pub(crate) fn dtype(op: &'static str, msg: impl Into<String>) -> Self {
        Error::DType { op, msg: msg.into() }
    }
    pub(crate) fn index(op: &'static str, msg: impl Into<String>) -> Self {
        Error::Index { op, msg: msg.into() }
    }
    pub(crate) fn value(op: &'static str, msg: impl Into<String>) -> Self {
        Error::Value { op, msg: msg.into() }
    }
    pub(crate) fn autograd(op: &'static str, msg: impl Into<String>) -> Self {
        Error::Autograd { op, msg: msg.into() }
    }
    pub(crate) fn io(op: &'static str, msg: impl Into<String>) -> Self {
        Error::Io { op, msg: msg.into() }
    }

    /// The name of the operation that failed.
    pub fn op(&self) -> &'static str {
        match self {
            Error::Shape { op, .. }
            | Error::DType { op, .. }
            | Error::Index { op, .. }
            | Error::Value { op, .. }
            | Error::Autograd { op, .. }
            | Error::Io { op, .. } => op,
        }
    }

    /// The message, without the operation's name.
    pub fn message(&self) -> &str {
        match self {
            Error::Shape { msg, .. }
            | Error::DType { msg, .. }
            | Error::Index { msg, .. }
            | Error::Value { msg, .. }
            | Error::Autograd { msg, .. }
            | Error::Io { msg, .. } => msg,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.op(), self.message())
    }
}

impl std::error::Error for Error {}

/// `std::result::Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

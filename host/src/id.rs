//! Session IDs as the host uses them: [`SessionId`] itself lives in `sessionhost-wire` (so the
//! fuzz targets can exercise it without the engine); this module maps its [`IdError`] to
//! [`SessionError::InvalidSessionId`] and tells "malformed" from "unknown".

pub use sessionhost_wire::{IdError, SessionId};

use crate::error::SessionError;

impl From<IdError> for SessionError {
    fn from(error: IdError) -> Self {
        SessionError::InvalidSessionId {
            reason: error.reason,
        }
    }
}

/// Tells apart "malformed" from "well-formed but unknown" for an ID that was not found.
pub(crate) fn not_found(text: &str) -> SessionError {
    match SessionId::validate(text) {
        Ok(()) => SessionError::SessionNotFound,
        Err(e) => e.into(),
    }
}

/// Guest names follow the session-ID alphabet: 1–64 of `A-Z a-z 0-9 - . _ ~`, but not
/// `.` or `..` (they would name directories, e.g. in a guests dir or a URL path).
pub(crate) fn validate_guest_name(name: &str) -> Result<(), String> {
    if name == "." || name == ".." {
        return Err(format!(
            "is not a valid guest name (`{name}` names a directory)"
        ));
    }
    SessionId::parse(name)
        .map(drop)
        .map_err(|e| format!("is not a valid guest name ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_ids_are_told_apart_from_malformed_ones() {
        assert_eq!(not_found("abc"), SessionError::SessionNotFound);
        assert_eq!(not_found("a b").kind(), "invalid_session_id");
        assert_eq!(
            SessionError::from(SessionId::parse("").unwrap_err()),
            SessionError::InvalidSessionId { reason: "empty" }
        );
    }
}

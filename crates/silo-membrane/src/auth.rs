//! Both keys, from the request headers to verified [`Credentials`] bound to this cell.
//! Refusals carry a fixed message per code: never the token, never the verifier's detail.

use silo_audit::{KeyId, KeyRef, TokenId};
use silo_keys::{decode_unverified, Credentials, VerifyError};

use crate::binding::CellBinding;
use crate::services::Services;
use crate::wire::{ApiError, ErrorCode};

/// The two tokens as presented. `Debug` never shows them.
#[derive(Clone, Default)]
pub(crate) struct PresentedKeys {
    pub(crate) base: Option<String>,
    pub(crate) task: Option<String>,
}

impl std::fmt::Debug for PresentedKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PresentedKeys")
            .field("base", &self.base.as_ref().map(|_| "<redacted>"))
            .field("task", &self.task.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Verified keys and how the audit log names them.
#[derive(Debug)]
pub(crate) struct Verified {
    pub(crate) creds: Credentials,
    pub(crate) base_ref: Option<KeyRef>,
    pub(crate) task_ref: Option<KeyRef>,
}

/// Verifies both keys for `cell` at `now`.
pub(crate) fn verify(
    services: &Services,
    cell: &CellBinding,
    keys: &PresentedKeys,
    now: u64,
) -> Result<Verified, ApiError> {
    let (Some(base), Some(task)) = (keys.base.as_deref(), keys.task.as_deref()) else {
        return Err(ApiError::new(
            ErrorCode::MissingKey,
            "every request needs both the base key and the task key headers",
        ));
    };
    let creds = services
        .verifier
        .verify_pair(base, task, cell.cell_id(), now, cell.folder_hash())
        .map_err(|e| refusal(&e))?;
    let base_ref = key_ref(base, &creds.base().jti);
    let task_ref = key_ref(task, &creds.task().jti);
    Ok(Verified {
        creds,
        base_ref,
        task_ref,
    })
}

/// Names a verified token by `kid` and `jti` for the audit log.
fn key_ref(token: &str, jti: &str) -> Option<KeyRef> {
    let (_, header) = decode_unverified(token).ok()?;
    let kid = KeyId::new(header.get("kid")?.as_str()?).ok()?;
    Some(KeyRef::token(kid, TokenId::new(jti).ok()?))
}

fn refusal(e: &VerifyError) -> ApiError {
    let (code, message) = match e {
        VerifyError::Expired { .. } => (ErrorCode::KeyExpired, "a key has expired"),
        VerifyError::RetiredKid { .. } => (
            ErrorCode::KeyExpired,
            "a key was signed with a retired signing key",
        ),
        VerifyError::NotYetValid { .. } => (ErrorCode::InvalidKey, "a key is not valid yet"),
        VerifyError::Revoked { .. } => (ErrorCode::KeyRevoked, "a key has been revoked"),
        VerifyError::WrongCell { .. } => (
            ErrorCode::WrongCell,
            "the task key is bound to another cell",
        ),
        VerifyError::FolderHashMismatch { .. } => (
            ErrorCode::FolderMismatch,
            "the base key was minted for another agent folder",
        ),
        VerifyError::AgentMismatch { .. } => (
            ErrorCode::AgentMismatch,
            "the base key and the task key name different agents",
        ),
        VerifyError::WrongAudience { .. } => (
            ErrorCode::InvalidKey,
            "a key was sent in the other key's header",
        ),
        VerifyError::TooLong { .. }
        | VerifyError::Malformed(_)
        | VerifyError::AlgorithmNotAllowed { .. }
        | VerifyError::MissingKid
        | VerifyError::UnknownKid { .. }
        | VerifyError::BadSignature
        | VerifyError::BadClaims { .. } => (ErrorCode::InvalidKey, "a key does not verify"),
    };
    ApiError::new(code, message)
}

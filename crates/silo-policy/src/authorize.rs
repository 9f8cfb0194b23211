//! Authorize one membrane request end to end: verify both tokens, then decide.
//! A token refusal is a deny like any other, with rule `keys`.

use serde_json::Value;
use silo_keys::{FolderHash, Verifier};

use crate::decision::{Context, Decision};
use crate::policy_set::PolicySet;

/// One request as it arrives on a cell's membrane socket.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The base key token.
    pub base_token: &'a str,
    /// The task key token.
    pub task_token: &'a str,
    /// Id of the cell whose socket the request came in on.
    pub cell_id: &'a str,
    /// The agent folder's current content hash, when the caller has it.
    pub folder_hash: Option<&'a FolderHash>,
    /// The action name.
    pub action: &'a str,
    /// The action's params.
    pub params: &'a Value,
}

impl PolicySet {
    /// Verifies both keys (at `ctx.now`) and decides. Never panics; every failure is a deny.
    pub fn authorize(&self, verifier: &Verifier, req: &Request<'_>, ctx: &Context<'_>) -> Decision {
        match verifier.verify_pair(
            req.base_token,
            req.task_token,
            req.cell_id,
            ctx.now,
            req.folder_hash,
        ) {
            Ok(creds) => self.decide_for(&creds, req.action, req.params, ctx),
            Err(e) => Decision::Deny {
                reason: e.to_string(),
                rule: "keys".into(),
            },
        }
    }
}

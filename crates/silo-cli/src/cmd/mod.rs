//! One module per command group; each owns its argument structs and output.

pub mod audit;
pub mod cell;
pub mod keys;
pub mod membrane;
pub mod policy;

/// The exit code for an error that stopped a command: 125 when a cell could
/// not be set up (as container runtimes do), 127 for a command not found in
/// the cell, 2 for bad usage, 1 otherwise.
pub fn exit_code_for(err: &anyhow::Error) -> u8 {
    use silo_cell::CellError;
    match err.downcast_ref::<CellError>() {
        Some(CellError::CommandFailed { .. }) => 127,
        Some(
            CellError::InvalidSpec(_) | CellError::AgentDirMissing(_) | CellError::SocketMissing(_),
        ) => 2,
        Some(CellError::UnknownCell(_)) => 1,
        Some(_) => 125,
        None => 1,
    }
}

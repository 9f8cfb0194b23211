//! Cases of category `membrane`.

use crate::attack::Attack;

/// The cases.
pub fn cases() -> Vec<Attack> {
    vec![]
}

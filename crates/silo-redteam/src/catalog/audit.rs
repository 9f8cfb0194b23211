//! Cases of category `audit`.

use crate::attack::Attack;

/// The cases.
pub fn cases() -> Vec<Attack> {
    vec![]
}

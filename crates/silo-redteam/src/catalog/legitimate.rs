//! Cases of category `legitimate`.

use crate::attack::Attack;

/// The cases.
pub fn cases() -> Vec<Attack> {
    vec![]
}

//! Cases of category `privacy`.

use crate::attack::Attack;

/// The cases.
pub fn cases() -> Vec<Attack> {
    vec![]
}

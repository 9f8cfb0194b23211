//! Cases of category `cross_task`.

use crate::attack::Attack;

/// The cases.
pub fn cases() -> Vec<Attack> {
    vec![]
}

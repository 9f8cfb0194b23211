//! The one integration-test binary of silo-keys.

#[cfg(test)]
mod backend;
#[cfg(test)]
mod common;
#[cfg(test)]
mod forgery;
#[cfg(test)]
mod lifecycle;

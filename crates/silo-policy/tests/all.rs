//! The one integration-test binary of silo-policy.

#[cfg(test)]
mod agentos;
#[cfg(test)]
mod common;
#[cfg(test)]
mod decisions;
#[cfg(test)]
mod loading;
#[cfg(test)]
mod properties;
#[cfg(test)]
mod rates;

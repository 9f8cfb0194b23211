//! Integration tests of the console.

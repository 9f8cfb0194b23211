//! Integration tests of the red-team suite.

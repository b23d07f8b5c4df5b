//! Code shared by the examples (and by the tests that run their core paths).
#![allow(dead_code)]

pub mod data;
pub mod tasks;

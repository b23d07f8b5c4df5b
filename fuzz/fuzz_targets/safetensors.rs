//! Fuzzes `io::load_safetensors` with arbitrary file contents: every input
//! must load as `Ok` or fail as `Err`, never panic (a panic is a crash for
//! libFuzzer) or allocate from a size the file does not back. The loader
//! reads from a path, so each input is written to a file first.
//!
//! Run: `cargo +nightly fuzz run safetensors -- -max_total_time=600`
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;
use tapegrad::io;

/// One file per fuzzing process, rewritten for each input.
fn path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| std::env::temp_dir().join(format!("tapegrad-fuzz-{}.safetensors", std::process::id())))
}

fuzz_target!(|data: &[u8]| {
    // a file that cannot be written is the machine's problem, not the loader's
    if std::fs::write(path(), data).is_ok() {
        let _ = io::load_safetensors(path());
    }
});

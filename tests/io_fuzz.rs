//! Corrupted safetensors files: a small valid file with bytes flipped,
//! inserted or cut, and its JSON header edited, must load as `Ok` or fail as
//! an `Err`, never panic. (`fuzz/fuzz_targets/safetensors.rs` does the same
//! with libFuzzer's inputs.)

use proptest::prelude::*;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use tapegrad::nn::StateDict;
use tapegrad::{Tensor, io};

/// A path of its own for every call: the two tests run in parallel and both
/// write the small file, so a shared name let one remove the other's file.
fn temp(tag: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("tapegrad-io-fuzz-{}-{n}-{tag}.safetensors", std::process::id()))
}

/// A small valid file: three tensors of the three dtypes, one of them empty.
fn small_file() -> Vec<u8> {
    let mut state = StateDict::new();
    state.insert("w".into(), Tensor::from_vec(vec![1.0f32, -2.0, 3.5, 0.25], &[2, 2]).unwrap());
    state.insert("b".into(), Tensor::from_vec(vec![0.5f64, 7.0], &[2]).unwrap());
    state.insert("n".into(), Tensor::from_vec(vec![7i64], &[1]).unwrap());
    state.insert("e".into(), Tensor::from_vec(Vec::<f32>::new(), &[0, 3]).unwrap());
    let path = temp("small");
    io::save_safetensors(&state, &path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).ok();
    bytes
}

/// Header fragments an edit swaps in: numbers at the edges of the format's
/// limits, other dtypes and JSON punctuation.
const PATCHES: &[&str] = &[
    "0",
    "1",
    "4",
    "8",
    "9",
    "16",
    "4294967296",
    "18446744073709551615",
    "18446744073709551616",
    "-1",
    "1e3",
    "\"F16\"",
    "\"BOOL\"",
    "\"F64\"",
    "\"I64\"",
    "\"U8\"",
    "[]",
    "[0]",
    "[1,2,3]",
    "{}",
    "null",
    "\"",
    ",",
    ":",
    "}",
    "]",
    "\"__metadata__\"",
    "\"data_offsets\"",
    "\"shape\"",
    "\u{ff}",
];

#[derive(Debug, Clone)]
enum Edit {
    Flip {
        at: usize,
        bit: u8,
    },
    Set {
        at: usize,
        byte: u8,
    },
    Insert {
        at: usize,
        bytes: Vec<u8>,
    },
    Remove {
        at: usize,
        len: usize,
    },
    Truncate {
        at: usize,
    },
    /// Replaces `len` bytes of the header (after the 8-byte length) with a patch.
    Header {
        at: usize,
        len: usize,
        patch: usize,
    },
    /// Rewrites the 8-byte header length.
    Length {
        value: u64,
    },
}

fn edit() -> impl Strategy<Value = Edit> {
    let at = any::<usize>();
    prop_oneof![
        (at, 0u8..8).prop_map(|(at, bit)| Edit::Flip { at, bit }),
        (at, any::<u8>()).prop_map(|(at, byte)| Edit::Set { at, byte }),
        (at, prop::collection::vec(any::<u8>(), 1..9)).prop_map(|(at, bytes)| Edit::Insert { at, bytes }),
        (at, 1usize..12).prop_map(|(at, len)| Edit::Remove { at, len }),
        at.prop_map(|at| Edit::Truncate { at }),
        (at, 0usize..6, 0..PATCHES.len()).prop_map(|(at, len, patch)| Edit::Header { at, len, patch }),
        prop_oneof![Just(0u64), Just(u64::MAX), Just(1 << 40), 0u64..512].prop_map(|value| Edit::Length { value }),
    ]
}

fn apply(bytes: &mut Vec<u8>, e: &Edit) {
    let n = bytes.len();
    match e {
        Edit::Flip { at, bit } if n > 0 => bytes[at % n] ^= 1 << bit,
        Edit::Set { at, byte } if n > 0 => bytes[at % n] = *byte,
        Edit::Insert { at, bytes: b } => {
            let at = at % (n + 1);
            bytes.splice(at..at, b.iter().copied());
        }
        Edit::Remove { at, len } if n > 0 => {
            let at = at % n;
            bytes.drain(at..(at + len).min(n));
        }
        Edit::Truncate { at } => bytes.truncate(at % (n + 1)),
        Edit::Header { at, len, patch } if n > 8 => {
            let header = u64::from_le_bytes(bytes[..8].try_into().unwrap()).min((n - 8) as u64) as usize;
            let at = 8 + at % (header + 1);
            let end = (at + len).min(8 + header);
            let patch = PATCHES[*patch].as_bytes();
            bytes.splice(at..end, patch.iter().copied());
            // keep the length field consistent half the time, so edits reach the JSON parser's checks
            if len % 2 == 0 {
                let new = (header + patch.len() - (end - at)) as u64;
                bytes[..8].copy_from_slice(&new.to_le_bytes());
            }
        }
        Edit::Length { value } if n >= 8 => bytes[..8].copy_from_slice(&value.to_le_bytes()),
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn mutated_files_are_ok_or_err(edits in prop::collection::vec(edit(), 1..4)) {
        let mut bytes = small_file();
        for e in &edits {
            apply(&mut bytes, e);
        }
        let path = temp("case");
        std::fs::write(&path, &bytes).unwrap();
        let outcome = catch_unwind(AssertUnwindSafe(|| io::load_safetensors(&path)));
        std::fs::remove_file(&path).ok();
        match outcome {
            Err(_) => prop_assert!(false, "panicked on {edits:?}"),
            Ok(Ok(state)) => {
                // whatever loaded is consistent: every tensor's data matches its shape
                for (k, t) in &state {
                    prop_assert_eq!(t.numel(), t.shape().iter().product::<usize>(), "{}", k);
                }
            }
            Ok(Err(e)) => prop_assert_eq!(e.op(), "load_safetensors"),
        }
    }
}

#[test]
fn the_unmutated_file_loads() {
    let path = temp("clean");
    std::fs::write(&path, small_file()).unwrap();
    let state = io::load_safetensors(&path);
    std::fs::remove_file(&path).ok();
    let state = state.unwrap();
    assert_eq!(state.keys().collect::<Vec<_>>(), ["b", "e", "n", "w"]);
    assert_eq!(state["w"].to_vec::<f32>().unwrap(), [1.0, -2.0, 3.5, 0.25]);
}

//! Saving and loading tensors in the safetensors format, the one PyTorch's
//! `safetensors.torch.save_file` / `load_file` read and write.
//!
//! A file is an 8-byte little-endian header length, a JSON header naming each
//! tensor's dtype, shape and byte range, then the raw little-endian data. The
//! header is parsed and validated by the format's reference implementation
//! (the `safetensors` crate): ranges must tile the data exactly, in order,
//! each of the size its dtype and shape imply, so a truncated, overlapping or
//! oversized claim is rejected before any tensor is built.
//!
//! ```
//! use tapegrad::{io, nn::{self, Module}, DType, Tensor};
//! # fn main() -> tapegrad::Result<()> {
//! let mut rng = rand::rng();
//! let model = nn::Linear::new(4, 2, &mut rng);
//! let path = std::env::temp_dir().join(format!("tapegrad-io-doc-{}.safetensors", std::process::id()));
//! io::save_safetensors(&model.state_dict(), &path)?;
//!
//! let mut fresh = nn::Linear::new(4, 2, &mut rng);
//! fresh.load_state_dict(&io::load_safetensors(&path)?, true)?;
//! # std::fs::remove_file(&path).ok();
//! let x = Tensor::randn(&[3, 4], DType::F32, &mut rng);
//! assert_eq!(model.forward(&x)?.to_vec::<f32>()?, fresh.forward(&x)?.to_vec::<f32>()?);
//! # Ok(())
//! # }
//! ```

use crate::nn::StateDict;
use crate::{DType, Error, Result, Tensor};
use safetensors::tensor::{Dtype, SafeTensorError, SafeTensors, View};
use std::borrow::Cow;
use std::path::Path;

/// One tensor's bytes, ready for the serializer.
struct Raw {
    dtype: Dtype,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl View for &Raw {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.bytes)
    }
    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

/// The little-endian bytes of `t`, in row-major order, with its safetensors dtype.
fn raw(op: &'static str, name: &str, t: &Tensor) -> Result<Raw> {
    let shape = t.shape().to_vec();
    let with = |e: Error| Error::io(op, format!("tensor {name:?}: {}", e.message()));
    let (dtype, bytes) = match t.dtype() {
        DType::F32 => (Dtype::F32, t.to_vec::<f32>().map_err(with)?.iter().flat_map(|v| v.to_le_bytes()).collect()),
        DType::F64 => (Dtype::F64, t.to_vec::<f64>().map_err(with)?.iter().flat_map(|v| v.to_le_bytes()).collect()),
        DType::I64 => (Dtype::I64, t.to_vec::<i64>().map_err(with)?.iter().flat_map(|v| v.to_le_bytes()).collect()),
    };
    Ok(Raw { dtype, shape, bytes })
}

/// Writes `state` to `path` as a safetensors file (PyTorch's
/// `safetensors.torch.save_file(state, path)`): each tensor under its key,
/// with its dtype (`F32`, `F64`, `I64`) and shape, data little-endian in
/// row-major order. Overwrites an existing file.
///
/// Errors ([`Error::Io`]) name the path if the file cannot be written.
pub fn save_safetensors(state: &StateDict, path: impl AsRef<Path>) -> Result<()> {
    const OP: &str = "save_safetensors";
    let path = path.as_ref();
    let raws = state.iter().map(|(k, t)| Ok((k.as_str(), raw(OP, k, t)?))).collect::<Result<Vec<_>>>()?;
    let bytes = safetensors::tensor::serialize(raws.iter().map(|(k, r)| (*k, r)), None)
        .map_err(|e| Error::io(OP, format!("{}: {e}", path.display())))?;
    std::fs::write(path, bytes).map_err(|e| Error::io(OP, format!("{}: {e}", path.display())))
}

/// Why a safetensors file is not valid, in words naming the tensor where there is one.
fn describe(e: &SafeTensorError) -> String {
    match e {
        SafeTensorError::HeaderTooLarge => "the header length is larger than the format allows".into(),
        SafeTensorError::HeaderTooSmall => "the file is shorter than the 8-byte header length".into(),
        SafeTensorError::InvalidHeaderLength => "the header length runs past the end of the file".into(),
        SafeTensorError::MetadataIncompleteBuffer => {
            "the tensors' byte ranges do not cover the data exactly (file truncated or extended)".into()
        }
        SafeTensorError::InvalidOffset(name) => {
            format!("tensor {name:?}: byte range does not follow the previous tensor's (gap, overlap or reversed)")
        }
        SafeTensorError::TensorInvalidInfo => "a tensor's byte range does not match its dtype and shape".into(),
        SafeTensorError::ValidationOverflow => "a tensor's shape overflows the element count".into(),
        other => other.to_string(),
    }
}

/// Decodes `bytes` (`N` bytes per element) into a vector with `from_le_bytes`.
fn decode<T, const N: usize>(bytes: &[u8], from: fn([u8; N]) -> T) -> Vec<T> {
    bytes
        .chunks_exact(N)
        .map(|c| {
            let mut a = [0u8; N];
            a.copy_from_slice(c);
            from(a)
        })
        .collect()
}

/// Reads a safetensors file (PyTorch's `safetensors.torch.load_file(path)`)
/// into a [`StateDict`]: each tensor under its key, a fresh (untracked) tensor
/// of its dtype and shape. Reads `F32`, `F64` and `I64`; the header's
/// `__metadata__` entry is ignored.
///
/// Errors ([`Error::Io`], naming `load_safetensors`, the path and the
/// tensor where there is one): the file cannot be read; it is not a valid
/// safetensors file (truncated, a header length past the end or above the
/// format's limit, invalid JSON, byte ranges past the end, overlapping or not
/// matching the dtype and shape); or a tensor has another dtype (`F16`,
/// `BOOL`, ...). Nothing is allocated from a claimed size before it is
/// checked against the file's length.
pub fn load_safetensors(path: impl AsRef<Path>) -> Result<StateDict> {
    const OP: &str = "load_safetensors";
    let path = path.as_ref();
    let err = |msg: String| Error::io(OP, format!("{}: {msg}", path.display()));
    let buffer = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    let file = SafeTensors::deserialize(&buffer).map_err(|e| err(describe(&e)))?;
    let mut state = StateDict::new();
    for (name, view) in file.iter() {
        let shape = view.shape();
        let bytes = view.data();
        let numel = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        let size = match view.dtype() {
            Dtype::F32 => 4,
            Dtype::F64 | Dtype::I64 => 8,
            other => {
                return Err(err(format!("tensor {name:?} has dtype {other}; only F32, F64 and I64 are supported")));
            }
        };
        if numel.and_then(|n| n.checked_mul(size)) != Some(bytes.len()) {
            return Err(err(format!(
                "tensor {name:?} has {} bytes; shape {shape:?} of dtype {} needs {size} bytes per element",
                bytes.len(),
                view.dtype()
            )));
        }
        let tensor = match view.dtype() {
            Dtype::F32 => Tensor::from_vec(decode(bytes, f32::from_le_bytes), shape),
            Dtype::F64 => Tensor::from_vec(decode(bytes, f64::from_le_bytes), shape),
            _ => Tensor::from_vec(decode(bytes, i64::from_le_bytes), shape),
        }
        .map_err(|e| err(format!("tensor {name:?}: {}", e.message())))?;
        state.insert(name.to_string(), tensor);
    }
    Ok(state)
}

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
use crate::tensor::{Deferred, Recipe, Slice, Storage};
use crate::{DType, Error, Result, Tensor};
use safetensors::tensor::{Dtype, SafeTensorError, SafeTensors, View};
use std::borrow::Cow;
use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

/// One tensor's data, borrowed until the serializer asks for its bytes.
enum Data<'a> {
    F32(Slice<'a, f32>),
    F64(Slice<'a, f64>),
    I64(Slice<'a, i64>),
    Bool(Slice<'a, bool>),
}

/// One tensor as the serializer sees it.
struct Raw<'a> {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Data<'a>,
}

/// The little-endian bytes of `values`: on a little-endian machine the
/// values' own memory, borrowed, so saving writes the tensors without copying
/// them first.
#[cfg(target_endian = "little")]
fn le_bytes<T: Copy, const N: usize>(values: &[T], _to: fn(T) -> [u8; N]) -> Cow<'_, [u8]> {
    debug_assert_eq!(std::mem::size_of::<T>(), N);
    // SAFETY: `T` is f32, f64 or i64 (`N` bytes, no padding, every byte
    // initialized); the byte slice covers exactly the values' memory, `u8`
    // has alignment 1, and it borrows `values` for its whole life.
    Cow::Borrowed(unsafe { std::slice::from_raw_parts(values.as_ptr().cast::<u8>(), std::mem::size_of_val(values)) })
}

/// The little-endian bytes of `values`, converted one by one.
#[cfg(not(target_endian = "little"))]
fn le_bytes<T: Copy, const N: usize>(values: &[T], to: fn(T) -> [u8; N]) -> Cow<'_, [u8]> {
    let mut out = vec![0u8; values.len() * N];
    for (o, &v) in out.chunks_exact_mut(N).zip(values) {
        o.copy_from_slice(&to(v));
    }
    Cow::Owned(out)
}

impl View for &Raw<'_> {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        match &self.data {
            Data::F32(s) => le_bytes(s, f32::to_le_bytes),
            Data::F64(s) => le_bytes(s, f64::to_le_bytes),
            Data::I64(s) => le_bytes(s, i64::to_le_bytes),
            // one byte per element, 0 or 1, as PyTorch writes `torch.bool`
            Data::Bool(s) => Cow::Owned(s.iter().map(|&b| u8::from(b)).collect()),
        }
    }
    fn data_len(&self) -> usize {
        match &self.data {
            Data::F32(s) => s.len() * 4,
            Data::F64(s) => s.len() * 8,
            Data::I64(s) => s.len() * 8,
            Data::Bool(s) => s.len(),
        }
    }
}

/// `t`'s data with its safetensors dtype and shape.
fn raw<'a>(op: &'static str, name: &str, t: &'a Tensor) -> Result<Raw<'a>> {
    let shape = t.shape().to_vec();
    let with = |e: Error| Error::io(op, format!("tensor {name:?}: {}", e.message()));
    let (dtype, data) = match t.dtype() {
        DType::F32 => (Dtype::F32, Data::F32(t.data::<f32>(op, name).map_err(with)?)),
        DType::F64 => (Dtype::F64, Data::F64(t.data::<f64>(op, name).map_err(with)?)),
        DType::I64 => (Dtype::I64, Data::I64(t.data::<i64>(op, name).map_err(with)?)),
        DType::Bool => (Dtype::BOOL, Data::Bool(t.data::<bool>(op, name).map_err(with)?)),
    };
    Ok(Raw { dtype, shape, data })
}

/// Writes `state` to `path` as a safetensors file (PyTorch's
/// `safetensors.torch.save_file(state, path)`): each tensor under its key,
/// with its dtype (`F32`, `F64`, `I64`, `BOOL`) and shape, data little-endian in
/// row-major order. Replaces an existing file: the data goes to a temporary
/// file beside `path`, renamed over it once complete.
///
/// Errors ([`Error::Io`]) name the path if the file cannot be written.
pub fn save_safetensors(state: &StateDict, path: impl AsRef<Path>) -> Result<()> {
    const OP: &str = "save_safetensors";
    let path = path.as_ref();
    let raws = state.iter().map(|(k, t)| Ok((k.as_str(), raw(OP, k, t)?))).collect::<Result<Vec<_>>>()?;
    // Streams the header and each tensor's bytes through a buffered writer
    // (to a sibling temporary file, then renamed over `path`) instead of
    // assembling the whole file in memory first.
    safetensors::tensor::serialize_to_file(raws.iter().map(|(k, r)| (*k, r)), None, path)
        .map_err(|e| Error::io(OP, format!("{}: {e}", path.display())))
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

/// Bytes read from the file per call while decoding: small enough to stay in
/// cache between the read and the conversion, a multiple of every element size.
const CHUNK: usize = 1 << 20;

/// Numbers whose every bit pattern is a valid value, stored in the file as
/// their own little-endian bytes.
trait Plain: crate::tensor::Element {}
impl Plain for f32 {}
impl Plain for f64 {}
impl Plain for i64 {}

/// Reads of at least this many bytes are split among the cores.
const PAR_READ: usize = 4 << 20;

/// Fills `buf` from the file's bytes at `offset`.
#[cfg(unix)]
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

/// Fills `buf` from the file's bytes at `offset` (a duplicated handle keeps
/// its own position, so concurrent reads do not disturb one another).
#[cfg(not(unix))]
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    let mut f = file.try_clone()?;
    std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(offset))?;
    f.read_exact(buf)
}

/// `numel` values read from the file at `offset` straight into their
/// vector: on a little-endian machine the file's bytes are the values'
/// bytes, so they are copied once, from the page cache into a buffer of the
/// buffer cache (already-mapped memory when a tensor of this size was freed
/// before), by all cores for a large tensor.
#[cfg(target_endian = "little")]
fn read_plain<T: Plain, const N: usize>(
    file: &File,
    offset: u64,
    numel: usize,
    _from: fn([u8; N]) -> T,
) -> std::io::Result<Vec<T>> {
    debug_assert_eq!(std::mem::size_of::<T>(), N);
    let mut out = crate::cpu::alloc::scratch::<T>(numel);
    // SAFETY: `T` is f32, f64 or i64 (`Plain`): `N` bytes, no padding, and
    // every bit pattern is a valid value, so writing arbitrary bytes through
    // this view leaves valid values; the view covers exactly the vector's
    // initialized elements and ends before `out` is used again.
    let bytes =
        unsafe { std::slice::from_raw_parts_mut(out.as_mut_ptr().cast::<u8>(), std::mem::size_of_val(&out[..])) };
    if bytes.len() < PAR_READ {
        read_exact_at(file, bytes, offset)?;
    } else {
        let parts: Vec<(u64, &mut [u8])> = bytes
            .chunks_mut(PAR_READ / 4)
            .scan(offset, |at, c| Some((std::mem::replace(at, *at + c.len() as u64), c)))
            .collect();
        crate::cpu::par::map_claimed(parts, |(at, c)| read_exact_at(file, c, at))
            .into_iter()
            .collect::<std::io::Result<()>>()?;
    }
    Ok(out)
}

#[cfg(not(target_endian = "little"))]
fn read_plain<T: Plain, const N: usize>(
    file: &File,
    offset: u64,
    numel: usize,
    from: fn([u8; N]) -> T,
) -> std::io::Result<Vec<T>> {
    let mut f = file.try_clone()?;
    std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(offset))?;
    decode(&mut f, &mut vec![0u8; CHUNK.min(numel * N)], numel, from)
}

// big-endian machines read every dtype through it
#[cfg_attr(target_endian = "little", allow(dead_code))]
fn decode<T, const N: usize>(
    file: &mut File,
    chunk: &mut [u8],
    numel: usize,
    from: fn([u8; N]) -> T,
) -> std::io::Result<Vec<T>> {
    let mut out = Vec::with_capacity(numel);
    let mut left = numel * N;
    while left > 0 {
        let buf = &mut chunk[..left.min(CHUNK)];
        file.read_exact(buf)?;
        out.extend(buf.chunks_exact(N).map(|c| {
            let mut a = [0u8; N];
            a.copy_from_slice(c);
            from(a)
        }));
        left -= buf.len();
    }
    Ok(out)
}

/// `numel` values of `dtype` (one the loader accepts) read from the file at `offset`.
fn read_tensor(file: &File, offset: u64, numel: usize, dtype: Dtype) -> std::io::Result<Storage> {
    Ok(match dtype {
        Dtype::F32 => Storage::F32(read_plain(file, offset, numel, f32::from_le_bytes)?),
        Dtype::F64 => Storage::F64(read_plain(file, offset, numel, f64::from_le_bytes)?),
        Dtype::BOOL => {
            // one byte per element; any non-zero byte is true, as PyTorch reads it
            let mut bytes = vec![0u8; numel];
            read_exact_at(file, &mut bytes, offset)?;
            Storage::Bool(bytes.into_iter().map(|b| b != 0).collect())
        }
        _ => Storage::I64(read_plain(file, offset, numel, i64::from_le_bytes)?),
    })
}

/// The tensor dtype of a safetensors dtype the loader accepts.
fn tensor_dtype(dtype: Dtype) -> DType {
    match dtype {
        Dtype::F32 => DType::F32,
        Dtype::F64 => DType::F64,
        Dtype::BOOL => DType::Bool,
        _ => DType::I64,
    }
}

/// Whether large tensors are read on first use. Only where an open file
/// can be replaced (renamed over) while it is read: elsewhere (Windows) the
/// open handle would make the next save to the same path fail.
const LAZY: bool = cfg!(unix);

/// Tensors of at least this many bytes are read when first used; smaller ones
/// at once (their reads cost little, and a model of small tensors then keeps
/// no file open).
const LAZY_BYTES: usize = 1 << 20;

/// A tensor's data in a validated safetensors file, read when the tensor is
/// first used, as PyTorch's `load_file` maps the file and reads each page on
/// first touch.
struct InFile {
    file: Arc<File>,
    at: u64,
    numel: usize,
    dtype: Dtype,
    name: String,
    path: std::path::PathBuf,
}

impl Recipe for InFile {
    fn make(&self) -> Storage {
        // The ranges were checked against the file's length when it was
        // loaded, and the handle keeps this file's data even if another is
        // renamed over its path; a read fails only if the file was cut short
        // in place since (where PyTorch's mapped tensor faults), and no
        // tensor can be made of the missing bytes then.
        read_tensor(&self.file, self.at, self.numel, self.dtype).unwrap_or_else(|e| {
            panic!(
                "load_safetensors: {}: tensor {:?} could not be read on first use ({e}); \
                 the file was truncated or changed in place after it was loaded",
                self.path.display(),
                self.name
            )
        })
    }
}

/// Reads a safetensors file (PyTorch's `safetensors.torch.load_file(path)`)
/// into a [`StateDict`]: each tensor under its key, a fresh (untracked) tensor
/// of its dtype and shape. Reads `F32`, `F64`, `I64` and `BOOL` (a non-zero
/// byte is `true`); the header's
/// `__metadata__` entry is ignored.
///
/// As PyTorch's `load_file` maps the file instead of reading it, a tensor of
/// 1 MiB or more is read when its data is first used (then once, all cores
/// reading), smaller ones at once: loading a large file costs little until
/// its tensors are used, and a tensor never used is never read. Until then
/// the file stays open; saving to the same path with
/// [`save_safetensors`] (which renames a new file over it) does not change
/// what the loaded tensors hold, but writing into the file in place changes
/// what a tensor not yet used will hold (as for PyTorch's mapped tensors),
/// and truncating it before a tensor's first use makes that use panic, where
/// PyTorch's mapped tensors fault.
/// (Elsewhere than on Unix every tensor is read at once.)
///
/// Errors ([`Error::Io`], naming `load_safetensors`, the path and the
/// tensor where there is one): the file cannot be read; it is not a valid
/// safetensors file (truncated, a header length past the end or above the
/// format's limit, invalid JSON, byte ranges past the end, overlapping or not
/// matching the dtype and shape); or a tensor has another dtype (`F16`,
/// `BF16`, ...). Nothing is allocated from a claimed size before it is
/// checked against the file's length.
pub fn load_safetensors(path: impl AsRef<Path>) -> Result<StateDict> {
    const OP: &str = "load_safetensors";
    let path = path.as_ref();
    let err = |msg: String| Error::io(OP, format!("{}: {msg}", path.display()));
    let io_err = |e: std::io::Error| err(e.to_string());
    let mut file = File::open(path).map_err(io_err)?;
    let len = usize::try_from(file.metadata().map_err(io_err)?.len())
        .map_err(|_| err("the file is larger than this platform's address space".into()))?;
    // The header is validated by the format's own parser, which wants a
    // buffer as long as the file. The data part of that buffer stays zeroed
    // and untouched (the allocator hands out lazily-mapped zero pages), and
    // each tensor is then read from the file straight into its own vector,
    // so the data is copied once, not read into a buffer and copied again.
    let mut buffer = vec![0u8; len];
    let head = len.min(8);
    file.read_exact(&mut buffer[..head]).map_err(io_err)?;
    if head == 8 {
        let mut n = [0u8; 8];
        n.copy_from_slice(&buffer[..8]);
        // a claim past the end of the file is left for the parser to reject
        if let Ok(n) = usize::try_from(u64::from_le_bytes(n))
            && n <= len - 8
        {
            file.read_exact(&mut buffer[8..8 + n]).map_err(io_err)?;
        }
    }
    let (header, metadata) = SafeTensors::read_metadata(&buffer).map_err(|e| err(describe(&e)))?;
    drop(buffer);
    let start = 8 + header as u64;
    let mut state = StateDict::new();
    // one handle, shared by the tensors read on first use
    let file = Arc::new(file);
    for name in metadata.offset_keys() {
        let Some(info) = metadata.info(&name) else { continue };
        let shape = info.shape.as_slice();
        let (begin, end) = info.data_offsets;
        let numel = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        let size = match info.dtype {
            Dtype::F32 => 4,
            Dtype::F64 | Dtype::I64 => 8,
            Dtype::BOOL => 1,
            other => {
                return Err(err(format!(
                    "tensor {name:?} has dtype {other}; only F32, F64, I64 and BOOL are supported"
                )));
            }
        };
        let bytes = end.checked_sub(begin);
        let numel = match numel {
            Some(n) if n.checked_mul(size) == bytes => n,
            _ => {
                return Err(err(format!(
                    "tensor {name:?} has {} bytes; shape {shape:?} of dtype {} needs {size} bytes per element",
                    bytes.unwrap_or(0),
                    info.dtype
                )));
            }
        };
        let at = start + begin as u64;
        let tensor = if LAZY && numel * size >= LAZY_BYTES {
            let file = file.clone();
            let (dtype, name, path) = (info.dtype, name.clone(), path.to_path_buf());
            let recipe = InFile { file, at, numel, dtype, name, path };
            Ok(Tensor::from_deferred(Deferred::new(recipe), tensor_dtype(dtype), shape))
        } else {
            read_tensor(&file, at, numel, info.dtype).map_err(io_err).map(|s| Tensor::from_storage(s, shape))
        }
        .map_err(|e| err(format!("tensor {name:?}: {}", e.message())))?;
        state.insert(name, tensor);
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_tensors_wait_for_their_first_use() {
        let path = std::env::temp_dir().join(format!("tapegrad-io-lazy-{}.safetensors", std::process::id()));
        let mut state = StateDict::new();
        state.insert("large".into(), Tensor::ones(&[LAZY_BYTES / 4], DType::F32));
        state.insert("small".into(), Tensor::ones(&[LAZY_BYTES / 4 - 1], DType::F32));
        save_safetensors(&state, &path).unwrap();
        let back = load_safetensors(&path).unwrap();
        std::fs::remove_file(&path).ok();
        assert_eq!(back["large"].data_pending(), LAZY);
        assert!(!back["small"].data_pending());
        assert_eq!(back["large"].sum_all().item::<f32>().unwrap(), (LAZY_BYTES / 4) as f32);
        assert!(!back["large"].data_pending());
    }
}

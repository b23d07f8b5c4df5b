//! PyTorch-like printing: `tensor([[0.5000, 1.0000]], grad_fn=<AddBackward0>)`.

use super::{DType, Tensor};
use std::fmt;

/// Above this many elements, printing shows the first and last `EDGE` of each dim.
const THRESHOLD: usize = 1000;
const EDGE: usize = 3;

struct Style {
    integral: bool,
    sci: bool,
    summarize: bool,
}

fn fmt_value(v: f64, dtype: DType, st: &Style) -> String {
    if dtype == DType::I64 {
        return format!("{}", v as i64);
    }
    if dtype == DType::Bool {
        return if v != 0.0 { "True".into() } else { "False".into() };
    }
    if v.is_nan() {
        "nan".into()
    } else if v.is_infinite() {
        if v > 0.0 { "inf".into() } else { "-inf".into() }
    } else if st.sci {
        format!("{v:.4e}")
    } else if st.integral {
        format!("{v}.")
    } else {
        format!("{v:.4}")
    }
}

fn write_dims(f: &mut String, t: &Tensor, dim: usize, offset: usize, strides: &[usize], st: &Style, width: usize) {
    let shape = t.shape();
    if dim == shape.len() {
        let s = fmt_value(t.storage().get_f64(offset), t.dtype(), st);
        f.push_str(&format!("{s:>width$}"));
        return;
    }
    f.push('[');
    let n = shape[dim];
    let idx: Vec<Option<usize>> = if st.summarize && n > 2 * EDGE {
        (0..EDGE).map(Some).chain(std::iter::once(None)).chain((n - EDGE..n).map(Some)).collect()
    } else {
        (0..n).map(Some).collect()
    };
    let last_dim = dim + 1 == shape.len();
    for (k, i) in idx.iter().enumerate() {
        if k > 0 {
            if last_dim {
                f.push_str(", ");
            } else {
                f.push(',');
                f.push_str(&"\n".repeat(shape.len() - dim - 1));
                f.push_str(&" ".repeat(7 + dim + 1));
            }
        }
        match i {
            Some(i) => write_dims(f, t, dim + 1, offset + i * strides[dim], strides, st, width),
            None => f.push_str("..."),
        }
    }
    f.push(']');
}

impl fmt::Display for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.numel();
        let finite: Vec<f64> = (0..n).map(|i| self.storage().get_f64(i)).filter(|v| v.is_finite()).collect();
        let integral = finite.iter().all(|v| v.fract() == 0.0);
        let max = finite.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let min_nz = finite.iter().filter(|v| **v != 0.0).fold(f64::INFINITY, |m, v| m.min(v.abs()));
        let sci = !integral && (max >= 1e8 || (min_nz < 1e-4 && min_nz.is_finite()));
        let st = Style { integral, sci, summarize: n > THRESHOLD };
        let width = (0..n).map(|i| fmt_value(self.storage().get_f64(i), self.dtype(), &st).len()).max().unwrap_or(0);
        let mut s = String::from("tensor(");
        let strides = super::shape::contiguous_strides(self.shape());
        if n == 0 {
            s.push_str("[]");
        } else {
            write_dims(&mut s, self, 0, 0, &strides, &st, width);
        }
        if n == 0 && self.ndim() > 1 {
            s.push_str(&format!(", size={:?}", self.shape()));
        }
        match self.dtype() {
            DType::F64 => s.push_str(", dtype=torch.float64"),
            DType::Bool if n == 0 => s.push_str(", dtype=torch.bool"),
            DType::F32 | DType::I64 | DType::Bool => {}
        }
        if let Some(node) = self.node() {
            s.push_str(&format!(", grad_fn=<{}>", node.op.name()));
        } else if self.0.requires_grad {
            s.push_str(", requires_grad=True");
        }
        s.push(')');
        f.write_str(&s)
    }
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

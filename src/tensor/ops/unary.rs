//! Elementwise unary ops, each a value function `f` and its derivative `df`
//! (dfdx style): the backward multiplies the incoming gradient by `df(x, y)`.

use crate::autograd::Backward;
use crate::cpu::par::chunks3;
use crate::cpu::simd::dispatch;
use crate::tensor::{DType, Deferred, Element, Float, Recipe, Storage, Tensor};
use crate::{Error, Result};
use std::sync::Arc;

/// An elementwise function with its derivative.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Unary {
    Neg,
    Exp,
    Log,
    Log1p,
    Sqrt,
    Abs,
    Tanh,
    Relu,
    Sigmoid,
    /// `x·Φ(x) = 0.5·x·(1 + erf(x/√2))`, the exact (erf) form of GELU.
    Gelu,
    /// `x` for `x > 0`, `slope·x` otherwise.
    LeakyRelu(f64),
    /// `x^p` for a scalar `p`.
    Pow(f64),
    /// `min(max(x, lo), hi)`; an absent bound is ±inf.
    Clamp(f64, f64),
    /// The standard normal CDF `Φ(x)`: the derivative of GELU needs it recorded.
    NormalCdf,
}

/// Numerically stable logistic function: never computes `exp` of a large positive number.
#[inline(always)]
pub(crate) fn stable_sigmoid<T: Float>(x: T) -> T {
    let e = (-x.abs()).exp_capped();
    let inv = T::one() / (T::one() + e);
    if x >= T::zero() { inv } else { e * inv }
}

/// The standard normal CDF `Φ(x) = 0.5·(1 + erf(x/√2))` in f64 (libm's
/// erf, within 1 ulp). GELU is evaluated in f64 and rounded once, so that
/// f32 results are the correctly rounded values PyTorch's tolerances are
/// measured against.
#[inline(always)]
fn normal_cdf(x: f64) -> f64 {
    0.5 * (1.0 + libm::erf(x * std::f64::consts::FRAC_1_SQRT_2))
}

/// `1/√(2π)`, the scale of the standard normal density.
const PDF_SCALE: f64 = 0.5 * std::f64::consts::FRAC_2_SQRT_PI * std::f64::consts::FRAC_1_SQRT_2;

/// `x·Φ(x)`.
#[inline(always)]
fn gelu<T: Float>(x: T) -> T {
    let v = x.to_f64();
    T::from_f64(v * normal_cdf(v))
}

/// `d/dx x·Φ(x) = Φ(x) + x·φ(x)` with `φ(x) = exp(−x²/2)/√(2π)`.
#[inline(always)]
fn gelu_grad<T: Float>(x: T) -> T {
    let v = x.to_f64();
    let pdf = (-0.5 * v * v).exp() * (0.5 * std::f64::consts::FRAC_2_SQRT_PI * std::f64::consts::FRAC_1_SQRT_2);
    T::from_f64(normal_cdf(v) + v * pdf)
}

/// sign(x) with sign(0) = 0, as PyTorch's `sgn` (NaN stays NaN).
#[inline(always)]
pub(crate) fn sign0<T: Float>(x: T) -> T {
    if x > T::zero() {
        T::one()
    } else if x < T::zero() {
        -T::one()
    } else {
        x * T::zero()
    }
}

impl Unary {
    fn name(self) -> &'static str {
        match self {
            Unary::Neg => "NegBackward0",
            Unary::Exp => "ExpBackward0",
            Unary::Log => "LogBackward0",
            Unary::Log1p => "Log1PBackward0",
            Unary::Sqrt => "SqrtBackward0",
            Unary::Abs => "AbsBackward0",
            Unary::Tanh => "TanhBackward0",
            Unary::Relu => "ReluBackward0",
            Unary::Sigmoid => "SigmoidBackward0",
            Unary::Gelu => "GeluBackward0",
            Unary::LeakyRelu(_) => "LeakyReluBackward0",
            Unary::Pow(_) => "PowBackward0",
            Unary::Clamp(..) => "ClampBackward1",
            Unary::NormalCdf => "NormalCdfBackward",
        }
    }

    /// The value `y = f(x)`.
    #[inline(always)]
    fn f<T: Float>(self, x: T) -> T {
        match self {
            Unary::Neg => -x,
            Unary::Exp => x.exp_fast(),
            Unary::Log => x.ln_fast(),
            Unary::Log1p => x.ln_1p(),
            Unary::Sqrt => x.sqrt(),
            Unary::Abs => x.abs(),
            Unary::Tanh => x.tanh_fast(),
            Unary::Relu => {
                if x > T::zero() {
                    x
                } else {
                    x * T::zero() // 0, or NaN for NaN
                }
            }
            Unary::Sigmoid => stable_sigmoid(x),
            Unary::Gelu => gelu(x),
            Unary::LeakyRelu(slope) => {
                if x > T::zero() {
                    x
                } else {
                    x * T::from_f64(slope) // NaN stays NaN
                }
            }
            Unary::Pow(p) => x.powf(T::from_f64(p)),
            Unary::Clamp(lo, hi) => {
                if x.is_nan() {
                    x
                } else {
                    x.max(T::from_f64(lo)).min(T::from_f64(hi))
                }
            }
            Unary::NormalCdf => T::from_f64(normal_cdf(x.to_f64())),
        }
    }

    /// The derivative `dy/dx`, given `x` and `y = f(x)`.
    #[inline(always)]
    fn df<T: Float>(self, x: T, y: T) -> T {
        let one = T::one();
        match self {
            Unary::Neg => -one,
            Unary::Exp => y,
            Unary::Log => one / x,
            Unary::Log1p => one / (one + x),
            Unary::Sqrt => T::from_f64(0.5) / y,
            Unary::Abs => sign0(x),
            Unary::Tanh => one - y * y,
            Unary::Relu => {
                if x > T::zero() {
                    one
                } else {
                    T::zero()
                }
            }
            Unary::Sigmoid => y * (one - y),
            Unary::Gelu => gelu_grad(x),
            // PyTorch's leaky_relu_backward: the slope at 0 and below
            Unary::LeakyRelu(slope) => {
                if x > T::zero() {
                    one
                } else {
                    T::from_f64(slope)
                }
            }
            Unary::Pow(p) => {
                if p == 0.0 {
                    T::zero()
                } else {
                    T::from_f64(p) * x.powf(T::from_f64(p - 1.0))
                }
            }
            Unary::Clamp(lo, hi) => {
                if x >= T::from_f64(lo) && x <= T::from_f64(hi) {
                    one
                } else {
                    T::zero()
                }
            }
            Unary::NormalCdf => {
                let v = x.to_f64();
                T::from_f64((-0.5 * v * v).exp() * PDF_SCALE)
            }
        }
    }
}

/// An elementwise op fixed at compile time, so that its `match` folds away
/// inside the vectorised loops.
trait UnaryFn: Copy + Send + Sync {
    fn f<T: Float>(self, x: T) -> T;
    fn df<T: Float>(self, x: T, y: T) -> T;
}

/// `Unary` with its variant known at compile time: variant number `C`.
#[derive(Clone, Copy)]
struct Fixed<const C: u8>(Unary);

impl<const C: u8> Fixed<C> {
    #[inline(always)]
    fn op(self) -> Unary {
        match C {
            0 => Unary::Neg,
            1 => Unary::Exp,
            2 => Unary::Log,
            3 => Unary::Log1p,
            4 => Unary::Sqrt,
            5 => Unary::Abs,
            6 => Unary::Tanh,
            7 => Unary::Relu,
            8 => Unary::Sigmoid,
            9 => Unary::Gelu,
            _ => self.0, // leaky_relu, pow and clamp carry run-time parameters (and Φ is rare)
        }
    }
}

impl<const C: u8> UnaryFn for Fixed<C> {
    #[inline(always)]
    fn f<T: Float>(self, x: T) -> T {
        self.op().f(x)
    }
    #[inline(always)]
    fn df<T: Float>(self, x: T, y: T) -> T {
        self.op().df(x, y)
    }
}

/// Runs `$run` with `$k` bound to the op as a [`Fixed`], chosen once per
/// tensor rather than once per element.
macro_rules! per_kind {
    ($kind:expr, |$k:ident| $run:expr) => {
        match $kind {
            Unary::Neg => {
                let $k = Fixed::<0>($kind);
                $run
            }
            Unary::Exp => {
                let $k = Fixed::<1>($kind);
                $run
            }
            Unary::Log => {
                let $k = Fixed::<2>($kind);
                $run
            }
            Unary::Log1p => {
                let $k = Fixed::<3>($kind);
                $run
            }
            Unary::Sqrt => {
                let $k = Fixed::<4>($kind);
                $run
            }
            Unary::Abs => {
                let $k = Fixed::<5>($kind);
                $run
            }
            Unary::Tanh => {
                let $k = Fixed::<6>($kind);
                $run
            }
            Unary::Relu => {
                let $k = Fixed::<7>($kind);
                $run
            }
            Unary::Sigmoid => {
                let $k = Fixed::<8>($kind);
                $run
            }
            Unary::Gelu => {
                let $k = Fixed::<9>($kind);
                $run
            }
            Unary::LeakyRelu(_) | Unary::Pow(_) | Unary::Clamp(..) | Unary::NormalCdf => {
                let $k = Fixed::<10>($kind);
                $run
            }
        }
    };
}

struct UnaryBackward {
    kind: Unary,
    out: Output,
}

/// The output the backward reads: computed in the forward, or (sigmoid)
/// deferred to its first read.
#[derive(Clone)]
enum Output {
    Made(Arc<Storage>),
    Deferred(Arc<Deferred>),
}

impl Output {
    fn get(&self) -> &Arc<Storage> {
        match self {
            Output::Made(s) => s,
            Output::Deferred(d) => d.get(),
        }
    }
}

/// The data of a `sigmoid` output, computed on first read from a snapshot of
/// the input's data. `binary_cross_entropy(sigmoid(x), y)` reads `x` from here
/// ([`sigmoid_of`]) and never computes it.
struct SigmoidRecipe {
    x: Arc<Storage>,
}

impl Recipe for SigmoidRecipe {
    fn make(&self) -> Storage {
        let k = Fixed::<8>(Unary::Sigmoid);
        match &*self.x {
            Storage::F32(x) => f32::wrap(map(x, k)),
            Storage::F64(x) => f64::wrap(map(x, k)),
            Storage::I64(_) | Storage::Bool(_) => unreachable!("sigmoid: the input was checked to be a float tensor"),
        }
    }
}

/// What a `sigmoid` output says of its input (see [`sigmoid_of`]).
pub(crate) struct SigmoidOf<'a> {
    /// The input's data when the output was made.
    pub data: &'a Arc<Storage>,
    /// The input, when the output records a graph (then a consumer that reads
    /// `data` in its place records itself on the input).
    pub x: Option<Tensor>,
}

/// When `y` is `sigmoid(x)` of a float `x` (its data computed or not): the
/// data of `x` and, if `y` records a graph, `x` itself.
pub(crate) fn sigmoid_of(y: &Tensor) -> Option<SigmoidOf<'_>> {
    let r = y.deferred::<SigmoidRecipe>()?;
    let x = y.node().map(|n| n.inputs()[0].clone());
    Some(SigmoidOf { data: &r.x, x })
}

impl Backward for UnaryBackward {
    fn name(&self) -> &'static str {
        self.kind.name()
    }
    fn backward(&self, inputs: &[Tensor], grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let x = &inputs[0];
        let kind = self.kind;
        let g = float_op!(kind.name(), "grad", grad, |g| {
            let xs = x.data::<T>(kind.name(), "input")?;
            let xs: &[T] = &xs;
            let ys = T::slice(self.out.get()).unwrap_or_default();
            per_kind!(kind, |k| T::wrap(chain(g, xs, ys, k)))
        });
        Ok(vec![Some(Tensor::from_storage(g, x.shape()))])
    }
    fn backward_graph(&self, inputs: &[Tensor], grad: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let x = &inputs[0];
        let gx = match self.kind {
            Unary::Neg => grad.neg(),
            Unary::Exp => grad.mul(&self.output(x))?,
            Unary::Log => grad.div(x)?,
            Unary::Log1p => grad.div(&x.add_scalar(1.0)?)?,
            Unary::Sqrt => grad.div(&self.output(x).mul_scalar(2.0)?)?,
            Unary::Tanh | Unary::Sigmoid => output_grad(self.kind, grad, &self.output(x))?,
            // Φ(x) + x·φ(x)
            Unary::Gelu => grad.mul(&apply(x, Unary::NormalCdf, "gelu")?.add(&x.mul(&normal_pdf(x)?)?)?)?,
            Unary::NormalCdf => grad.mul(&normal_pdf(x)?)?,
            Unary::Pow(p) if p != 0.0 => grad.mul(&x.pow(p - 1.0)?.mul_scalar(p)?)?,
            // piecewise constant derivatives (abs, relu, leaky_relu, clamp, x⁰)
            kind => grad.mul(&constant_derivative(x, kind)?)?,
        };
        Ok(vec![Some(gx)])
    }
}

impl UnaryBackward {
    /// `f(x)` as a recorded tensor, its data the output the forward kept
    /// (no second evaluation of `f`): what a derivative written in `y` reads.
    fn output(&self, x: &Tensor) -> Tensor {
        let node = UnaryBackward { kind: self.kind, out: self.out.clone() };
        Tensor::from_op_shared(self.out.get().clone(), x.0.shape.clone(), node, &[x])
    }
}

/// `dy/dx` of tanh (`1 − y²`) or sigmoid (`y·(1 − y)`) in terms of the output `y`.
#[inline(always)]
fn slope_of_output<T: Float>(kind: Unary, y: T) -> T {
    if matches!(kind, Unary::Tanh) { T::one() - y * y } else { y * (T::one() - y) }
}

/// The derivative of [`slope_of_output`] in `y`: `−2y` or `1 − 2y`.
#[inline(always)]
fn slope_of_output_dy<T: Float>(kind: Unary, y: T) -> T {
    let two_y = y + y;
    if matches!(kind, Unary::Tanh) { -two_y } else { T::one() - two_y }
}

/// `g·dy/dx` for tanh or sigmoid written in their output `y` (PyTorch's
/// `tanh_backward` / `sigmoid_backward`): one recorded op where the formula
/// in primitives would be four, differentiable in `g` and in `y`.
fn output_grad(kind: Unary, g: &Tensor, y: &Tensor) -> Result<Tensor> {
    let v = float_op2!(kind.name(), g, y, "output", |gs, ys| {
        T::wrap(gs.iter().zip(ys.iter()).map(|(&a, &b)| a * slope_of_output(kind, b)).collect())
    });
    Ok(Tensor::from_op(v, g.shape(), OutputGradBackward { kind }, &[g, y]))
}

/// The backward of [`output_grad`] over `(g, y)`.
struct OutputGradBackward {
    kind: Unary,
}

impl Backward for OutputGradBackward {
    fn name(&self) -> &'static str {
        if matches!(self.kind, Unary::Tanh) { "TanhBackwardBackward0" } else { "SigmoidBackwardBackward0" }
    }
    fn backward(&self, inputs: &[Tensor], grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let (g, y) = (&inputs[0], &inputs[1]);
        let kind = self.kind;
        let (dg, dy) = float_op2!(self.name(), g, y, "output", |gs, ys| {
            let gg = grad.data::<T>(self.name(), "grad")?;
            let dg = g.tracks_grad().then(|| {
                let v = gg.iter().zip(ys.iter()).map(|(&a, &b)| a * slope_of_output(kind, b)).collect();
                Tensor::from_storage(T::wrap(v), g.shape())
            });
            let dy = y.tracks_grad().then(|| {
                let v = gg
                    .iter()
                    .zip(gs.iter().zip(ys.iter()))
                    .map(|(&a, (&b, &c))| a * b * slope_of_output_dy(kind, c))
                    .collect();
                Tensor::from_storage(T::wrap(v), y.shape())
            });
            (dg, dy)
        });
        Ok(vec![dg, dy])
    }
    fn backward_graph(&self, inputs: &[Tensor], grad: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let (g, y) = (&inputs[0], &inputs[1]);
        let dg = needs[0].then(|| output_grad(self.kind, grad, y)).transpose()?;
        let dy = needs[1]
            .then(|| {
                let slope = match self.kind {
                    Unary::Tanh => y.mul_scalar(-2.0)?,
                    _ => y.mul_scalar(-2.0)?.add_scalar(1.0)?,
                };
                grad.mul(g)?.mul(&slope)
            })
            .transpose()?;
        Ok(vec![dg, dy])
    }
}

/// The standard normal density `φ(x) = exp(−x²/2)/√(2π)`, recorded.
fn normal_pdf(x: &Tensor) -> Result<Tensor> {
    x.mul(x)?.mul_scalar(-0.5)?.exp().mul_scalar(PDF_SCALE)
}

/// `df(x)` as an untracked tensor, for ops whose derivative is piecewise constant.
fn constant_derivative(x: &Tensor, kind: Unary) -> Result<Tensor> {
    let d = float_op!(kind.name(), "input", x, |v| T::wrap(v.iter().map(|&a| kind.df(a, kind.f(a))).collect()));
    Ok(Tensor::from_storage(d, x.shape()))
}

/// `out[i] = f(x[i])`, in parallel chunks for large inputs.
fn map<T: Float, U: UnaryFn>(x: &[T], op: U) -> Vec<T> {
    let mut out = crate::cpu::alloc::scratch::<T>(x.len());
    chunks3(x.len(), 1 << 16, &mut out, &mut [], &mut [], |r, o, _, _| map_chunk(&x[r], o, op));
    out
}

dispatch! {
    fn map_chunk<T: Float, U: UnaryFn>(x: &[T], out: &mut [T], op: U) {
        for (o, &v) in out.iter_mut().zip(x) {
            *o = op.f(v);
        }
    }
}

/// `g · df(x, y)` elementwise, in parallel chunks for large inputs.
fn chain<T: Float, U: UnaryFn>(g: &[T], x: &[T], y: &[T], op: U) -> Vec<T> {
    let mut out = crate::cpu::alloc::scratch::<T>(x.len());
    chunks3(x.len(), 1 << 16, &mut out, &mut [], &mut [], |r, o, _, _| {
        chain_chunk(&g[r.clone()], &x[r.clone()], &y[r], o, op)
    });
    out
}

dispatch! {
    fn chain_chunk<T: Float, U: UnaryFn>(g: &[T], x: &[T], y: &[T], out: &mut [T], op: U) {
        for i in 0..out.len() {
            out[i] = g[i] * op.df(x[i], y[i]);
        }
    }
}

pub(crate) fn apply(x: &Tensor, kind: Unary, op: &'static str) -> Result<Tensor> {
    if matches!(kind, Unary::Sigmoid) {
        // computed when first read (a fused loss may read the input instead)
        x.require_float(op, "input")?;
        let out = Deferred::new(SigmoidRecipe { x: x.storage_arc() });
        let node = UnaryBackward { kind, out: Output::Deferred(out.clone()) };
        return Ok(Tensor::from_op_deferred(out, x.dtype(), x.0.shape.clone(), node, &[x]));
    }
    let out = float_op!(op, "input", x, |v| per_kind!(kind, |k| T::wrap(map(v, k))));
    let out = Arc::new(out);
    Ok(Tensor::from_op_shared(out.clone(), x.0.shape.clone(), UnaryBackward { kind, out: Output::Made(out) }, &[x]))
}

/// Applies `kind` to a float tensor; on I64 input the result is an I64 copy
/// computed through f64 (for `abs` and `neg`, which make sense on integers);
/// on Bool input, the F32 result of its 0/1 values (PyTorch promotes a bool
/// tensor to its default float dtype for these functions).
fn apply_any(x: &Tensor, kind: Unary, op: &'static str) -> Tensor {
    match apply(x, kind, op) {
        Ok(t) => t,
        Err(_) => {
            let v = x.storage().convert(DType::F64);
            let r: Vec<f64> = f64::slice(&v).unwrap_or(&[]).iter().map(|&a| kind.f(a)).collect();
            let to = if x.dtype() == DType::Bool { DType::F32 } else { x.dtype() };
            Tensor::from_storage(Storage::F64(r).convert(to), x.shape())
        }
    }
}

macro_rules! unary_methods {
    ($($(#[$doc:meta])* $name:ident => $kind:expr;)*) => {
        impl Tensor {
            $(
                $(#[$doc])*
                pub fn $name(&self) -> Tensor {
                    apply_any(self, $kind, stringify!($name))
                }
            )*
        }
    };
}

unary_methods! {
    /// `-x`.
    neg => Unary::Neg;
    /// `eˣ`, elementwise.
    exp => Unary::Exp;
    /// Natural logarithm, elementwise (`-inf` at 0, NaN below).
    log => Unary::Log;
    /// `ln(1 + x)`, accurate near 0.
    log1p => Unary::Log1p;
    /// Square root, elementwise.
    sqrt => Unary::Sqrt;
    /// `|x|`; its gradient at 0 is 0, as in PyTorch.
    abs => Unary::Abs;
    /// Hyperbolic tangent.
    tanh => Unary::Tanh;
    /// `max(x, 0)`; its gradient at 0 is 0, as in PyTorch.
    relu => Unary::Relu;
    /// The logistic function `1 / (1 + e⁻ˣ)`, computed stably.
    sigmoid => Unary::Sigmoid;
}

impl Tensor {
    /// `xᵖ` for a scalar exponent `p` (`torch.pow(x, p)`).
    pub fn pow(&self, p: f64) -> Result<Tensor> {
        apply(self, Unary::Pow(p), "pow")
    }

    /// The Gaussian error linear unit `x·Φ(x) = 0.5·x·(1 + erf(x/√2))`,
    /// exact (erf) form (`F.gelu(x)` with `approximate='none'`).
    pub fn gelu(&self) -> Result<Tensor> {
        apply(self, Unary::Gelu, "gelu")
    }

    /// `x` for `x > 0`, `slope·x` otherwise (`F.leaky_relu(x, slope)`); the
    /// gradient is `slope` at 0, as in PyTorch.
    pub fn leaky_relu(&self, slope: f64) -> Result<Tensor> {
        if !slope.is_finite() {
            return Err(Error::value("leaky_relu", format!("negative_slope = {slope}: expected a finite number")));
        }
        apply(self, Unary::LeakyRelu(slope), "leaky_relu")
    }

    /// Clamps into `[min, max]`; either bound may be absent (`torch.clamp`).
    /// The gradient is 1 where `min <= x <= max`, 0 elsewhere.
    pub fn clamp(&self, min: Option<f64>, max: Option<f64>) -> Result<Tensor> {
        let lo = min.unwrap_or(f64::NEG_INFINITY);
        let hi = max.unwrap_or(f64::INFINITY);
        if lo.is_nan() || hi.is_nan() {
            return Err(Error::value("clamp", format!("min = {lo}, max = {hi}: a bound is NaN")));
        }
        apply(self, Unary::Clamp(lo, hi), "clamp")
    }
}

struct ToDtypeBackward {
    from: DType,
}

impl Backward for ToDtypeBackward {
    fn name(&self) -> &'static str {
        "ToCopyBackward0"
    }
    fn backward(&self, inputs: &[Tensor], grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(Tensor::from_storage(grad.storage().convert(self.from), inputs[0].shape()))])
    }
    fn backward_graph(&self, _inputs: &[Tensor], grad: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(grad.to_dtype(self.from)?)])
    }
}

pub(crate) fn to_dtype(x: &Tensor, dtype: DType) -> Result<Tensor> {
    if x.dtype() == dtype {
        return Ok(x.clone());
    }
    let out = x.storage().convert(dtype);
    if x.dtype().is_float() && dtype.is_float() {
        Ok(Tensor::from_op(out, x.shape(), ToDtypeBackward { from: x.dtype() }, &[x]))
    } else {
        Ok(Tensor::from_storage(out, x.shape()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn sigmoid_is_stable_at_extremes() {
        assert_eq!(stable_sigmoid(-1000.0f64), 0.0);
        assert_eq!(stable_sigmoid(1000.0f64), 1.0);
        assert!((stable_sigmoid(0.0f32) - 0.5).abs() < 1e-7);
    }
    #[test]
    fn gelu_values_and_cdf() {
        assert_eq!(gelu(0.0f64), 0.0);
        assert!((normal_cdf(1.959963984540054f64) - 0.975).abs() < 1e-15);
        // PyTorch: F.gelu(torch.tensor(1.0, dtype=torch.float64))
        assert!((gelu(1.0f64) - 0.8413447460685429).abs() < 1e-15);
        assert_eq!(gelu(-40.0f64), -0.0);
        assert!((gelu_grad(0.0f64) - 0.5).abs() < 1e-16);
    }
}

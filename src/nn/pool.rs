//! `nn.MaxPool2d` and `nn.AvgPool2d`: parameter-free 2-D pooling layers.

use super::Module;
use crate::functional as F;
use crate::{Result, Tensor};

/// 2-D max pooling (`nn.MaxPool2d(kernel_size, stride, padding)`; dilation
/// 1, no ceil mode): the maths of [`F::max_pool2d`]. The stride defaults to
/// the kernel size and the padding to 0; set them with
/// [`stride`](MaxPool2d::stride) and [`padding`](MaxPool2d::padding).
///
/// Shapes: `(N, C, H, W)` or `(C, H, W)` in, `(N, C, H_out, W_out)` or
/// `(C, H_out, W_out)` out. Errors as [`F::max_pool2d`].
///
/// ```
/// use tapegrad::{nn, DType, Tensor};
/// let x = Tensor::zeros(&[2, 3, 8, 6], DType::F32);
/// assert_eq!(nn::MaxPool2d::new((2, 2)).forward(&x)?.shape(), &[2, 3, 4, 3]);
/// let m = nn::MaxPool2d::new((3, 3)).stride((2, 1)).padding((1, 1));
/// assert_eq!(m.forward(&x)?.shape(), &[2, 3, 4, 6]);
/// assert!(nn::MaxPool2d::new((0, 2)).forward(&x).is_err());
/// # Ok::<(), tapegrad::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct MaxPool2d {
    kernel: (usize, usize),
    stride: (usize, usize),
    padding: (usize, usize),
}

impl MaxPool2d {
    /// The layer with window `(kh, kw)`, stride equal to the window, no padding.
    pub fn new(kernel: (usize, usize)) -> Self {
        MaxPool2d { kernel, stride: kernel, padding: (0, 0) }
    }

    /// The same layer with stride `(sh, sw)`.
    pub fn stride(mut self, stride: (usize, usize)) -> Self {
        self.stride = stride;
        self
    }

    /// The same layer with padding `(ph, pw)` on each side (at most half the kernel).
    pub fn padding(mut self, padding: (usize, usize)) -> Self {
        self.padding = padding;
        self
    }

    /// Applies the layer (also available through [`Module`], no import needed).
    pub fn forward(&self, input: &Tensor) -> Result<Tensor> {
        F::max_pool2d(input, self.kernel, self.stride, self.padding)
    }
}

impl Module for MaxPool2d {
    fn forward(&self, input: &Tensor) -> Result<Tensor> {
        MaxPool2d::forward(self, input)
    }
    fn parameters(&self) -> Vec<Tensor> {
        Vec::new()
    }
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }
}

/// 2-D average pooling (`nn.AvgPool2d(kernel_size, stride, padding)`;
/// PyTorch's defaults `count_include_pad=True`, `ceil_mode=False`): the
/// maths of [`F::avg_pool2d`]. The stride defaults to the kernel size and
/// the padding to 0; set them with [`stride`](AvgPool2d::stride) and
/// [`padding`](AvgPool2d::padding).
///
/// Shapes and errors as [`MaxPool2d`] (the errors naming `avg_pool2d`).
///
/// ```
/// use tapegrad::{nn, Tensor};
/// let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[1, 1, 2, 3])?;
/// let y = nn::AvgPool2d::new((2, 2)).stride((1, 1)).forward(&x)?;
/// assert_eq!(y.shape(), &[1, 1, 1, 2]);
/// assert_eq!(y.to_vec::<f32>()?, vec![3.0, 4.0]);
/// assert!(nn::AvgPool2d::new((2, 2)).padding((2, 0)).forward(&x).is_err());
/// # Ok::<(), tapegrad::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct AvgPool2d {
    kernel: (usize, usize),
    stride: (usize, usize),
    padding: (usize, usize),
}

impl AvgPool2d {
    /// The layer with window `(kh, kw)`, stride equal to the window, no padding.
    pub fn new(kernel: (usize, usize)) -> Self {
        AvgPool2d { kernel, stride: kernel, padding: (0, 0) }
    }

    /// The same layer with stride `(sh, sw)`.
    pub fn stride(mut self, stride: (usize, usize)) -> Self {
        self.stride = stride;
        self
    }

    /// The same layer with zero padding `(ph, pw)` on each side (at most half
    /// the kernel; the zeros count in the average).
    pub fn padding(mut self, padding: (usize, usize)) -> Self {
        self.padding = padding;
        self
    }

    /// Applies the layer (also available through [`Module`], no import needed).
    pub fn forward(&self, input: &Tensor) -> Result<Tensor> {
        F::avg_pool2d(input, self.kernel, self.stride, self.padding)
    }
}

impl Module for AvgPool2d {
    fn forward(&self, input: &Tensor) -> Result<Tensor> {
        AvgPool2d::forward(self, input)
    }
    fn parameters(&self) -> Vec<Tensor> {
        Vec::new()
    }
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }
}

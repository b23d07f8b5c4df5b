//! `functional` (PyTorch's `torch.nn.functional`, usually imported as `F`):
//! free functions holding all the maths: activations, layers and losses.

mod reduction;
pub use reduction::Reduction;

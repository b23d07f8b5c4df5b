//! Stateful modules (PyTorch's `torch.nn`): configuration plus a call into [`functional`](crate::functional).

//! The fused kernels behind `softmax`, `log_softmax`, `cross_entropy`,
//! `nll_loss`, `cosine_similarity` and `cosine_embedding_loss`: plain loops over slices, apart from the graph logic of the
//! ops that call them (`functional`) and from the CPU specifics (`cpu`).

pub(crate) mod row_pairs;
pub(crate) mod softmax;

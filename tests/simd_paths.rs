//! The SIMD builds of the kernels (AVX2 / AVX-512, chosen at run time) against
//! their portable build, on random data with tails (lengths that are no
//! multiple of any vector width) and unaligned starts (rows of odd length):
//! the results must be bit-identical, values and gradients. Alone in its
//! binary: the switch is process-wide.

use rand::SeedableRng;
use rand::rngs::StdRng;
use tapegrad::functional as F;
use tapegrad::tensor::set_simd;
use tapegrad::{DType, Reduction, Tensor};

/// Every kernel family once: unary maps, elementwise losses, softmax rows and
/// planes, cross-entropy (kept exponentials), nll over log_softmax. Returns the bits.
fn run_all(seed: u64) -> Vec<u32> {
    let mut r = StdRng::seed_from_u64(seed);
    let mut bits = Vec::new();
    let mut keep = |t: &Tensor| bits.extend(t.to_vec::<f32>().unwrap().into_iter().map(f32::to_bits));
    for n in [1usize, 7, 33, 1001, 70_001] {
        let x = Tensor::randn(&[n], DType::F32, &mut r).mul_scalar(20.0).unwrap().requires_grad();
        let y = Tensor::rand(&[n], DType::F32, &mut r);
        keep(&x.exp());
        keep(&x.sigmoid());
        keep(&x.abs().add_scalar(1e-3).unwrap().log());
        let l = F::binary_cross_entropy_with_logits(
            &x,
            &y,
            &F::BceWithLogitsOptions { reduction: Reduction::None, ..Default::default() },
        )
        .unwrap();
        l.backward_with(&l.full_like(1.0)).unwrap();
        keep(&l);
        keep(&x.grad().unwrap());
        keep(&F::mse_loss(&x, &y, &Default::default()).unwrap());
    }
    for (rows, c, spatial) in [(3usize, 5usize, vec![]), (37, 1001, vec![]), (2, 7, vec![13usize, 11])] {
        let mut shape = vec![rows, c];
        shape.extend(&spatial);
        let mut tshape = vec![rows];
        tshape.extend(&spatial);
        let z = Tensor::randn(&shape, DType::F32, &mut r).mul_scalar(5.0).unwrap().requires_grad();
        let t = Tensor::randint(0, c as i64, &tshape, &mut r);
        let opts = F::CrossEntropyOptions { label_smoothing: 0.1, ..Default::default() };
        let l = F::cross_entropy(&z, &t, &opts).unwrap();
        l.backward().unwrap();
        keep(&l);
        keep(&z.grad().unwrap());
        z.zero_grad();
        let l = F::nll_loss(&F::log_softmax(&z, 1).unwrap(), &t, &Default::default()).unwrap();
        l.backward().unwrap();
        keep(&l);
        keep(&z.grad().unwrap());
        keep(&F::softmax(&z, 1).unwrap());
    }
    bits
}

#[test]
fn simd_and_portable_kernels_agree_bit_for_bit() {
    let simd = run_all(11);
    set_simd(false);
    let portable = run_all(11);
    set_simd(true);
    assert_eq!(simd.len(), portable.len());
    let differ = simd.iter().zip(&portable).filter(|(a, b)| a != b).count();
    assert_eq!(differ, 0, "{differ} of {} results differ between the SIMD and portable builds", simd.len());
}

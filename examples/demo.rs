//! A short demo of the engine: fits y = 3x - 1 with a hand-written gradient
//! descent loop on tensors, printing the loss as it falls.

use rand::SeedableRng;
use tapegrad::{DType, Tensor, no_grad};

fn main() -> tapegrad::Result<()> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let x = Tensor::randn(&[256, 1], DType::F32, &mut rng);
    let noise = Tensor::randn(&[256, 1], DType::F32, &mut rng).mul_scalar(0.1)?;
    let y = ((&x * 3.0)? - 1.0)?.add(&noise)?;
    let mut w = Tensor::zeros(&[1, 1], DType::F32).requires_grad();
    let mut b = Tensor::zeros(&[1], DType::F32).requires_grad();
    for step in 0..=200 {
        let pred = x.matmul(&w)?.add(&b)?;
        let loss = pred.sub(&y)?.pow(2.0)?.mean_all();
        loss.backward()?;
        let (gw, gb) = (
            w.grad().unwrap_or_else(|| w.full_like(0.0)),
            b.grad().unwrap_or_else(|| b.full_like(0.0)),
        );
        (w, b) = no_grad(|| -> tapegrad::Result<_> {
            Ok((
                w.sub(&gw.mul_scalar(0.1)?)?.requires_grad(),
                b.sub(&gb.mul_scalar(0.1)?)?.requires_grad(),
            ))
        })?;
        if step % 20 == 0 {
            println!("step {step:>3}  loss {:.5}", loss.item::<f32>()?);
        }
    }
    println!(
        "w = {:.3}, b = {:.3} (true: 3, -1)",
        w.item::<f32>()?,
        b.item::<f32>()?
    );
    Ok(())
}

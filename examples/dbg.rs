use tapegrad::Tensor;
use tapegrad::autograd::{GradOptions, grad};
fn main() {
    let x = Tensor::from_vec(vec![0.3f64, -0.7], &[2]).unwrap().requires_grad();
    let t = Tensor::from_vec(vec![1.0f64, -1.0], &[2]).unwrap();
    let fs: Vec<Box<dyn Fn(&Tensor) -> Tensor>> = vec![
        Box::new(|x: &Tensor| {
            let z = t.mul(x).unwrap().neg();
            z.relu().add(&z.abs().neg().exp().log1p()).unwrap()
        }),
        Box::new(|x: &Tensor| {
            let z = t.mul(x).unwrap().neg();
            z.abs().neg().exp().log1p()
        }),
        Box::new(|x: &Tensor| {
            let z = t.mul(x).unwrap().neg();
            z.relu().add(&z.abs()).unwrap()
        }),
    ];
    for ff in fs {
        let y = ff(&x).mean_all();
        let g = grad(&[y], &[x.clone()], &GradOptions { create_graph: true, ..Default::default() }).unwrap()[0]
            .clone()
            .unwrap();
        let h = grad(&[g.sum_all()], &[x.clone()], &GradOptions::default()).unwrap()[0].clone().unwrap();
        println!("g {:?} h {:?}", g.to_vec::<f64>(), h.to_vec::<f64>());
    }
}

//! Writes `docs/losses.svg` (or the path given as the first argument): each
//! regression loss and its gradient against the error, and BCE /
//! BCE-with-logits against the logit. The gradients come from `backward()`.
//!
//! Run: `cargo run --release --example plot_losses`

use plotters::prelude::*;
use tapegrad::functional as F;
use tapegrad::{DType, Reduction, Tensor};

type Res<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// A tensor of `n` evenly spaced values in `[lo, hi]`, f64.
fn linspace(lo: f64, hi: f64, n: usize) -> Tensor {
    let v: Vec<f64> = (0..n).map(|i| lo + (hi - lo) * i as f64 / (n.max(2) - 1) as f64).collect();
    Tensor::from_vec(v, &[n]).unwrap_or_else(|_| Tensor::zeros(&[0], DType::F64))
}

/// `(x, loss(x), dloss/dx)` with target 0 (regression) or 1 (classification).
fn curve(
    x: &Tensor,
    f: impl Fn(&Tensor, &Tensor) -> tapegrad::Result<Tensor>,
    target: f64,
) -> Res<Vec<(f64, f64, f64)>> {
    let x = x.detach().requires_grad();
    let y = f(&x, &x.full_like(target))?;
    y.backward_with(&y.full_like(1.0))?;
    let (xs, ys) = (x.to_vec::<f64>()?, y.to_vec::<f64>()?);
    let gs = x.grad().map(|g| g.to_vec::<f64>()).transpose()?.unwrap_or_default();
    Ok(xs.into_iter().zip(ys).zip(gs).map(|((a, b), c)| (a, b, c)).collect())
}

type Series = (&'static str, Vec<(f64, f64, f64)>);

fn panel(
    area: &DrawingArea<SVGBackend, plotters::coord::Shift>,
    title: &str,
    xlabel: &str,
    series: &[Series],
    gradient: bool,
    y: std::ops::Range<f64>,
) -> Res<()> {
    let x0 = series[0].1.first().map_or(0.0, |p| p.0);
    let x1 = series[0].1.last().map_or(1.0, |p| p.0);
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(40)
        .build_cartesian_2d(x0..x1, y)?;
    chart.configure_mesh().x_desc(xlabel).light_line_style(WHITE.mix(0.0)).draw()?;
    const COLORS: [RGBColor; 5] = [
        RGBColor(214, 39, 40),
        RGBColor(31, 119, 180),
        RGBColor(44, 160, 44),
        RGBColor(148, 103, 189),
        RGBColor(255, 127, 14),
    ];
    for (i, (name, pts)) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        // a curve that a later one covers exactly (SmoothL1 with beta = 1 under Huber
        // with delta = 1; BCE∘sigmoid under BCE-with-logits) is drawn wider, to stay visible
        let covered =
            series[i + 1..].iter().any(|later| later.1.iter().zip(pts).all(|(a, b)| (a.1 - b.1).abs() < 1e-9));
        let width = if covered { 6 } else { 2 };
        let line = pts.iter().map(|&(x, l, g)| (x, if gradient { g } else { l }));
        chart
            .draw_series(LineSeries::new(line, color.stroke_width(width)))?
            .label(*name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(width)));
    }
    chart.configure_series_labels().border_style(BLACK).background_style(WHITE.mix(0.8)).draw()?;
    Ok(())
}

fn main() -> Res<()> {
    let out = std::env::args().nth(1).unwrap_or_else(|| format!("{}/docs/losses.svg", env!("CARGO_MANIFEST_DIR")));
    if let Some(dir) = std::path::Path::new(&out).parent() {
        std::fs::create_dir_all(dir)?;
    }
    let none = Reduction::None;
    let e = linspace(-3.0, 3.0, 601);
    let regression: Vec<Series> = vec![
        ("MSE (L2)", curve(&e, |x, t| F::mse_loss(x, t, &F::MseOptions { reduction: none, weight: None }), 0.0)?),
        ("L1 (MAE)", curve(&e, |x, t| F::l1_loss(x, t, &F::L1Options { reduction: none, weight: None }), 0.0)?),
        (
            "SmoothL1, beta = 1",
            curve(&e, |x, t| F::smooth_l1_loss(x, t, &F::SmoothL1Options { reduction: none, beta: 1.0 }), 0.0)?,
        ),
        (
            "SmoothL1, beta = 0.5",
            curve(&e, |x, t| F::smooth_l1_loss(x, t, &F::SmoothL1Options { reduction: none, beta: 0.5 }), 0.0)?,
        ),
        (
            "Huber, delta = 1",
            curve(&e, |x, t| F::huber_loss(x, t, &F::HuberOptions { reduction: none, delta: 1.0, weight: None }), 0.0)?,
        ),
    ];
    let z = linspace(-6.0, 6.0, 601);
    let binary: Vec<Series> = vec![
        (
            "BCE(sigmoid(z), 1)",
            curve(
                &z,
                |x, t| F::binary_cross_entropy(&F::sigmoid(x)?, t, &F::BceOptions { weight: None, reduction: none }),
                1.0,
            )?,
        ),
        (
            "BCEWithLogits(z, 1)",
            curve(
                &z,
                |x, t| {
                    F::binary_cross_entropy_with_logits(
                        x,
                        t,
                        &F::BceWithLogitsOptions { reduction: none, ..Default::default() },
                    )
                },
                1.0,
            )?,
        ),
        (
            "BCEWithLogits(z, 0)",
            curve(
                &z,
                |x, t| {
                    F::binary_cross_entropy_with_logits(
                        x,
                        t,
                        &F::BceWithLogitsOptions { reduction: none, ..Default::default() },
                    )
                },
                0.0,
            )?,
        ),
    ];
    let root = SVGBackend::new(&out, (1200, 900)).into_drawing_area();
    root.fill(&WHITE)?;
    let areas = root.split_evenly((2, 2));
    panel(&areas[0], "regression losses", "error x - y", &regression, false, 0.0..9.2)?;
    panel(&areas[1], "their gradients (from backward)", "error x - y", &regression, true, -6.3..6.3)?;
    panel(&areas[2], "binary cross-entropy", "logit z", &binary, false, 0.0..6.5)?;
    panel(&areas[3], "its gradient (from backward)", "logit z", &binary, true, -1.1..1.1)?;
    root.present()?;
    println!("wrote {out}");
    Ok(())
}

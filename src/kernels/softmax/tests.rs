//! The kernels against each other and against plain passes.
use super::probabilities::prob_sums;
use super::*;

/// The row kernels given a row past their unit (the next unit's first,
/// read for its maximum only) make the same bits as without it, for long
/// rows (the fused walks) and short ones (which never look at it).
#[test]
fn a_row_past_the_unit_changes_no_bit() {
    let mut x = 0x2545_f491u32;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        (x as f32 / u32::MAX as f32 - 0.5) * 12.0
    };
    for c in [10, 70, 1000] {
        let rows = 9;
        let z: Vec<f32> = (0..(rows + 1) * c).map(|_| next()).collect();
        let p: Vec<f32> = (0..rows * c).map(|_| next().abs() / c as f32).collect();
        let t: Vec<i64> = (0..rows).map(|r| ((r * 7) % c) as i64).collect();
        let w: Vec<f32> = (0..c).map(|_| next().abs()).collect();
        let run = |z: &[f32]| {
            let o = || vec![0.0f32; rows];
            let (mut m, mut ls, mut tw, mut zw, mut e) = (o(), o(), o(), o(), vec![0.0f32; rows * c]);
            stats_prob(
                Logits { z, c, inner: 1 },
                0,
                Probs { t: &p, w: Some(&w), eps: 0.1 },
                Some(0.5),
                StatsOut { m: &mut m, ls: &mut ls },
                TargetSums { tw: &mut tw, zw: &mut zw },
                &mut e,
            );
            let (mut m2, mut l2, mut sm, mut e2) = (o(), o(), o(), vec![0.0f32; rows * c]);
            let g = RowGrads {
                t: &t,
                ignore: -100,
                w: Some(&w),
                s: 0.25,
                keep: 0.9,
                uniform: 0.1 / c as f32,
                wsum: w.iter().sum(),
            };
            let g = smooth_fused(c, 1).then_some(g);
            stats_smooth(
                Logits { z, c, inner: 1 },
                0,
                Some(&w),
                g,
                StatsOut { m: &mut m2, ls: &mut l2 },
                &mut sm,
                &mut e2,
            );
            let (mut m3, mut l3, mut e3) = (o(), o(), vec![0.0f32; rows * c]);
            stats_keep(z, c, 1, 0, &mut m3, &mut l3, &mut e3);
            [m, ls, tw, zw, e, m2, l2, sm, e2, m3, l3, e3].map(|v| bits(&v))
        };
        assert_eq!(run(&z), run(&z[..rows * c]), "rows of {c}");
    }
}

/// Units of rows cover every row once, in order; wide rows come 16 to a
/// unit while that leaves 8 units, never fewer units than before.
#[test]
fn row_units_cover_the_rows_in_runs_of_at_least_16() {
    for (n, c) in [(2048, 8192), (2048, 1000), (64, 1000), (16, 1 << 20), (100, 4096), (7, 3), (131072, 10)] {
        let units = Dims { n, c, inner: 1 }.units();
        let mut next = 0;
        for u in &units {
            assert_eq!((u.j0, u.e0), (next, next * c), "({n}, {c})");
            next += u.len;
        }
        assert_eq!(next, n, "({n}, {c})");
        let old = (PAR_THRESHOLD / c).max(1);
        let len = units[0].len;
        assert!(len >= old.min(n), "({n}, {c}): units of {len} rows");
        assert!(len >= 16.min(n) || n.div_ceil(len) >= 8, "({n}, {c}): units of {len} rows");
        assert!(units.len() >= n.div_ceil(old).min(8), "({n}, {c}): {} units", units.len());
    }
    assert_eq!(Dims { n: 2048, c: 8192, inner: 1 }.units()[0].len, 16);
}

/// Reproducible values in [−15, 15).
fn values(seed: u64) -> impl FnMut() -> f32 {
    let mut u = crate::tensor::test_values::uniform(seed);
    move || (u() - 0.5) * 30.0
}

/// The bits of each value, every NaN as one (a NaN's sign is not meaningful).
fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| if x.is_nan() { u32::MAX } else { x.to_bits() }).collect()
}

/// The fused statistics-and-gradient kernel of `nll_loss(log_softmax)`
/// equals `stats_pick` then `softmax_onehot` bit for bit: rows long and
/// short, planes with a partial last block, ignored targets (in every
/// block, in some, in none), class weights with zeros, a row all `-inf`
/// and one holding NaN. Both kernels take the loop for blocks of one
/// scale where they can, so the gradient is also checked against the
/// formula itself, entry by entry.
#[test]
fn fused_pick_and_gradient_equal_separate_kernels() {
    let mut next = values(11);
    let shapes = [(9usize, 1001usize, 1usize), (6, 10, 1), (300, 21, 1), (7, 64, 1), (3, 7, 300), (2, 21, 700)];
    for ((rows, c, inner), mode) in
        shapes.into_iter().flat_map(|s| ["weighted", "some ignored", "plain"].map(|m| (s, m)))
    {
        let mut z: Vec<f32> = (0..rows * c * inner).map(|_| next()).collect();
        if inner == 1 {
            z[c..2 * c].fill(f32::NEG_INFINITY);
            z[2 * c + 3] = f32::NAN;
        }
        let positions = rows * inner;
        let ignored = |j: usize| match mode {
            "weighted" => j % 5 == 1,
            "some ignored" => j % 5 == 1 && j < positions / 2,
            _ => false,
        };
        let t: Vec<i64> =
            (0..positions).map(|j| if ignored(j) { -100 } else { (next().abs() as usize % c) as i64 }).collect();
        let w: Vec<f32> = (0..positions).map(|j| if j % 7 == 4 { 0.0 } else { next().abs() / 9.0 }).collect();
        let scales = Scales { s: 0.37f32, w: (mode == "weighted").then_some(&w[..]) };
        let mut a = vec![0.0; positions];
        scales.fill(&t, -100, 0..positions, &mut a);
        let (mut m1, mut l1, mut p1) = (vec![0.0; positions], vec![0.0; positions], vec![0.0; positions]);
        let (mut m2, mut l2, mut p2) = (m1.clone(), l1.clone(), p1.clone());
        let (mut g1, mut g2) = (vec![0.0; z.len()], vec![0.0; z.len()]);
        // the kernels take one unit: all the rows, or one plane (sample)
        let unit = if inner == 1 { positions } else { inner };
        for u in 0..positions / unit {
            let (p, e) = (u * unit..(u + 1) * unit, u * unit * c..(u + 1) * unit * c);
            let (z, t, a) = (&z[e.clone()], &t[p.clone()], &a[p.clone()]);
            let scales = Scales { w: scales.w.map(|w| &w[p.clone()]), ..scales };
            let g1 = &mut g1[e.clone()];
            let (m1, l1, p1) = (&mut m1[p.clone()], &mut l1[p.clone()], &mut p1[p.clone()]);
            stats_pick_onehot(
                Logits { z, c, inner },
                lead_of(g1),
                Indices { t, ignore: -100 },
                scales,
                StatsOut { m: m1, ls: l1 },
                p1,
                g1,
            );
            let (m2, l2, p2) = (&mut m2[p.clone()], &mut l2[p.clone()], &mut p2[p.clone()]);
            stats_pick(Logits { z, c, inner }, lead_of(z), Indices { t, ignore: -100 }, StatsOut { m: m2, ls: l2 }, p2);
            losses_of_picked(p2, scales.w);
            softmax_onehot(Logits { z, c, inner }, Stats { m: m2, ls: l2 }, a, Indices { t, ignore: -100 }, &mut g2[e]);
        }
        let what = format!("{rows}x{c}x{inner} {mode}");
        assert_eq!(bits(&m1), bits(&m2), "m {what}");
        assert_eq!(bits(&l1), bits(&l2), "ls {what}");
        assert_eq!(bits(&p1), bits(&p2), "picked {what}");
        assert_eq!(bits(&g1), bits(&g2), "gradient {what}");
        assert!(g1.iter().any(|&v| v != 0.0), "{what}: some gradient");
        let d = Dims { n: rows, c, inner };
        for j in 0..positions {
            for k in 0..c {
                let at = d.offset(j, k);
                let y = (a[j] * (-l1[j]).exp_fast()) * (z[at] - m1[j]).exp_capped();
                let want = onehot_term(y, a[j], t[j] == k as i64);
                // (a NaN's sign depends on the order of the operations that made it)
                let same = g1[at].to_bits() == want.to_bits() || (g1[at].is_nan() && want.is_nan());
                assert!(same, "{what}: position {j} class {k}: {} vs {want}", g1[at]);
            }
        }
    }
}

/// The fused label-smoothing and probability-target statistics equal the
/// separate passes bit for bit (maximum, log-sum-exp, kept exponentials,
/// smoothing term, target sums): weighted
/// and not, keeping and not, rows long and short (with tails), a row with
/// `+inf`, one with NaN, one all `-inf`, and planes.
#[test]
fn fused_statistics_equal_separate_passes() {
    let mut next = values(7);
    for (rows, c, inner) in
        [(9usize, 1001usize, 1usize), (5, 64, 1), (4, 70, 1), (6, 10, 1), (200, 33, 1), (3, 7, 300), (1, 5, 1200)]
    {
        let mut z: Vec<f32> = (0..rows * c * inner).map(|_| next()).collect();
        if inner == 1 {
            z[c + 5] = f32::INFINITY;
            z[2 * c + 1] = f32::NAN;
            z[3 * c..4 * c].fill(f32::NEG_INFINITY);
        }
        let w: Vec<f32> = (0..c).map(|_| next().abs() / 15.0).collect();
        let t: Vec<f32> = (0..z.len()).map(|_| next().abs() / 15.0).collect();
        let positions = rows * inner;
        for weight in [None, Some(&w[..])] {
            for keep in [false, true] {
                let (mut m1, mut l1, mut s1) = (vec![0.0; positions], vec![0.0; positions], vec![0.0; positions]);
                let (mut m2, mut l2, mut s2) = (m1.clone(), l1.clone(), s1.clone());
                let (mut e1, mut e2) =
                    (vec![0.0; if keep { z.len() } else { 0 }], vec![0.0; if keep { z.len() } else { 0 }]);
                stats_smooth(
                    Logits { z: &z, c, inner },
                    lead_of_walk(&z, &e1),
                    weight,
                    None,
                    StatsOut { m: &mut m1, ls: &mut l1 },
                    &mut s1,
                    &mut e1,
                );
                if keep {
                    stats_keep(&z, c, inner, lead_of(&e2), &mut m2, &mut l2, &mut e2);
                } else {
                    stats(&z, c, inner, lead_of(&z), &mut m2, &mut l2);
                }
                weighted_shifted_sum(&z, c, inner, &m2, weight, &mut s2);
                // raw bits, NaNs included: these paths must agree on a NaN's sign too
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                let what = format!("{rows}x{c}x{inner} weighted {} keep {keep}", weight.is_some());
                assert_eq!(bits(&m1), bits(&m2), "m {what}");
                assert_eq!(bits(&l1), bits(&l2), "ls {what}");
                assert_eq!(bits(&s1), bits(&s2), "smoothing {what}");
                assert_eq!(bits(&e1), bits(&e2), "exponentials {what}");
                // probability targets: the target sums fused, against prob_sums, with
                // label smoothing and without (then, unweighted, the plain kernels)
                for eps in [0.1f32, 0.0] {
                    let (mut tw1, mut zw1) = (vec![0.0; positions], vec![0.0; positions]);
                    let (mut tw2, mut zw2) = (tw1.clone(), zw1.clone());
                    e1.fill(0.0);
                    stats_prob(
                        Logits { z: &z, c, inner },
                        lead_of_walk(&z, &e1),
                        Probs { t: &t, w: weight, eps },
                        None,
                        StatsOut { m: &mut m1, ls: &mut l1 },
                        TargetSums { tw: &mut tw1, zw: &mut zw1 },
                        &mut e1,
                    );
                    prob_sums(Logits { z: &z, c, inner }, Probs { t: &t, w: weight, eps }, &m2, &mut tw2, &mut zw2);
                    assert_eq!(bits(&m1), bits(&m2), "m (probabilities) {what}");
                    assert_eq!(bits(&l1), bits(&l2), "ls (probabilities) {what}");
                    assert_eq!(bits(&e1), bits(&e2), "exponentials (probabilities) {what}");
                    assert_eq!(bits(&tw1), bits(&tw2), "target weight {what}");
                    assert_eq!(bits(&zw1), bits(&zw2), "target sum {what}");
                    if keep {
                        // the gradient made row by row in the walk, against prob_grads_kept after it
                        let s = vec![0.37; positions];
                        prob_grads_kept(
                            &mut e1,
                            Logits { z: &z, c, inner },
                            Probs { t: &t, w: weight, eps },
                            Stats { m: &m1, ls: &l1 },
                            &s,
                            &tw1,
                            &mut [],
                        );
                        let mut e3 = vec![0.0; z.len()];
                        let (mut tw3, mut zw3) = (vec![0.0; positions], vec![0.0; positions]);
                        stats_prob(
                            Logits { z: &z, c, inner },
                            lead_of_walk(&z, &e3),
                            Probs { t: &t, w: weight, eps },
                            Some(0.37),
                            StatsOut { m: &mut m2, ls: &mut l2 },
                            TargetSums { tw: &mut tw3, zw: &mut zw3 },
                            &mut e3,
                        );
                        assert_eq!(bits(&e3), bits(&e1), "gradient (probabilities) {what}");
                        assert_eq!(bits(&tw3), bits(&tw1), "target weight with gradient {what}");
                        assert!(e3.iter().zip(&z).any(|(g, v)| g.is_finite() && *g != 0.0 && v.is_finite()));
                    }
                    if weight.is_none() && eps == 0.0 {
                        // the plain kernels give what the general formula gives with weights of one
                        let ones = vec![1.0; c];
                        let (mut tw4, mut zw4) = (vec![0.0; positions], vec![0.0; positions]);
                        prob_sums(
                            Logits { z: &z, c, inner },
                            Probs { t: &t, w: Some(&ones), eps },
                            &m2,
                            &mut tw4,
                            &mut zw4,
                        );
                        assert_eq!(bits(&tw4), bits(&tw1), "plain target weight {what}");
                        assert_eq!(bits(&zw4), bits(&zw1), "plain target sum {what}");
                        if keep {
                            let (s, mut e4) = (vec![0.37; positions], e2.clone());
                            prob_grads_kept(
                                &mut e4,
                                Logits { z: &z, c, inner },
                                Probs { t: &t, w: Some(&ones), eps },
                                Stats { m: &m1, ls: &l1 },
                                &s,
                                &tw1,
                                &mut [],
                            );
                            let mut e5 = e2.clone();
                            prob_grads_kept(
                                &mut e5,
                                Logits { z: &z, c, inner },
                                Probs { t: &t, w: None, eps },
                                Stats { m: &m1, ls: &l1 },
                                &s,
                                &tw1,
                                &mut [],
                            );
                            assert_eq!(bits(&e5), bits(&e4), "plain gradient {what}");
                        }
                    }
                }
            }
        }
    }
}

/// Plane blocks start where the output (or input) buffer is 64-byte
/// aligned, so they move with the address; the results must not. Every
/// position has one exponential that the capped and the full-range `exp`
/// round differently (`e^−87.2`), and the plane holds a `+inf` (so the
/// full-range one is taken everywhere) and a NaN: statistics, kept
/// exponentials, picks and gradients are the same bits at all 16 offsets.
#[test]
fn plane_results_do_not_depend_on_the_buffers_alignment() {
    let mut next = values(5);
    let (c, inner) = (21usize, 700usize);
    for special in [true, false] {
        let mut z: Vec<f32> = (0..c * inner).map(|_| next()).collect();
        for j in 0..inner {
            z[j] = 20.0;
            z[inner + j] = 20.0 - 87.2;
        }
        if special {
            z[5 * inner + 300] = f32::INFINITY;
            z[7 * inner + 123] = f32::NAN;
        }
        let t: Vec<i64> = (0..inner).map(|j| if j % 9 == 2 { -100 } else { (j % c) as i64 }).collect();
        let a = Scales { s: 0.25f32, w: None };
        let run = |off: usize| {
            let mut zb = vec![0.0f32; z.len() + 16];
            zb[off..off + z.len()].copy_from_slice(&z);
            let zs = &zb[off..off + z.len()];
            let (mut m, mut l, mut e) = (vec![0.0; inner], vec![0.0; inner], vec![0.0f32; z.len() + 16]);
            stats_keep(zs, c, inner, lead_of(&e[off..off + z.len()]), &mut m, &mut l, &mut e[off..off + z.len()]);
            let (mut m2, mut l2, mut p, mut g) = (m.clone(), l.clone(), vec![0.0; inner], vec![0.0f32; z.len() + 16]);
            stats_pick_onehot(
                Logits { z: zs, c, inner },
                lead_of(&g[off..off + z.len()]),
                Indices { t: &t, ignore: -100 },
                a,
                StatsOut { m: &mut m2, ls: &mut l2 },
                &mut p,
                &mut g[off..off + z.len()],
            );
            let (mut m3, mut l3) = (m.clone(), l.clone());
            stats(zs, c, inner, lead_of(zs), &mut m3, &mut l3);
            let e = &e[off..off + z.len()];
            let g = &g[off..off + z.len()];
            [bits(&m), bits(&l), bits(e), bits(&m2), bits(&l2), bits(&p), bits(g), bits(&m3), bits(&l3)]
        };
        let aligned = run(0);
        if special {
            // the full-range exp flushes e^−87.2 to 0 (the capped one does not),
            // but at the +inf position (shift 0: e^−67.2)
            let flushed = aligned[2][inner..2 * inner].iter().enumerate().all(|(j, &b)| (b == 0) != (j == 300));
            assert!(flushed, "full-range exp everywhere");
        } else {
            assert!(aligned[2][inner..2 * inner].iter().all(|&b| b != 0), "capped exp everywhere");
        }
        for off in 1..16 {
            assert_eq!(run(off), aligned, "offset {off} special {special}");
        }
    }
}

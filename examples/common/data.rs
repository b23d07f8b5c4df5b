//! Loading the data sets in `data/` (see `data/README.md` for provenance),
//! splitting, standardising and batching them.

use flate2::read::GzDecoder;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use std::io::Read;
use tapegrad::{Result, Tensor};

/// A table of `n` rows of `d` features with one target per row.
pub struct Table<Y> {
    pub x: Vec<f32>,
    pub y: Vec<Y>,
    pub d: usize,
}

impl<Y: Copy> Table<Y> {
    pub fn len(&self) -> usize {
        self.y.len()
    }
    /// The rows `idx` as an `(idx.len(), d)` tensor and their targets.
    pub fn rows(&self, idx: &[usize]) -> (Vec<f32>, Vec<Y>) {
        let x = idx.iter().flat_map(|&i| self.x[i * self.d..(i + 1) * self.d].iter().copied()).collect();
        (x, idx.iter().map(|&i| self.y[i]).collect())
    }
    pub fn features(&self, idx: &[usize]) -> Result<Tensor> {
        Tensor::from_vec(self.rows(idx).0, &[idx.len(), self.d])
    }
}

fn path(name: &str) -> String {
    format!("{}/data/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn read(name: &str) -> std::io::Result<String> {
    let bytes = std::fs::read(path(name))?;
    if name.ends_with(".gz") {
        let mut s = String::new();
        GzDecoder::new(&bytes[..]).read_to_string(&mut s)?;
        Ok(s)
    } else {
        String::from_utf8(bytes).map_err(std::io::Error::other)
    }
}

fn numbers(line: &str, sep: impl Fn(char) -> bool) -> std::io::Result<Vec<f64>> {
    line.split(sep)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim().parse::<f64>().map_err(|e| std::io::Error::other(format!("{s:?}: {e}"))))
        .collect()
}

/// 1797 handwritten digits: 64 pixels scaled to [0, 1], labels 0..9.
pub fn digits() -> std::io::Result<Table<i64>> {
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for line in read("digits.csv.gz")?.lines().filter(|l| !l.is_empty()) {
        let v = numbers(line, |c| c == ',')?;
        x.extend(v[..64].iter().map(|p| (p / 16.0) as f32));
        y.push(v[64] as i64);
    }
    Ok(Table { x, y, d: 64 })
}

/// 569 tumours: 30 features, label 1 = benign, 0 = malignant.
pub fn breast_cancer() -> std::io::Result<Table<f32>> {
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for line in read("breast_cancer.csv")?.lines().skip(1).filter(|l| !l.is_empty()) {
        let v = numbers(line, |c| c == ',')?;
        x.extend(v[..30].iter().map(|&f| f as f32));
        y.push(v[30] as f32);
    }
    Ok(Table { x, y, d: 30 })
}

/// 442 patients: 10 raw baseline variables, target the disease progression.
pub fn diabetes() -> std::io::Result<Table<f32>> {
    let mut x = Vec::new();
    for line in read("diabetes_data_raw.csv.gz")?.lines().filter(|l| !l.is_empty()) {
        x.extend(numbers(line, char::is_whitespace)?.into_iter().map(|f| f as f32));
    }
    let y: Vec<f32> = read("diabetes_target.csv.gz")?
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.trim().parse::<f64>().map(|v| v as f32).map_err(std::io::Error::other))
        .collect::<std::io::Result<_>>()?;
    Ok(Table { x, y, d: 10 })
}

/// A shuffled 80/20 split of `0..n` with a fixed seed: `(train, test)`.
pub fn split(n: usize, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut StdRng::seed_from_u64(seed));
    let n_test = n / 5;
    let test = idx.split_off(n - n_test);
    (idx, test)
}

/// Standardises every feature with the mean and standard deviation of the `train` rows.
pub fn standardize<Y>(t: &mut Table<Y>, train: &[usize]) {
    for j in 0..t.d {
        let vals: Vec<f64> = train.iter().map(|&i| t.x[i * t.d + j] as f64).collect();
        let mean = vals.iter().sum::<f64>() / vals.len() as f64;
        let sd = (vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / vals.len() as f64).sqrt().max(1e-12);
        for i in 0..t.y.len() {
            let v = &mut t.x[i * t.d + j];
            *v = ((*v as f64 - mean) / sd) as f32;
        }
    }
}

/// Mini-batches of `idx`, reshuffled by `rng`.
pub fn batches(idx: &[usize], size: usize, rng: &mut StdRng) -> Vec<Vec<usize>> {
    let mut order = idx.to_vec();
    order.shuffle(rng);
    order.chunks(size).map(<[usize]>::to_vec).collect()
}

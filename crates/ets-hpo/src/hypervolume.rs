//! Hypervolume tools for multi-objective TPE, as Optuna's `_hypervolume` and the
//! multi-objective parts of its TPE sampler. All vectors are losses (smaller is better).

/// Optuna's `EPS` in the TPE sampler.
const EPS: f64 = 1e-12;

fn dominates_or_equal(a: &[f64], b: &[f64]) -> bool {
    a.iter().zip(b).all(|(x, y)| x <= y)
}

/// Volume dominated by `points` and bounded by `reference` (exact; recursive slicing on
/// the last objective, fine for the at most a few dozen points TPE passes in).
pub(crate) fn hypervolume(points: &[Vec<f64>], reference: &[f64]) -> f64 {
    let pts: Vec<&Vec<f64>> = points
        .iter()
        .filter(|p| p.iter().zip(reference).all(|(x, r)| x < r))
        .collect();
    if pts.is_empty() {
        return 0.0;
    }
    let d = reference.len();
    if d == 1 {
        return reference[0] - pts.iter().map(|p| p[0]).fold(f64::INFINITY, f64::min);
    }
    let mut sorted = pts;
    sorted.sort_by(|a, b| a[d - 1].total_cmp(&b[d - 1]));
    let mut volume = 0.0;
    for i in 0..sorted.len() {
        let z = sorted[i][d - 1];
        let next = sorted.get(i + 1).map_or(reference[d - 1], |p| p[d - 1]);
        if next <= z {
            continue;
        }
        let slice: Vec<Vec<f64>> = sorted[..=i].iter().map(|p| p[..d - 1].to_vec()).collect();
        volume += (next - z) * hypervolume(&slice, &reference[..d - 1]);
    }
    volume
}

/// Optuna's `_get_reference_point`: 1.1× the worst loss (0.9× when negative), EPS for 0.
pub(crate) fn reference_point(losses: &[Vec<f64>]) -> Vec<f64> {
    let d = losses[0].len();
    (0..d)
        .map(|j| {
            let worst = losses
                .iter()
                .map(|l| l[j])
                .fold(f64::NEG_INFINITY, f64::max);
            let r = (1.1 * worst).max(0.9 * worst);
            if r == 0.0 { EPS } else { r }
        })
        .collect()
}

/// Optuna's greedy hypervolume subset selection (`_solve_hssp`): picks `k` of `losses`
/// (one non-domination rank), each time the one adding the most hypervolume; duplicates
/// are considered once, in lexicographic order, as NumPy's `unique(axis=0)` orders them.
/// Returns positions into `losses`.
pub(crate) fn solve_hssp(losses: &[Vec<f64>], k: usize, reference: &[f64]) -> Vec<usize> {
    if k >= losses.len() {
        return (0..losses.len()).collect();
    }
    let mut order: Vec<usize> = (0..losses.len()).collect();
    order.sort_by(|a, b| {
        losses[*a]
            .iter()
            .zip(&losses[*b])
            .map(|(x, y)| x.total_cmp(y))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(a.cmp(b))
    });
    let mut unique: Vec<usize> = Vec::new();
    for i in order {
        if unique.last().is_none_or(|u| losses[*u] != losses[i]) {
            unique.push(i);
        }
    }
    if unique.len() < k {
        // Every distinct point, then the first duplicates by position.
        let mut chosen = vec![false; losses.len()];
        unique.iter().for_each(|u| chosen[*u] = true);
        let mut extra = k - unique.len();
        for c in chosen.iter_mut() {
            if !*c && extra > 0 {
                *c = true;
                extra -= 1;
            }
        }
        return (0..losses.len()).filter(|i| chosen[*i]).collect();
    }
    if reference.iter().any(|r| !r.is_finite()) {
        return unique[..k].to_vec();
    }
    let mut selected: Vec<Vec<f64>> = Vec::new();
    let mut picked = Vec::new();
    let mut left = unique;
    let mut hv = 0.0;
    for _ in 0..k {
        let mut best = 0;
        let mut best_gain = f64::NEG_INFINITY;
        for (pos, i) in left.iter().enumerate() {
            selected.push(losses[*i].clone());
            let gain = hypervolume(&selected, reference) - hv;
            selected.pop();
            if gain > best_gain {
                best = pos;
                best_gain = gain;
            }
        }
        let i = left.remove(best);
        selected.push(losses[i].clone());
        hv += best_gain;
        picked.push(i);
    }
    picked
}

/// Optuna's `_calculate_weights_below_for_multi_objective` (no constraints): the good
/// trials on their own Pareto front weigh by their hypervolume contribution relative to
/// the largest one; all others get EPS.
pub(crate) fn weights_below(losses: &[Vec<f64>]) -> Vec<f64> {
    let n = losses.len();
    if n <= 1 {
        return vec![1.0; n];
    }
    let reference = reference_point(losses);
    let on_front: Vec<usize> = (0..n)
        .filter(|i| {
            !(0..n).any(|j| dominates_or_equal(&losses[j], &losses[*i]) && losses[j] != losses[*i])
        })
        .collect();
    let front: Vec<Vec<f64>> = on_front.iter().map(|i| losses[*i].clone()).collect();
    let hv = hypervolume(&front, &reference);
    if hv.is_infinite() {
        return vec![1.0; n];
    }
    let mut contribs = vec![0.0; n];
    for (pos, i) in on_front.iter().enumerate() {
        let rest: Vec<Vec<f64>> = front
            .iter()
            .enumerate()
            .filter(|(p, _)| *p != pos)
            .map(|(_, v)| v.clone())
            .collect();
        contribs[*i] = hv - hypervolume(&rest, &reference);
    }
    let max = contribs.iter().copied().fold(EPS, f64::max);
    contribs.iter().map(|c| (c / max).max(EPS)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hypervolume_of_simple_sets() {
        // Two 3×1 strips overlapping in a unit square.
        let r = [4.0, 4.0];
        assert_eq!(hypervolume(&[vec![1.0, 3.0], vec![3.0, 1.0]], &r), 5.0);
        assert_eq!(hypervolume(&[vec![2.0, 2.0], vec![3.0, 3.0]], &r), 4.0);
        // Unit cube plus a 2×0.5×0.5 bar overlapping it by 0.25.
        let r3 = [2.0, 2.0, 2.0];
        let hv = hypervolume(&[vec![1.0, 1.0, 1.0], vec![0.0, 1.5, 1.5]], &r3);
        assert!((hv - 1.25).abs() < 1e-12, "{hv}");
    }
}

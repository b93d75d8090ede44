//! Best trial (one objective) and Pareto front (several).

use crate::{Direction, Trial, TrialState};

/// True when loss vector `a` is no worse than `b` everywhere and better somewhere.
pub fn dominates(a: &[f64], b: &[f64]) -> bool {
    a.iter().zip(b).all(|(x, y)| x <= y) && a.iter().zip(b).any(|(x, y)| x < y)
}

fn losses(t: &Trial, directions: &[Direction]) -> Option<Vec<f64>> {
    if t.state != TrialState::Complete {
        return None;
    }
    let v = t.values.as_ref()?;
    if v.len() != directions.len() || v.iter().any(|x| x.is_nan()) {
        return None;
    }
    Some(directions.iter().zip(v).map(|(d, x)| d.loss(*x)).collect())
}

/// The complete trial with the best value; ties go to the lower trial number (Optuna's
/// `best_trial` keeps the first one found). `None` when no complete trial has a value.
pub fn best_trial(history: &[Trial], direction: Direction) -> Option<&Trial> {
    history
        .iter()
        .filter_map(|t| Some((losses(t, &[direction])?[0], t)))
        .min_by(|(a, t), (b, u)| a.total_cmp(b).then(t.number.cmp(&u.number)))
        .map(|(_, t)| t)
}

/// Complete trials that no other complete trial dominates (Optuna's `best_trials`),
/// ordered by trial number. Trials with identical values are all kept.
pub fn pareto_front<'a>(history: &'a [Trial], directions: &[Direction]) -> Vec<&'a Trial> {
    let rows: Vec<(Vec<f64>, &Trial)> = history
        .iter()
        .filter_map(|t| Some((losses(t, directions)?, t)))
        .collect();
    let mut front: Vec<&Trial> = rows
        .iter()
        .filter(|(a, _)| !rows.iter().any(|(b, _)| dominates(b, a)))
        .map(|(_, t)| *t)
        .collect();
    front.sort_by_key(|t| t.number);
    front
}

/// Non-domination rank of each loss vector (0 = Pareto front), by repeated peeling.
pub(crate) fn nondomination_ranks(losses: &[Vec<f64>]) -> Vec<usize> {
    let mut rank = vec![usize::MAX; losses.len()];
    let mut r = 0;
    let mut left: Vec<usize> = (0..losses.len()).collect();
    while !left.is_empty() {
        let front: Vec<usize> = left
            .iter()
            .copied()
            .filter(|i| !left.iter().any(|j| dominates(&losses[*j], &losses[*i])))
            .collect();
        for i in &front {
            rank[*i] = r;
        }
        left.retain(|i| !front.contains(i));
        r += 1;
    }
    rank
}

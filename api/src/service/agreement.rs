//! Inter-rater agreement on discontinuity judgments: percent agreement, Krippendorff's alpha
//! (nominal and ordinal; any number of evaluators; missing judgments allowed), and Cohen's
//! kappa for two evaluators, unweighted and with quadratic weights. Values are category
//! ranks (for intensity, NONE = 0 … PARADIGMATIC = 3).

use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Nominal,
    Ordinal,
}

/// One unit (a case, intervention and dimension): each evaluator's value, if any.
pub type Unit = Vec<Option<u32>>;

#[derive(Debug, Clone, PartialEq)]
pub struct Agreement {
    /// Units judged by at least two evaluators.
    pub units: usize,
    /// Evaluators with a judgment in one of those units: the others were compared with
    /// nobody.
    pub evaluators: usize,
    /// `None` when no unit was compared: no pair, so no share of agreeing pairs.
    pub percent: Option<f64>,
    pub alpha: Option<f64>,
    pub kappa: Option<f64>,
    pub weighted_kappa: Option<f64>,
}

fn pairable(units: &[Unit]) -> Vec<Vec<u32>> {
    units
        .iter()
        .map(|u| u.iter().flatten().copied().collect::<Vec<u32>>())
        .filter(|v| v.len() >= 2)
        .collect()
}

/// The coincidence matrix o[c][k] (Krippendorff 2011, §B).
fn coincidences(units: &[Vec<u32>]) -> BTreeMap<(u32, u32), f64> {
    let mut o = BTreeMap::new();
    for values in units {
        let weight = 1.0 / (values.len() as f64 - 1.0);
        for (i, &a) in values.iter().enumerate() {
            for (j, &b) in values.iter().enumerate() {
                if i != j {
                    *o.entry((a, b)).or_insert(0.0) += weight;
                }
            }
        }
    }
    o
}

/// Squared distance between categories; the ordinal one weighs the categories between them
/// by how often they were used.
fn delta2(level: Level, c: u32, k: u32, marginals: &BTreeMap<u32, f64>) -> f64 {
    match level {
        Level::Nominal => f64::from(u8::from(c != k)),
        Level::Ordinal => {
            let (lo, hi) = if c <= k { (c, k) } else { (k, c) };
            let between: f64 = marginals.range(lo..=hi).map(|(_, n)| n).sum();
            let d = between - (marginals[&c] + marginals[&k]) / 2.0;
            d * d
        }
    }
}

/// Krippendorff's alpha; `None` when nothing is pairable or the values never vary.
pub fn krippendorff_alpha(units: &[Unit], level: Level) -> Option<f64> {
    let o = coincidences(&pairable(units));
    let mut marginals: BTreeMap<u32, f64> = BTreeMap::new();
    for (&(c, _), &w) in &o {
        *marginals.entry(c).or_insert(0.0) += w;
    }
    let n: f64 = marginals.values().sum();
    if n <= 1.0 {
        return None;
    }
    let observed: f64 = o
        .iter()
        .map(|(&(c, k), &w)| w * delta2(level, c, k, &marginals))
        .sum();
    let mut expected = 0.0;
    for (&c, &nc) in &marginals {
        for (&k, &nk) in &marginals {
            expected += nc * nk * delta2(level, c, k, &marginals);
        }
    }
    if expected == 0.0 {
        return None;
    }
    Some(1.0 - (n - 1.0) * observed / expected)
}

/// Share of agreeing pairs of judgments within units.
pub fn percent_agreement(units: &[Unit]) -> Option<f64> {
    let (mut agree, mut pairs) = (0usize, 0usize);
    for values in pairable(units) {
        for (i, a) in values.iter().enumerate() {
            for b in &values[i + 1..] {
                pairs += 1;
                agree += usize::from(a == b);
            }
        }
    }
    (pairs > 0).then(|| agree as f64 / pairs as f64)
}

/// Cohen's kappa over the units both of two evaluators judged (evaluators 0 and 1).
pub fn cohen_kappa(units: &[Unit]) -> Option<f64> {
    let pairs = both_judged(units);
    if pairs.is_empty() {
        return None;
    }
    // Counted in integers: chance is exactly 1 (kappa undefined) when both evaluators gave
    // every unit one and the same value, which sums of 1/n in floating point can miss by
    // an ulp and turn into a kappa of 1.
    let n = pairs.len() as u64;
    let (first, second) = counts_per_value(&pairs);
    let chance_n2: u64 = first
        .iter()
        .map(|(c, k)| k * second.get(c).unwrap_or(&0))
        .sum();
    if chance_n2 == n * n {
        return None;
    }
    let (n, agree) = (
        n as f64,
        pairs.iter().filter(|(a, b)| a == b).count() as f64,
    );
    let (observed, chance) = (agree / n, chance_n2 as f64 / (n * n));
    Some((observed - chance) / (1.0 - chance))
}

/// Cohen's kappa with quadratic weights over the units both of two evaluators judged: a
/// disagreement costs the square of the distance between the ranks, so that PARTIAL against
/// SIGNIFICANT is a near miss and NONE against PARADIGMATIC the worst. `None` when chance
/// alone would never disagree (both gave every unit one and the same value).
pub fn weighted_kappa(units: &[Unit]) -> Option<f64> {
    let pairs = both_judged(units);
    if pairs.is_empty() {
        return None;
    }
    // In integers, as for kappa: the sums are exact, and so is their being zero. Chance
    // from each evaluator's counts per value (a few values, however many units).
    let n = pairs.len() as u64;
    let square = |a: u32, b: u32| u64::from(a.abs_diff(b)).pow(2);
    let observed: u64 = pairs.iter().map(|&(a, b)| square(a, b)).sum();
    let (first, second) = counts_per_value(&pairs);
    let expected_n: u64 = first
        .iter()
        .flat_map(|(&a, &na)| second.iter().map(move |(&b, &nb)| na * nb * square(a, b)))
        .sum();
    if expected_n == 0 {
        return None;
    }
    Some(1.0 - (observed * n) as f64 / expected_n as f64)
}

/// How many units each of the two evaluators gave each value.
fn counts_per_value(pairs: &[(u32, u32)]) -> (BTreeMap<u32, u64>, BTreeMap<u32, u64>) {
    let mut first: BTreeMap<u32, u64> = BTreeMap::new();
    let mut second: BTreeMap<u32, u64> = BTreeMap::new();
    for &(a, b) in pairs {
        *first.entry(a).or_insert(0) += 1;
        *second.entry(b).or_insert(0) += 1;
    }
    (first, second)
}

fn both_judged(units: &[Unit]) -> Vec<(u32, u32)> {
    units
        .iter()
        .filter_map(|u| Some((u.first().copied()??, u.get(1).copied()??)))
        .collect()
}

/// All four statistics over units of one column per evaluator; kappa only when exactly
/// two evaluators judged compared units, whatever other columns hold.
pub fn agreement(units: &[Unit], level: Level) -> Agreement {
    let width = units.iter().map(Vec::len).max().unwrap_or(0);
    let compared: Vec<&Unit> = units
        .iter()
        .filter(|u| u.iter().flatten().count() >= 2)
        .collect();
    let active: Vec<usize> = (0..width)
        .filter(|&e| {
            compared
                .iter()
                .any(|u| u.get(e).copied().flatten().is_some())
        })
        .collect();
    let two: Option<Vec<Unit>> = match active[..] {
        [a, b] => Some(
            units
                .iter()
                .map(|u| vec![u.get(a).copied().flatten(), u.get(b).copied().flatten()])
                .collect(),
        ),
        _ => None,
    };
    Agreement {
        units: compared.len(),
        evaluators: active.len(),
        percent: percent_agreement(units),
        alpha: krippendorff_alpha(units, level),
        kappa: two.as_deref().and_then(cohen_kappa),
        weighted_kappa: two.as_deref().and_then(weighted_kappa),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", reliability data
    /// of four observers on twelve units (a dot is a missing value).
    fn krippendorff_example() -> Vec<Unit> {
        let rows = [
            "1 2 3 3 2 1 4 1 2 . . .",
            "1 2 3 3 2 2 4 1 2 5 . 3",
            ". 3 3 3 2 3 4 2 2 5 1 .",
            "1 2 3 3 2 4 4 1 2 5 1 .",
        ];
        let parsed: Vec<Vec<Option<u32>>> = rows
            .iter()
            .map(|r| r.split(' ').map(|v| v.parse().ok()).collect())
            .collect();
        (0..12)
            .map(|u| parsed.iter().map(|r| r[u]).collect())
            .collect()
    }

    #[test]
    fn reproduces_krippendorffs_published_values() {
        let units = krippendorff_example();
        let nominal = krippendorff_alpha(&units, Level::Nominal).unwrap();
        let ordinal = krippendorff_alpha(&units, Level::Ordinal).unwrap();
        assert!((nominal - 0.743).abs() < 0.0005, "nominal {nominal}");
        assert!((ordinal - 0.815).abs() < 0.0005, "ordinal {ordinal}");
    }

    #[test]
    fn cohens_kappa_of_a_textbook_table() {
        // 20 yes-yes, 5 yes-no, 10 no-yes, 15 no-no: po = 0.7, pe = 0.5, kappa = 0.4.
        let mut units = Vec::new();
        for (a, b, n) in [(1, 1, 20), (1, 0, 5), (0, 1, 10), (0, 0, 15)] {
            units.extend(std::iter::repeat_n(vec![Some(a), Some(b)], n));
        }
        assert!((cohen_kappa(&units).unwrap() - 0.4).abs() < 1e-12);
        assert!((percent_agreement(&units).unwrap() - 0.7).abs() < 1e-12);
    }

    #[test]
    fn weighted_kappa_counts_near_misses_as_partly_agreeing() {
        // Two agreements and two near misses (2 against 3): unweighted, (0.5 - 0.25) /
        // 0.75 = 1/3. Weighted, observed squared distance 2/4 = 0.5 against 40/16 = 2.5
        // expected from the marginals: 1 - 0.5 / 2.5 = 0.8.
        let near: Vec<Unit> = [(0, 0), (1, 1), (2, 3), (3, 2)]
            .iter()
            .map(|&(a, b)| vec![Some(a), Some(b)])
            .collect();
        assert!((cohen_kappa(&near).unwrap() - 1.0 / 3.0).abs() < 1e-12);
        assert!((weighted_kappa(&near).unwrap() - 0.8).abs() < 1e-12);
        // The same agreements with the worst misses instead: below the unweighted kappa.
        let far: Vec<Unit> = [(0, 0), (1, 1), (2, 2), (3, 3), (0, 3), (3, 0)]
            .iter()
            .map(|&(a, b)| vec![Some(a), Some(b)])
            .collect();
        let (k, w) = (cohen_kappa(&far).unwrap(), weighted_kappa(&far).unwrap());
        assert!(w < k, "weighted {w} vs {k}");
        // Undefined where kappa is; defined (and 0) where each evaluator is constant.
        assert_eq!(weighted_kappa(&vec![vec![Some(2), Some(2)]; 5]), None);
        assert_eq!(weighted_kappa(&vec![vec![Some(1), Some(2)]; 5]), Some(0.0));
        assert_eq!(weighted_kappa(&[vec![Some(1), None]]), None);
    }

    #[test]
    fn one_value_everywhere_gives_no_kappa_whatever_the_number_of_units() {
        // Both evaluators judge every unit the same: chance agreement is 1 and kappa is
        // undefined, not 1 (sums of 1/n made it 1 for 6 units, and for most counts).
        for n in 1..200 {
            let units = vec![vec![Some(2), Some(2)]; n];
            assert_eq!(cohen_kappa(&units), None, "{n} units");
            assert_eq!(percent_agreement(&units), Some(1.0));
        }
    }

    #[test]
    fn degenerate_data_gives_no_alpha() {
        assert_eq!(
            krippendorff_alpha(
                &[vec![Some(1), Some(1)], vec![Some(1), None]],
                Level::Nominal
            ),
            None
        );
        assert_eq!(
            krippendorff_alpha(&[vec![Some(1), None]], Level::Ordinal),
            None
        );
        assert_eq!(agreement(&[], Level::Nominal).units, 0);
    }

    #[test]
    fn nothing_compared_has_no_percent_agreement() {
        let a = agreement(&[vec![Some(1), None], vec![None, Some(2)]], Level::Nominal);
        assert_eq!((a.units, a.evaluators, a.percent), (0, 0, None));
    }

    #[test]
    fn an_evaluator_compared_with_nobody_leaves_kappa_to_the_other_two() {
        // Evaluators 0 and 2 judged the same units; evaluator 1 only a unit of her own.
        let units = vec![
            vec![Some(1), None, Some(1)],
            vec![Some(0), None, Some(2)],
            vec![None, Some(3), None],
        ];
        let a = agreement(&units, Level::Nominal);
        assert_eq!((a.units, a.evaluators), (2, 2));
        let kappa = a.kappa.expect("kappa of evaluators 0 and 2");
        assert!((kappa - 1.0 / 3.0).abs() < 1e-12, "{kappa}");
        let three = vec![
            vec![Some(1), Some(1), Some(2)],
            vec![Some(0), Some(2), Some(2)],
        ];
        assert_eq!(agreement(&three, Level::Nominal).kappa, None);
    }
}

//! Where the starter's lines went in the candidate's file: a line alignment
//! (longest common subsequence of lines, compared without their outer
//! whitespace, so re-indenting code under a new `try:` keeps it matched).
//! Common leading and trailing lines are matched first; a middle too large
//! for the quadratic table is aligned on lines that occur once on each side
//! (patience-style), which is what a large rewrite has left anyway.

use std::collections::HashMap;

/// Cells of the LCS table at most (u16 each): 8 MB.
const MAX_CELLS: usize = 4_000_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alignment {
    /// For each starter line (0-based), the candidate line (0-based) it is
    /// matched to.
    to_candidate: Vec<Option<u32>>,
    candidate_lines: u32,
}

pub fn align(starter: &str, candidate: &str) -> Alignment {
    let a: Vec<&str> = starter.lines().map(str::trim).collect();
    let b: Vec<&str> = candidate.lines().map(str::trim).collect();
    let mut to_candidate = vec![None; a.len()];
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    for (i, slot) in to_candidate.iter_mut().enumerate().take(prefix) {
        *slot = Some(i as u32);
    }
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    for k in 0..suffix {
        to_candidate[a.len() - 1 - k] = Some((b.len() - 1 - k) as u32);
    }
    let mid_a = &a[prefix..a.len() - suffix];
    let mid_b = &b[prefix..b.len() - suffix];
    let pairs = if mid_a.len().saturating_mul(mid_b.len()) <= MAX_CELLS {
        lcs(mid_a, mid_b)
    } else {
        unique_lines(mid_a, mid_b)
    };
    for (i, j) in pairs {
        to_candidate[prefix + i] = Some((prefix + j) as u32);
    }
    Alignment {
        to_candidate,
        candidate_lines: b.len() as u32,
    }
}

/// Matched index pairs of a longest common subsequence.
fn lcs(a: &[&str], b: &[&str]) -> Vec<(usize, usize)> {
    let (n, m) = (a.len(), b.len());
    if n == 0 || m == 0 {
        return Vec::new();
    }
    let w = m + 1;
    // table[i][j]: LCS length of a[i..] and b[j..].
    let mut table = vec![0u16; (n + 1) * w];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            table[i * w + j] = if a[i] == b[j] {
                table[(i + 1) * w + j + 1].saturating_add(1)
            } else {
                table[(i + 1) * w + j].max(table[i * w + j + 1])
            };
        }
    }
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < n && j < m {
        if a[i] == b[j] {
            out.push((i, j));
            i += 1;
            j += 1;
        } else if table[(i + 1) * w + j] >= table[i * w + j + 1] {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// Lines that occur exactly once on each side, kept in an order both sides
/// agree on (a longest increasing subsequence).
fn unique_lines(a: &[&str], b: &[&str]) -> Vec<(usize, usize)> {
    let mut seen: HashMap<&str, (u32, usize, u32, usize)> = HashMap::new();
    for (i, l) in a.iter().enumerate() {
        let e = seen.entry(*l).or_insert((0, i, 0, 0));
        e.0 += 1;
    }
    for (j, l) in b.iter().enumerate() {
        if let Some(e) = seen.get_mut(l) {
            e.2 += 1;
            e.3 = j;
        }
    }
    let mut pairs: Vec<(usize, usize)> = seen
        .values()
        .filter(|e| e.0 == 1 && e.2 == 1)
        .map(|e| (e.1, e.3))
        .collect();
    pairs.sort_unstable();
    // Longest increasing subsequence on the candidate index.
    let mut tails: Vec<usize> = Vec::new(); // index into pairs
    let mut prev: Vec<Option<usize>> = vec![None; pairs.len()];
    for k in 0..pairs.len() {
        let pos = tails.partition_point(|&t| pairs[t].1 < pairs[k].1);
        if pos > 0 {
            prev[k] = Some(tails[pos - 1]);
        }
        if pos == tails.len() {
            tails.push(k);
        } else {
            tails[pos] = k;
        }
    }
    let mut out = Vec::new();
    let mut at = tails.last().copied();
    while let Some(k) = at {
        out.push(pairs[k]);
        at = prev[k];
    }
    out.reverse();
    out
}

impl Alignment {
    /// The candidate's line (1-based) where a starter line (1-based) is now:
    /// its match, or the line after the last matched line before it.
    pub fn map_line(&self, line: u32) -> u32 {
        self.map_range(line, line).0
    }

    /// The candidate's lines (1-based, inclusive) that took the place of the
    /// starter's lines `start..=end`: from the match of `start` (or the line
    /// after the last match before it) to the match of `end` (or the line
    /// before the next match after it).
    pub fn map_range(&self, start: u32, end: u32) -> (u32, u32) {
        let n = self.to_candidate.len();
        let last = self.candidate_lines.max(1);
        let s = (start.max(1) as usize - 1).min(n.saturating_sub(1));
        let e = (end.max(start).max(1) as usize - 1).min(n.saturating_sub(1));
        if n == 0 {
            return (1, 1);
        }
        let lo = match self.to_candidate[s] {
            Some(c) => c + 1,
            None => self.to_candidate[..s]
                .iter()
                .rev()
                .find_map(|c| *c)
                .map_or(1, |c| c + 2),
        };
        let hi = match self.to_candidate[e] {
            Some(c) => c + 1,
            None => self.to_candidate[e + 1..]
                .iter()
                .find_map(|c| *c)
                .map_or(self.candidate_lines, |c| c),
        };
        let lo = lo.clamp(1, last);
        (lo, hi.clamp(lo, last))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STARTER: &str = "a\nb\nc\nd\ne\nf\n";

    #[test]
    fn unchanged_lines_map_to_themselves() {
        let al = align(STARTER, STARTER);
        assert_eq!(al.map_range(2, 4), (2, 4));
    }

    #[test]
    fn inserted_lines_shift_and_reindented_lines_match() {
        let cand = "a\n# new\n# more\nb\n  c\nd\ne\nf\n";
        let al = align(STARTER, cand);
        assert_eq!(al.map_range(2, 3), (4, 5));
        assert_eq!(al.map_line(6), 8);
    }

    #[test]
    fn replaced_lines_map_to_their_replacement() {
        // c and d rewritten as three new lines.
        let cand = "a\nb\nx\ny\nz\ne\nf\n";
        let al = align(STARTER, cand);
        assert_eq!(al.map_range(3, 4), (3, 5));
        // A range whose edges survive spans what was put inside it.
        assert_eq!(al.map_range(2, 5), (2, 6));
    }

    #[test]
    fn deleted_lines_map_to_where_they_were() {
        let cand = "a\nb\ne\nf\n";
        let al = align(STARTER, cand);
        assert_eq!(al.map_range(3, 4), (3, 3));
    }

    #[test]
    fn moved_code_is_found_by_unique_lines_too() {
        let a = ["x", "one", "two", "three", "y"];
        let b = ["three", "x", "one", "two", "y"];
        let pairs = unique_lines(&a, &b);
        assert_eq!(pairs, [(0, 1), (1, 2), (2, 3), (4, 4)]);
        assert_eq!(lcs(&a, &b), pairs);
    }
}

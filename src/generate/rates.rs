//! The fixed exchange-rate table of SPEC section 1. Rates are held in hundredths
//! (1.08 → 108) so that a converted amount in cents times a rate is an exact
//! integer in ten-thousandths of a dollar: sums of line items then equal order
//! totals exactly, before the single final rounding.

use super::time::year_month;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Currency {
    Usd,
    Eur,
    Gbp,
}

impl Currency {
    pub(crate) fn code(self) -> &'static str {
        match self {
            Currency::Usd => "USD",
            Currency::Eur => "EUR",
            Currency::Gbp => "GBP",
        }
    }

    pub(crate) const ALL: [Currency; 3] = [Currency::Usd, Currency::Eur, Currency::Gbp];
}

/// Months covered by the seed, 2026-01 .. 2026-07.
const MONTHS: [&str; 7] = [
    "2026-01-01",
    "2026-02-01",
    "2026-03-01",
    "2026-04-01",
    "2026-05-01",
    "2026-06-01",
    "2026-07-01",
];
const EUR: [i64; 7] = [108, 107, 109, 110, 112, 111, 113];
const GBP: [i64; 7] = [127, 126, 128, 129, 130, 131, 130];

/// Rate to USD in hundredths for the UTC month of `ts`. Instants outside the
/// table use the nearest month (only product prices before 2026 need this, and
/// they are converted at order time, which is always inside the table).
pub(crate) fn rate_hundredths(currency: Currency, ts: i64) -> i64 {
    let (y, m) = year_month(ts);
    let idx = if y < 2026 {
        0
    } else if y > 2026 {
        6
    } else {
        (m as usize).clamp(1, 7) - 1
    };
    match currency {
        Currency::Usd => 100,
        Currency::Eur => EUR[idx],
        Currency::Gbp => GBP[idx],
    }
}

/// The seed file `exchange_rates.csv` (currency, month, rate_to_usd).
pub(crate) fn exchange_rates_csv_rows() -> Vec<[String; 3]> {
    let mut rows = Vec::new();
    for (i, month) in MONTHS.iter().enumerate() {
        for c in Currency::ALL {
            let r = match c {
                Currency::Usd => 100,
                Currency::Eur => EUR[i],
                Currency::Gbp => GBP[i],
            };
            rows.push([
                c.code().to_string(),
                (*month).to_string(),
                format!("{}.{:02}", r / 100, r % 100),
            ]);
        }
    }
    rows
}

/// Cents × hundredths → ten-thousandths of a USD.
pub(crate) fn to_usd_e4(cents: i64, currency: Currency, order_created_at: i64) -> i64 {
    cents * rate_hundredths(currency, order_created_at)
}

/// Ten-thousandths of a USD → dollars rounded half away from zero to cents.
pub(crate) fn e4_to_dollars(e4: i64) -> f64 {
    let cents = if e4 >= 0 {
        (e4 + 50) / 100
    } else {
        -((-e4 + 50) / 100)
    };
    cents as f64 / 100.0
}

/// Cents as `12.34`.
pub(crate) fn fmt_cents(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let a = cents.abs();
    format!("{sign}{}.{:02}", a / 100, a % 100)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::time::ymd;

    #[test]
    fn rates_by_month() {
        assert_eq!(rate_hundredths(Currency::Eur, ymd(2026, 1, 31)), 108);
        assert_eq!(rate_hundredths(Currency::Gbp, ymd(2026, 7, 3)), 130);
        assert_eq!(rate_hundredths(Currency::Usd, ymd(2026, 5, 3)), 100);
        assert_eq!(exchange_rates_csv_rows().len(), 21);
        assert_eq!(fmt_cents(1234), "12.34");
        assert_eq!(fmt_cents(5), "0.05");
        assert_eq!(e4_to_dollars(1_234_550), 123.46);
    }
}

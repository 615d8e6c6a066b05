//! Plan terms and the arithmetic of invoices (A4): a subscription fee per interval, usage
//! charges per metric in Lago's three models (standard per unit, graduated ranges, packages),
//! features and usage limits; invoice lines from usage; the proration of an upgrade. Money is
//! exact (`Decimal`); each line is rounded to the currency's minor unit, half away from zero.
//! Field names follow Lago's API, so the same terms can be pushed to Lago.

use crate::ValidationError;
use chrono::{DateTime, Utc};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The metrics a plan may charge for (the usage ledger's `requests` is `api_requests`).
pub const METRICS: &[&str] = &[
    "audio_minutes_input",
    "audio_minutes_output",
    "llm_tokens_input",
    "llm_tokens_output",
    "api_requests",
];

/// Most decimals of a unit price.
const PRICE_DECIMALS: u32 = 6;

/// ISO 4217 codes accepted, with their minor-unit exponent.
const CURRENCIES: &[(&str, u32)] = &[
    ("AUD", 2),
    ("BRL", 2),
    ("CAD", 2),
    ("CHF", 2),
    ("CNY", 2),
    ("CZK", 2),
    ("DKK", 2),
    ("EUR", 2),
    ("GBP", 2),
    ("HKD", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("JPY", 0),
    ("KRW", 0),
    ("MXN", 2),
    ("MYR", 2),
    ("NOK", 2),
    ("NZD", 2),
    ("PHP", 2),
    ("PLN", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("THB", 2),
    ("TRY", 2),
    ("TWD", 2),
    ("USD", 2),
    ("ZAR", 2),
];

/// A currency (ISO 4217) with its minor-unit exponent; JSON is its code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub struct Currency {
    code: &'static str,
    exponent: u32,
}

impl Currency {
    /// The currency of an ISO 4217 code (case-insensitive), if accepted.
    pub fn parse(code: &str) -> Result<Self, ValidationError> {
        let upper = code.trim().to_ascii_uppercase();
        CURRENCIES
            .iter()
            .find(|(c, _)| *c == upper)
            .map(|(c, e)| Self {
                code: c,
                exponent: *e,
            })
            .ok_or_else(|| {
                ValidationError::new(
                    "currency",
                    format!("'{code}' is not a supported ISO 4217 currency code"),
                )
            })
    }

    /// Every accepted currency.
    pub fn all() -> Vec<Currency> {
        CURRENCIES
            .iter()
            .map(|(c, e)| Self {
                code: c,
                exponent: *e,
            })
            .collect()
    }

    /// The code, e.g. `USD`.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// Decimals of the minor unit (2 for USD, 0 for JPY).
    pub fn exponent(&self) -> u32 {
        self.exponent
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = String::deserialize(d)?;
        Currency::parse(&code).map_err(|e| serde::de::Error::custom(e.message))
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.code.to_string()
    }
}

/// How often the fee is charged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    Monthly,
    Yearly,
}

/// One range of a graduated charge: units `from_value..=to_value` (the last is open).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraduatedRange {
    pub from_value: u64,
    pub to_value: Option<u64>,
    pub per_unit_amount: Decimal,
    /// Charged once when any unit falls in the range.
    pub flat_amount: Decimal,
}

/// How a metric's usage is priced (Lago's charge models).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "charge_model", rename_all = "snake_case")]
pub enum ChargeModel {
    /// `amount` per unit.
    Standard { amount: Decimal },
    /// Each unit at the price of the range it falls in.
    Graduated {
        graduated_ranges: Vec<GraduatedRange>,
    },
    /// `amount` per started package of `package_size` units, after `free_units`.
    Package {
        amount: Decimal,
        package_size: u64,
        free_units: u64,
    },
}

/// A usage charge of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Charge {
    pub metric: String,
    #[serde(flatten)]
    pub model: ChargeModel,
}

/// What a plan allows; `None` is unlimited.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanLimits {
    pub seats: Option<u64>,
    pub concurrent_sessions: Option<u64>,
    pub requests_per_minute: Option<u64>,
    pub tokens_per_minute: Option<u64>,
    pub monthly_audio_minutes: Option<u64>,
}

/// Everything a plan version says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanTerms {
    pub code: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub currency: Currency,
    pub interval: Interval,
    /// The subscription fee per interval.
    pub amount: Decimal,
    #[serde(default)]
    pub charges: Vec<Charge>,
    #[serde(default)]
    pub features: Vec<String>,
    #[serde(default)]
    pub limits: PlanLimits,
}

fn bad(field: impl Into<String>, message: impl Into<String>) -> ValidationError {
    ValidationError::new(field, message)
}

fn price(field: &str, v: Decimal, decimals: u32) -> Result<(), ValidationError> {
    if v.is_sign_negative() && !v.is_zero() {
        return Err(bad(field, "must not be negative"));
    }
    if v.normalize().scale() > decimals {
        return Err(bad(field, format!("must have at most {decimals} decimals")));
    }
    Ok(())
}

impl PlanTerms {
    /// Checks every field; the error names the first wrong one.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let code_ok = (2..=40).contains(&self.code.len())
            && self
                .code
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !code_ok {
            return Err(bad(
                "code",
                "must be 2-40 lowercase letters, digits, - or _",
            ));
        }
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 80 {
            return Err(bad("name", "must be 1 to 80 characters"));
        }
        if self.description.chars().count() > 300 {
            return Err(bad("description", "must be at most 300 characters"));
        }
        price("amount", self.amount, self.currency.exponent())?;
        if self.features.len() > 20 {
            return Err(bad("features", "at most 20"));
        }
        for (i, f) in self.features.iter().enumerate() {
            if f.trim().is_empty() || f.chars().count() > 120 {
                return Err(bad(format!("features[{i}]"), "must be 1 to 120 characters"));
            }
        }
        let mut seen = Vec::new();
        for (i, c) in self.charges.iter().enumerate() {
            let at = format!("charges[{i}]");
            if !METRICS.contains(&c.metric.as_str()) {
                return Err(bad(
                    format!("{at}.metric"),
                    format!("must be one of {}", METRICS.join(", ")),
                ));
            }
            if seen.contains(&c.metric) {
                return Err(bad(
                    format!("{at}.metric"),
                    format!("{} is charged twice", c.metric),
                ));
            }
            seen.push(c.metric.clone());
            validate_model(&at, &c.model)?;
        }
        Ok(())
    }
}

fn validate_model(at: &str, m: &ChargeModel) -> Result<(), ValidationError> {
    match m {
        ChargeModel::Standard { amount } => price(&format!("{at}.amount"), *amount, PRICE_DECIMALS),
        ChargeModel::Package {
            amount,
            package_size,
            ..
        } => {
            price(&format!("{at}.amount"), *amount, PRICE_DECIMALS)?;
            if *package_size == 0 {
                return Err(bad(format!("{at}.package_size"), "must be at least 1"));
            }
            Ok(())
        }
        ChargeModel::Graduated { graduated_ranges } => {
            if graduated_ranges.is_empty() {
                return Err(bad(
                    format!("{at}.graduated_ranges"),
                    "needs at least one range",
                ));
            }
            let mut expect = 0u64;
            let last = graduated_ranges.len() - 1;
            for (j, r) in graduated_ranges.iter().enumerate() {
                let here = format!("{at}.graduated_ranges[{j}]");
                if r.from_value != expect {
                    return Err(bad(
                        here,
                        if j == 0 {
                            "must start at 0".to_string()
                        } else {
                            format!(
                                "must start at {expect}, right after the previous range (ranges may not overlap or leave gaps)"
                            )
                        },
                    ));
                }
                price(
                    &format!("{here}.per_unit_amount"),
                    r.per_unit_amount,
                    PRICE_DECIMALS,
                )?;
                price(
                    &format!("{here}.flat_amount"),
                    r.flat_amount,
                    PRICE_DECIMALS,
                )?;
                match (r.to_value, j == last) {
                    (None, true) => {}
                    (None, false) => {
                        return Err(bad(here, "only the last range may be open-ended"));
                    }
                    (Some(_), true) => {
                        return Err(bad(
                            here,
                            "the last range must be open-ended (to_value null)",
                        ));
                    }
                    (Some(to), false) if to < r.from_value => {
                        return Err(bad(here, "to_value must not be below from_value"));
                    }
                    (Some(to), false) => expect = to + 1,
                }
            }
            Ok(())
        }
    }
}

/// The exact price of `quantity` units under `model` (fractional units are priced
/// proportionally; a package is charged once started).
pub fn charge_amount(model: &ChargeModel, quantity: Decimal) -> Decimal {
    let q = quantity.max(Decimal::ZERO);
    match model {
        ChargeModel::Standard { amount } => *amount * q,
        ChargeModel::Package {
            amount,
            package_size,
            free_units,
        } => {
            let billable = (q - Decimal::from(*free_units)).max(Decimal::ZERO);
            let packages = (billable / Decimal::from((*package_size).max(1))).ceil();
            *amount * packages
        }
        ChargeModel::Graduated { graduated_ranges } => {
            let mut total = Decimal::ZERO;
            for r in graduated_ranges {
                // Range `from..=to` holds the units above `from - 1` up to `to` (Lago's ranges
                // start at 0, then at the previous `to + 1`).
                let lower = if r.from_value == 0 {
                    Decimal::ZERO
                } else {
                    Decimal::from(r.from_value - 1)
                };
                if q <= lower {
                    break;
                }
                let upper = r.to_value.map(Decimal::from).unwrap_or(q).min(q);
                let units = upper - lower;
                if units > Decimal::ZERO {
                    total += r.flat_amount + r.per_unit_amount * units;
                }
            }
            total
        }
    }
}

/// `amount` in minor units of `currency`, rounded half away from zero.
pub fn round_to_minor(amount: Decimal, currency: &Currency) -> i64 {
    let scaled = (amount * Decimal::from(10i64.pow(currency.exponent())))
        .round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero);
    i64::try_from(scaled).unwrap_or(i64::MAX)
}

/// What an invoice line is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    Subscription,
    Usage,
    Proration,
}

/// One line of an invoice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvoiceLine {
    pub kind: LineKind,
    pub description: String,
    pub metric: Option<String>,
    pub quantity: Decimal,
    pub amount_minor: i64,
}

impl InvoiceLine {
    /// A proration line of `amount_minor`.
    pub fn proration(description: String, amount_minor: i64) -> Self {
        Self {
            kind: LineKind::Proration,
            description,
            metric: None,
            quantity: Decimal::ONE,
            amount_minor,
        }
    }
}

/// An invoice's lines and totals.
#[derive(Debug, Clone, PartialEq)]
pub struct InvoiceTotals {
    pub lines: Vec<InvoiceLine>,
    pub subtotal_minor: i64,
    /// Taken from the credit offered (never more than the subtotal).
    pub credits_applied_minor: i64,
    pub total_minor: i64,
}

/// The invoice of one period: the fee (times `period_fraction`, 1 for a full period) and a
/// line per charged metric with usage; at most `credit_minor` of credit is applied.
pub fn compute_invoice(
    terms: &PlanTerms,
    usage: &BTreeMap<String, Decimal>,
    period_fraction: Decimal,
    credit_minor: i64,
) -> InvoiceTotals {
    let mut lines = vec![InvoiceLine {
        kind: LineKind::Subscription,
        description: format!("{} plan", terms.name),
        metric: None,
        quantity: period_fraction,
        amount_minor: round_to_minor(terms.amount * period_fraction, &terms.currency),
    }];
    for c in &terms.charges {
        let q = usage.get(&c.metric).copied().unwrap_or_default();
        if q.is_zero() {
            continue;
        }
        lines.push(InvoiceLine {
            kind: LineKind::Usage,
            description: c.metric.replace('_', " "),
            metric: Some(c.metric.clone()),
            quantity: q,
            amount_minor: round_to_minor(charge_amount(&c.model, q), &terms.currency),
        });
    }
    let subtotal: i64 = lines.iter().map(|l| l.amount_minor).sum();
    let credits = credit_minor.clamp(0, subtotal.max(0));
    InvoiceTotals {
        lines,
        subtotal_minor: subtotal,
        credits_applied_minor: credits,
        total_minor: subtotal - credits,
    }
}

/// The prorated fee difference of moving from `old` to `new` at `at` within `start..end`, by
/// the seconds left, in minor units of the plans' currency (0 for a cheaper plan).
pub fn proration(
    old: &PlanTerms,
    new: &PlanTerms,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    at: DateTime<Utc>,
) -> Result<i64, ValidationError> {
    if old.currency != new.currency {
        return Err(bad("plan", "is billed in another currency"));
    }
    let total = (end - start).num_seconds().max(1);
    let left = (end - at.clamp(start, end)).num_seconds().max(0);
    let share = Decimal::from(left) / Decimal::from(total);
    let diff = (new.amount - old.amount).max(Decimal::ZERO);
    Ok(round_to_minor(diff * share, &new.currency))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::Duration;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn terms(amount: &str, charges: Vec<Charge>) -> PlanTerms {
        PlanTerms {
            code: "starter".into(),
            name: "Starter".into(),
            description: String::new(),
            currency: Currency::parse("usd").unwrap(),
            interval: Interval::Monthly,
            amount: d(amount),
            charges,
            features: vec![],
            limits: PlanLimits::default(),
        }
    }

    fn graduated() -> ChargeModel {
        // 0-1000 free; 1001 and up at 0.001 plus a flat 1.00 once reached.
        ChargeModel::Graduated {
            graduated_ranges: vec![
                GraduatedRange {
                    from_value: 0,
                    to_value: Some(1000),
                    per_unit_amount: d("0"),
                    flat_amount: d("0"),
                },
                GraduatedRange {
                    from_value: 1001,
                    to_value: None,
                    per_unit_amount: d("0.001"),
                    flat_amount: d("1"),
                },
            ],
        }
    }

    #[test]
    fn each_model_prices_by_hand() {
        // 120.5 min x 0.05 = 6.025
        let std = ChargeModel::Standard { amount: d("0.05") };
        assert_eq!(charge_amount(&std, d("120.5")), d("6.025"));
        // 3,500 tokens: 1,000 free, 2,500 x 0.001 = 2.50, + flat 1.00 = 3.50
        assert_eq!(charge_amount(&graduated(), d("3500")), d("3.5"));
        assert_eq!(charge_amount(&graduated(), d("1000")), d("0"));
        // 1,000.5: half a unit in the paid range = 0.0005 + 1.00
        assert_eq!(charge_amount(&graduated(), d("1000.5")), d("1.0005"));
        // Packages of 1,000 at 2.00 after 500 free: 2,600 -> 2,100 billable -> 3 packages = 6.00
        let pkg = ChargeModel::Package {
            amount: d("2"),
            package_size: 1000,
            free_units: 500,
        };
        assert_eq!(charge_amount(&pkg, d("2600")), d("6"));
        assert_eq!(charge_amount(&pkg, d("400")), d("0"));
    }

    #[test]
    fn invoices_round_each_line_and_apply_credit() {
        let t = terms(
            "20",
            vec![
                Charge {
                    metric: "audio_minutes_input".into(),
                    model: ChargeModel::Standard { amount: d("0.05") },
                },
                Charge {
                    metric: "llm_tokens_output".into(),
                    model: graduated(),
                },
            ],
        );
        let usage: BTreeMap<String, Decimal> = [
            ("audio_minutes_input".to_string(), d("120.5")),
            ("llm_tokens_output".to_string(), d("3500")),
        ]
        .into();
        // 20.00 + 6.025 -> 6.03 (half away from zero) + 3.50 = 29.53
        let inv = compute_invoice(&t, &usage, Decimal::ONE, 500);
        let amounts: Vec<i64> = inv.lines.iter().map(|l| l.amount_minor).collect();
        assert_eq!(amounts, vec![2000, 603, 350]);
        assert_eq!(
            (
                inv.subtotal_minor,
                inv.credits_applied_minor,
                inv.total_minor
            ),
            (2953, 500, 2453)
        );
        // A credit above the subtotal leaves a zero total, not a negative one.
        let inv = compute_invoice(&t, &BTreeMap::new(), Decimal::ONE, 10_000);
        assert_eq!((inv.credits_applied_minor, inv.total_minor), (2000, 0));
        // Sub-cent totals: 123,457 tokens at 0.000002 = 0.246914 -> 0.25
        let tok = ChargeModel::Standard {
            amount: d("0.000002"),
        };
        let usd = Currency::parse("USD").unwrap();
        assert_eq!(round_to_minor(charge_amount(&tok, d("123457")), &usd), 25);
        // JPY has no minor unit: 1,234.5 -> 1,235
        assert_eq!(
            round_to_minor(d("1234.5"), &Currency::parse("jpy").unwrap()),
            1235
        );
    }

    #[test]
    fn an_upgrade_on_day_10_of_30_is_prorated() {
        let start = DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z")
            .unwrap()
            .to_utc();
        let end = start + Duration::days(30);
        let at = start + Duration::days(10);
        // (50 - 20) x 20/30 = 20.00; from 0 to 20: 20 x 20/30 = 13.33
        assert_eq!(
            proration(&terms("20", vec![]), &terms("50", vec![]), start, end, at).unwrap(),
            2000
        );
        assert_eq!(
            proration(&terms("0", vec![]), &terms("20", vec![]), start, end, at).unwrap(),
            1333
        );
        assert_eq!(
            proration(&terms("50", vec![]), &terms("20", vec![]), start, end, at).unwrap(),
            0
        );
        let mut eur = terms("50", vec![]);
        eur.currency = Currency::parse("EUR").unwrap();
        assert!(proration(&terms("20", vec![]), &eur, start, end, at).is_err());
    }

    #[test]
    fn bad_terms_name_the_field() {
        let field = |t: PlanTerms| t.validate().unwrap_err().field;
        assert_eq!(field(terms("-1", vec![])), "amount");
        assert_eq!(field(terms("1.005", vec![])), "amount");
        let overlapping = ChargeModel::Graduated {
            graduated_ranges: vec![
                GraduatedRange {
                    from_value: 0,
                    to_value: Some(100),
                    per_unit_amount: d("0"),
                    flat_amount: d("0"),
                },
                GraduatedRange {
                    from_value: 50,
                    to_value: None,
                    per_unit_amount: d("1"),
                    flat_amount: d("0"),
                },
            ],
        };
        let e = terms(
            "1",
            vec![Charge {
                metric: "api_requests".into(),
                model: overlapping,
            }],
        )
        .validate()
        .unwrap_err();
        assert_eq!(e.field, "charges[0].graduated_ranges[1]");
        assert!(e.message.contains("must start at 101"), "{}", e.message);
        let negative = Charge {
            metric: "api_requests".into(),
            model: ChargeModel::Standard { amount: d("-0.5") },
        };
        assert_eq!(field(terms("1", vec![negative])), "charges[0].amount");
        let unknown = Charge {
            metric: "bananas".into(),
            model: ChargeModel::Standard { amount: d("1") },
        };
        assert_eq!(field(terms("1", vec![unknown])), "charges[0].metric");
        assert!(Currency::parse("XYZ").is_err());
        let json = r#"{"code":"p","name":"P","currency":"XYZ","interval":"monthly","amount":"1"}"#;
        assert!(serde_json::from_str::<PlanTerms>(json).is_err());
        let json = r#"{"code":"pp","name":"P","currency":"usd","interval":"monthly","amount":"1","charges":[{"metric":"api_requests","charge_model":"volume","amount":"1"}]}"#;
        assert!(
            serde_json::from_str::<PlanTerms>(json).is_err(),
            "unknown charge model"
        );
        assert!(terms("20", vec![]).validate().is_ok());
    }
}

//! `Budget`: an account-wide daily cap for one vendor (optionally one label
//! prefix), across every key it binds. Keys do not ask it per call: each
//! key's object leases budget in chunks and spends its lease locally, so
//! this object sees one request per chunk, not per call, and never becomes
//! the bottleneck of every call. The sum of today's leases never exceeds
//! the cap, so spend cannot either; idle keys hand back what they hold.

use serde::{Deserialize, Serialize};
use worker::*;

use crate::core::money::Money;
use crate::core::webhook::thresholds_crossed;
use crate::error::ApiError;
use crate::objects::{
    answer, ask, load_record, no_operation, save_record, Answered, ObjectStub, Operation,
    RECORD_TABLE,
};

pub const BINDING: &str = "BUDGET";

/// Its tables beside `RECORD_TABLE`.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS grants (
  day INTEGER NOT NULL,
  key_id TEXT NOT NULL,
  granted INTEGER NOT NULL,
  PRIMARY KEY (day, key_id)
);
-- Spend thresholds already told (budget.spend_threshold), per day.
CREATE TABLE IF NOT EXISTS alerts (
  day INTEGER NOT NULL,
  percent INTEGER NOT NULL,
  PRIMARY KEY (day, percent)
);
";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BudgetRecord {
    pub id: String,
    pub vendor: String,
    #[serde(default)]
    pub label_prefix: Option<String>,
    pub daily_cap: Money,
    /// A cap over every day (an issuer's `max_total_spend_usd`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_cap: Option<Money>,
    pub created_at: i64,
    #[serde(default)]
    pub deleted: bool,
}

/// The budget that carries an issuer's spend ceilings; every key the
/// issuer mints is bound to it.
pub fn issuer_budget_id(issuer_id: &str) -> String {
    format!("issuer:{issuer_id}")
}

/// How much of a lease to grant: at least the shortfall, up to `want`, and
/// never more than a quarter of what is left, so a few keys cannot strand
/// the rest of the day's budget in their leases.
pub fn grant_size(remaining: Money, shortfall: Money, want: Money) -> Money {
    if remaining < shortfall {
        return Money::ZERO;
    }
    let quarter = Money::from_micros(remaining.micros() / 4);
    want.min(quarter).max(shortfall).min(remaining)
}

#[derive(Serialize, Deserialize)]
pub struct LeaseAsk {
    pub key_id: String,
    pub day: i64,
    pub shortfall: Money,
    pub want: Money,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Leased {
    pub granted: Money,
    /// The budget was deleted: it no longer binds the key.
    #[serde(default)]
    pub deleted: bool,
}

#[derive(Serialize, Deserialize)]
pub struct LeaseReturn {
    pub key_id: String,
    pub day: i64,
    pub amount: Money,
}

#[derive(Serialize, Deserialize)]
pub struct Day {
    pub day: i64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct BudgetState {
    pub record: BudgetRecord,
    /// Leased to keys today: an upper bound on today's spend under it.
    pub leased_today: Money,
    pub keys_today: u64,
}

#[durable_object]
pub struct Budget {
    state: State,
    env: Env,
}

impl Budget {
    fn sql(&self) -> SqlStorage {
        self.state.storage().sql()
    }

    fn record(&self) -> Result<Option<BudgetRecord>> {
        load_record(&self.sql())
    }

    fn save(&self, record: &BudgetRecord) -> Result<()> {
        self.sql().exec(RECORD_TABLE, None)?;
        self.sql().exec(SCHEMA, None)?;
        save_record(&self.sql(), record)
    }

    fn leased(&self, day: i64) -> Result<(Money, u64)> {
        #[derive(Deserialize)]
        struct Sum {
            total: Option<u64>,
            keys: u64,
        }
        let rows: Vec<Sum> = self
            .sql()
            .exec(
                "SELECT SUM(granted) AS total, COUNT(*) AS keys FROM grants WHERE day = ?",
                vec![day.into()],
            )?
            .to_array()?;
        let s = rows.first();
        Ok((
            Money::from_micros(s.and_then(|s| s.total).unwrap_or(0)),
            s.map_or(0, |s| s.keys),
        ))
    }
}

impl Budget {
    /// Everything leased on any day (what a total cap bounds).
    fn leased_ever(&self) -> Result<Money> {
        #[derive(Deserialize)]
        struct Sum {
            total: Option<u64>,
        }
        let rows: Vec<Sum> = self
            .sql()
            .exec("SELECT SUM(granted) AS total FROM grants", None)?
            .to_array()?;
        Ok(Money::from_micros(
            rows.first().and_then(|s| s.total).unwrap_or(0),
        ))
    }
}

/// The operations of a budget's object.
pub mod ops {
    use super::*;
    use crate::objects::operation;

    operation!(
        /// Creates or updates the budget (keeping its first creation time).
        Put = "put", BudgetRecord => BudgetRecord
    );

    operation!(
        /// Grants a key a lease on today's budget.
        Lease = "lease", LeaseAsk => Leased
    );

    operation!(
        /// Takes back what a key did not spend.
        Return = "return", LeaseReturn => ()
    );

    operation!(State = "state", Day => BudgetState);

    operation!(
        /// Stops binding keys.
        Delete = "delete", Day => BudgetRecord
    );
}

impl Budget {
    fn put(&self, mut record: BudgetRecord) -> Result<Answered<BudgetRecord>> {
        // Re-creating a budget keeps its first creation time.
        if let Some(old) = self.record()? {
            record.created_at = old.created_at;
        }
        self.save(&record)?;
        Ok(Ok(record))
    }

    /// One synchronous step: today's leases never exceed the cap (nor all
    /// leases the total cap).
    /// Also answers the spend thresholds this lease reached for the first
    /// time today (leases are an upper bound on spend).
    fn lease(
        &self,
        record: &BudgetRecord,
        ask: LeaseAsk,
        alerts: &mut Vec<u64>,
    ) -> Result<Answered<Leased>> {
        if record.deleted {
            return Ok(Ok(Leased {
                granted: Money::ZERO,
                deleted: true,
            }));
        }
        let (leased, _) = self.leased(ask.day)?;
        let mut remaining = record.daily_cap.saturating_sub(leased);
        if let Some(total) = record.total_cap {
            remaining = remaining.min(total.saturating_sub(self.leased_ever()?));
        }
        let granted = grant_size(remaining, ask.shortfall, ask.want);
        let after = leased.checked_add(granted).unwrap_or(record.daily_cap);
        for percent in
            thresholds_crossed(leased.micros(), after.micros(), record.daily_cap.micros())
        {
            // Objects made before alerts existed get the table here.
            self.sql().exec(SCHEMA, None)?;
            let fresh: Vec<serde_json::Value> = self
                .sql()
                .exec(
                    "INSERT INTO alerts (day, percent) VALUES (?, ?) ON CONFLICT DO NOTHING RETURNING day",
                    vec![ask.day.into(), (percent as i64).into()],
                )?
                .to_array()?;
            if !fresh.is_empty() {
                alerts.push(percent);
            }
        }
        if granted > Money::ZERO {
            self.sql().exec(
                "INSERT INTO grants (day, key_id, granted) VALUES (?1, ?2, ?3)
                 ON CONFLICT (day, key_id) DO UPDATE SET granted = granted + ?3",
                vec![
                    ask.day.into(),
                    ask.key_id.into(),
                    (granted.micros() as i64).into(),
                ],
            )?;
        }
        Ok(Ok(Leased {
            granted,
            deleted: false,
        }))
    }

    /// `budget.spend_threshold`, straight to the webhooks' queue. Best
    /// effort: a lease is not refused because the queue is down.
    async fn tell_threshold(&self, record: &BudgetRecord, percent: u64) {
        let data = serde_json::json!({
            "budget_id": record.id,
            "vendor": record.vendor,
            "label_prefix": record.label_prefix,
            "percent": percent,
            "daily_usd_cap": record.daily_cap.to_json(),
            "measured_by": "leased to keys, an upper bound on spend",
        });
        let label = record.label_prefix.as_deref();
        if let Err(e) =
            crate::webhooks::emit(&self.env, "budget.spend_threshold", label, data).await
        {
            console_error!(
                "budget {}: a spend threshold was not queued: {e}",
                record.id
            );
        }
    }

    fn give_back(&self, back: LeaseReturn) -> Result<Answered<()>> {
        self.sql().exec(
            "UPDATE grants SET granted = MAX(0, granted - ?) WHERE day = ? AND key_id = ?",
            vec![
                (back.amount.micros() as i64).into(),
                back.day.into(),
                back.key_id.into(),
            ],
        )?;
        Ok(Ok(()))
    }

    fn state_of(&self, record: BudgetRecord, day: Day) -> Result<Answered<BudgetState>> {
        let (leased_today, keys_today) = self.leased(day.day)?;
        Ok(Ok(BudgetState {
            record,
            leased_today,
            keys_today,
        }))
    }

    fn delete(&self, mut record: BudgetRecord) -> Result<Answered<BudgetRecord>> {
        record.deleted = true;
        self.save(&record)?;
        Ok(Ok(record))
    }
}

impl DurableObject for Budget {
    fn new(state: State, env: Env) -> Self {
        Budget { state, env }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let body = req.text().await?;
        let op = crate::objects::op(&req);
        if op == ops::Put::NAME {
            return answer(self.put(ask::<ops::Put>(&body)?)?);
        }
        let Some(record) = self.record()? else {
            return answer::<()>(Err(ApiError::not_found("budget")));
        };
        match op.as_str() {
            ops::Lease::NAME => {
                let mut alerts = Vec::new();
                let leased = self.lease(&record, ask::<ops::Lease>(&body)?, &mut alerts)?;
                for percent in alerts {
                    self.tell_threshold(&record, percent).await;
                }
                answer(leased)
            }
            ops::Return::NAME => answer(self.give_back(ask::<ops::Return>(&body)?)?),
            ops::State::NAME => answer(self.state_of(record, ask::<ops::State>(&body)?)?),
            ops::Delete::NAME => answer(self.delete(record)?),
            other => no_operation(other),
        }
    }
}

/// A handle on one budget's object.
pub struct BudgetClient {
    stub: ObjectStub,
}

impl BudgetClient {
    pub fn for_budget(env: &Env, id: &str) -> Result<BudgetClient> {
        Ok(BudgetClient {
            stub: ObjectStub::new(env, BINDING, id)?,
        })
    }

    /// The answer, or `None` when the budget does not exist.
    async fn call<O: Operation>(&self, ask: &O::Ask) -> Result<Option<O::Answer>> {
        self.stub.call_known::<O>("budget", ask).await
    }

    pub async fn put(&self, record: &BudgetRecord) -> Result<BudgetRecord> {
        self.call::<ops::Put>(record)
            .await?
            .ok_or_else(|| Error::RustError("budget put: no answer".into()))
    }

    /// `None`: the budget does not exist (it binds nothing).
    pub async fn lease(&self, ask: &LeaseAsk) -> Result<Option<Leased>> {
        self.call::<ops::Lease>(ask).await
    }

    pub async fn give_back(&self, back: &LeaseReturn) -> Result<()> {
        self.call::<ops::Return>(back).await.map(|_| ())
    }

    pub async fn state(&self, day: i64) -> Result<Option<BudgetState>> {
        self.call::<ops::State>(&Day { day }).await
    }

    pub async fn delete(&self) -> Result<Option<BudgetRecord>> {
        self.call::<ops::Delete>(&Day { day: 0 }).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_cover_the_shortfall_and_never_strand_much() {
        let m = Money::from_micros;
        // Plenty left: what was asked, within a quarter of what remains.
        assert_eq!(grant_size(m(1_000), m(1), m(16)), m(16));
        assert_eq!(grant_size(m(40), m(1), m(16)), m(10));
        // Little left: just the shortfall.
        assert_eq!(grant_size(m(3), m(2), m(16)), m(2));
        assert_eq!(grant_size(m(2), m(2), m(16)), m(2));
        // Not enough for this call: nothing.
        assert_eq!(grant_size(m(1), m(2), m(16)), m(0));
    }
}

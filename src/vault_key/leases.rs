//! Account budgets and issuer spend ceilings: the key leases from their
//! objects in chunks and hands back what it does not spend.

use super::*;

impl VaultKey {
    /// Leases at least `shortfall` (and up to `LEASE_CALLS` times it) from
    /// a budget. `Ok(false)`: the budget is spent for today.
    pub(super) async fn lease_more(
        &self,
        budget: &str,
        shortfall: Money,
        day: i64,
    ) -> Result<bool> {
        let Some(loaded) = self.record()? else {
            return Ok(false);
        };
        let ask = LeaseAsk {
            key_id: loaded.record.id.clone(),
            day,
            shortfall,
            want: Money::from_micros(shortfall.micros().saturating_mul(LEASE_CALLS)),
        };
        match BudgetClient::for_budget(&self.env, budget)?
            .lease(&ask)
            .await?
        {
            Some(leased) if !leased.deleted => {
                if leased.granted < shortfall {
                    return Ok(false);
                }
                self.run(
                    "INSERT INTO leases (budget, day, granted, used) VALUES (?1, ?2, ?3, 0)
                     ON CONFLICT (budget, day) DO UPDATE SET granted = granted + ?3",
                    vec![
                        budget.into(),
                        day.into(),
                        (leased.granted.micros() as i64).into(),
                    ],
                )?;
                Ok(true)
            }
            // Deleted (or never created): it binds this key no more.
            _ => {
                let mut record = loaded.record.clone();
                record.budgets.retain(|b| b != budget);
                self.save_record(&record)?;
                Ok(true)
            }
        }
    }

    /// Hands back what this key leased and has not spent, so an idle or
    /// revoked key strands nothing. The lease shrinks before the budget is
    /// told: a failed return strands the amount, it never double-counts it.
    pub(super) async fn return_leases(&self) -> Result<()> {
        let Some(loaded) = self.record()? else {
            return Ok(());
        };
        #[derive(Deserialize)]
        struct Spare {
            budget: String,
            day: i64,
            spare: u64,
        }
        let spare: Vec<Spare> = self.query(
            "SELECT budget, day, granted - used AS spare FROM leases WHERE granted > used",
            vec![],
        )?;
        self.run(
            "UPDATE leases SET granted = used WHERE granted > used",
            vec![],
        )?;
        for s in spare {
            let back = LeaseReturn {
                key_id: loaded.record.id.clone(),
                day: s.day,
                amount: Money::from_micros(s.spare),
            };
            if let Err(e) = BudgetClient::for_budget(&self.env, &s.budget)?
                .give_back(&back)
                .await
            {
                console_error!("returning a lease to {} failed: {e}", s.budget);
            }
        }
        Ok(())
    }
}

/// Why a call the budget could not cover was refused.
pub(super) fn budget_spent(budget: &str) -> ApiError {
    match budget.strip_prefix("issuer:") {
        Some(issuer) => ApiError {
            param: Some("issuer.max_daily_spend_usd".into()),
            ..ApiError::new(
                ErrorCode::CapExhausted,
                format!("the keys of issuer {issuer} have spent what it may spend (max_daily_spend_usd, max_total_spend_usd)"),
            )
        },
        None => ApiError {
            param: Some(format!("budget:{budget}")),
            ..ApiError::new(
                ErrorCode::CapExhausted,
                format!("the account budget {budget} is spent for today"),
            )
        },
    }
}

//! The key's ledger (`ledger::decide::KeyStore`) in its object's SQLite.

use super::*;

/// The key's ledger in its object's SQLite (`SCHEMA`).
impl KeyStore for VaultKey {
    type Error = Error;

    fn day_totals(&self, day: i64) -> Result<(Money, Money)> {
        // The last day touched is kept in memory: every change goes through
        // `add_to_day`, on this object's one thread.
        if let Some((d, held, kept)) = self.today.get() {
            if d == day {
                return Ok((held, kept));
            }
        }
        let rows: Vec<Totals> = self.query(
            "SELECT held, kept FROM day_spend WHERE day = ?",
            vec![day.into()],
        )?;
        let totals = rows.first().map(Totals::money).unwrap_or_default();
        self.today.set(Some((day, totals.0, totals.1)));
        Ok(totals)
    }

    fn add_to_day(&self, day: i64, held: i64, kept: i64) -> Result<(Money, Money)> {
        let rows: Vec<Totals> = self.query(
            "INSERT INTO day_spend (day, held, kept) VALUES (?1, ?2, ?3)
             ON CONFLICT (day) DO UPDATE SET held = held + ?2, kept = kept + ?3
             RETURNING held, kept",
            vec![day.into(), held.into(), kept.into()],
        )?;
        let totals = rows.first().map(Totals::money).unwrap_or_default();
        self.today.set(Some((day, totals.0, totals.1)));
        Ok(totals)
    }

    fn lifetime_committed(&self) -> Result<Money> {
        let total: Vec<Row<Option<u64>>> =
            self.query("SELECT SUM(held + kept) AS v FROM day_spend", vec![])?;
        Ok(Money::from_micros(
            total.first().and_then(|r| r.v).unwrap_or(0),
        ))
    }

    fn prior_attempt(&self, key: &str) -> Result<Option<PriorAttempt>> {
        #[derive(Deserialize)]
        struct Prior {
            fingerprint: String,
            state: String,
            at: i64,
        }
        let prior: Vec<Prior> = self.query(
            "SELECT i.fingerprint, r.state, i.at FROM idempotency i
             JOIN reservations r ON r.request_id = i.request_id WHERE i.idem_key = ?",
            vec![key.into()],
        )?;
        Ok(prior.into_iter().next().map(|p| PriorAttempt {
            fingerprint: p.fingerprint,
            state: ReservationState::parse(&p.state),
            at: p.at,
        }))
    }

    fn priced_object(&self, object: &str) -> Result<Option<PricedObject>> {
        #[derive(Deserialize)]
        struct Known {
            minor: u64,
            usd: u64,
        }
        let known: Vec<Known> = self.query(
            "SELECT minor, usd FROM priced_objects WHERE object = ?",
            vec![object.into()],
        )?;
        Ok(known.first().map(|k| PricedObject {
            minor: k.minor,
            usd: Money::from_micros(k.usd),
        }))
    }

    fn creates_in_flight(&self) -> Result<bool> {
        let held: Vec<Row<u64>> = self.query(
            "SELECT COUNT(*) AS v FROM reservations WHERE state = 'held' AND charge_kind = 'amount'",
            vec![],
        )?;
        Ok(held.first().is_some_and(|r| r.v > 0))
    }

    fn requests_used(&self) -> Result<u64> {
        let used: Vec<Row<u64>> = self.query(
            "SELECT value AS v FROM counters WHERE name = 'requests'",
            vec![],
        )?;
        Ok(used.first().map_or(0, |r| r.v))
    }

    fn calls_since(&self, since: i64) -> Result<u64> {
        self.run("DELETE FROM recent_calls WHERE at <= ?", vec![since.into()])?;
        let recent: Vec<Row<u64>> = self.query("SELECT COUNT(*) AS v FROM recent_calls", vec![])?;
        Ok(recent.first().map_or(0, |r| r.v))
    }

    fn lease_available(&self, budget: &str, day: i64) -> Result<Money> {
        #[derive(Deserialize)]
        struct Lease {
            granted: u64,
            used: u64,
        }
        let rows: Vec<Lease> = self.query(
            "SELECT granted, used FROM leases WHERE budget = ? AND day = ?",
            vec![budget.into(), day.into()],
        )?;
        Ok(rows.first().map_or(Money::ZERO, |l| {
            Money::from_micros(l.granted.saturating_sub(l.used))
        }))
    }

    fn hold(&self, hold: &Hold<'_>) -> Result<()> {
        self.reserve_row(hold, "held")?;
        self.add_to_day(hold.day, hold.cost.micros() as i64, 0)?;
        self.call_records(hold)
    }

    fn audit(
        &self,
        attempt: &Attempt,
        error: Option<&ApiError>,
        cost: Money,
        settled: bool,
    ) -> Result<()> {
        self.run(
            "INSERT OR REPLACE INTO outbox
               (request_id, created_at, method, path, decision, code, message, upstream_status, cost, settled,
                trace_id, run_id, via)
             VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?)",
            vec![
                attempt.request_id.as_str().into(),
                attempt.now.into(),
                attempt.method.as_str().into(),
                truncate(&attempt.path, 512).into(),
                (if error.is_some() { "denied" } else { "allowed" }).into(),
                error.map(|e| e.code.as_str()).into(),
                error.map(|e| e.message.clone()).into(),
                (cost.micros() as i64).into(),
                (settled as i64).into(),
                attempt.trace_id.as_deref().into(),
                attempt.run_id.as_deref().into(),
                attempt.via.as_deref().into(),
            ],
        )
    }

    fn claim(&self, request_id: &str, kept: bool) -> Result<Option<Held>> {
        // Claimed and marked in one statement: a repeat finds nothing held.
        let state = if kept { "kept" } else { "released" };
        self.claim_where(request_id, "held", state)
    }

    fn release_leases(&self, day: i64, cost: Money) -> Result<()> {
        self.run(
            "UPDATE leases SET used = MAX(0, used - ?) WHERE day = ?",
            vec![(cost.micros() as i64).into(), day.into()],
        )
    }

    fn remember(&self, object: &str, priced: PricedObject) -> Result<()> {
        self.run(
            "INSERT OR REPLACE INTO priced_objects (object, minor, usd) VALUES (?, ?, ?)",
            vec![
                object.into(),
                (priced.minor as i64).into(),
                (priced.usd.micros() as i64).into(),
            ],
        )
    }

    fn finish_audit(&self, request_id: &str, end: &Ending) -> Result<()> {
        self.run(
            "UPDATE outbox SET upstream_status = ?, cost = ?, code = ?, message = ?, settled = 1
             WHERE request_id = ?",
            vec![
                end.upstream_status.map(i64::from).into(),
                (end.cost.micros() as i64).into(),
                end.code.into(),
                end.message.clone().into(),
                request_id.into(),
            ],
        )
    }

    fn approval_for(&self, fingerprint: &str) -> Result<Option<Approval>> {
        Ok(self
            .approvals_where(
                "fingerprint = ? AND status IN ('pending', 'approved')
                 ORDER BY requested_at DESC LIMIT 1",
                vec![fingerprint.into()],
            )?
            .pop())
    }

    fn approval(&self, id: &str) -> Result<Option<Approval>> {
        Ok(self.approvals_where("id = ?", vec![id.into()])?.pop())
    }

    fn approvals_due(&self, now: i64) -> Result<Vec<Approval>> {
        self.approvals_where(
            "status IN ('pending', 'approved') AND expires_at <= ?",
            vec![now.into()],
        )
    }

    fn request_approval(&self, approval: &Approval, hold: &Hold<'_>) -> Result<()> {
        self.reserve_row(hold, "approval")?;
        self.add_to_day(hold.day, hold.cost.micros() as i64, 0)?;
        self.run(
            "INSERT INTO approvals (id, fingerprint, status, requested_at, expires_at, body)
             VALUES (?, ?, ?, ?, ?, ?)",
            vec![
                approval.id.as_str().into(),
                approval.fingerprint.as_str().into(),
                approval.status.as_str().into(),
                approval.requested_at.into(),
                approval.expires_at.into(),
                serde_json::to_string(approval)?.into(),
            ],
        )
    }

    fn save_approval(&self, approval: &Approval) -> Result<()> {
        // `version` moves so the next flush sends the change to D1.
        self.run(
            "UPDATE approvals SET status = ?, body = ?, version = version + 1 WHERE id = ?",
            vec![
                approval.status.as_str().into(),
                serde_json::to_string(approval)?.into(),
                approval.id.as_str().into(),
            ],
        )
    }

    fn use_approval_hold(&self, approval_id: &str, hold: &Hold<'_>) -> Result<()> {
        self.run(
            "UPDATE reservations SET request_id = ?, state = 'held', held_at = ?
             WHERE request_id = ? AND state = 'approval'",
            vec![
                hold.request_id.into(),
                (Date::now().as_millis() as i64).into(),
                approval_id.into(),
            ],
        )?;
        self.call_records(hold)
    }

    fn release_approval_hold(&self, approval_id: &str) -> Result<Option<Held>> {
        self.claim_where(approval_id, "approval", "released")
    }

    fn audit_approval(
        &self,
        approval: &Approval,
        step: ApprovalStatus,
        message: String,
        now: i64,
    ) -> Result<()> {
        let allowed = matches!(step, ApprovalStatus::Approved | ApprovalStatus::Used);
        self.run(
            "INSERT OR REPLACE INTO outbox
               (request_id, created_at, method, path, decision, code, message, upstream_status, cost, settled,
                trace_id, run_id)
             VALUES (?, ?, ?, ?, ?, ?, ?, NULL, 0, 1, NULL, ?)",
            vec![
                format!("{}:{}", approval.id, step.as_str()).into(),
                now.into(),
                approval.request.method.as_str().into(),
                truncate(&approval.request.path, 512).into(),
                (if allowed { "allowed" } else { "denied" }).into(),
                format!("approval_{}", step.as_str()).into(),
                message.into(),
                approval.request.run_id.as_deref().into(),
            ],
        )
    }

    fn notify(&self, notice: &Notice) -> Result<()> {
        let (kind, data) = match notice {
            Notice::ApprovalRequested(a) => {
                let (label, vendor) = match self.record()? {
                    Some(l) => (l.record.label.clone(), l.record.vendor.clone()),
                    None => Default::default(),
                };
                let mut data = a.to_json(&label, &vendor);
                data["approval_id"] = serde_json::json!(a.id);
                ("approval.requested", data)
            }
            Notice::SpendThreshold {
                percent,
                committed,
                cap,
            } => (
                "key.spend_threshold",
                serde_json::json!({
                    "percent": percent,
                    "committed_usd": committed.to_json(),
                    "daily_usd_cap": cap.to_json(),
                }),
            ),
            Notice::DeniedBurst { count, code } => (
                "key.denied_burst",
                serde_json::json!({ "denials": count, "per_seconds": 60, "last_code": code }),
            ),
        };
        self.record_event(kind, data)
    }

    fn first_alert(&self, day: i64, percent: u64) -> Result<bool> {
        let inserted: Vec<Row<i64>> = self.query(
            "INSERT INTO alerts (day, percent) VALUES (?, ?) ON CONFLICT DO NOTHING RETURNING day AS v",
            vec![day.into(), (percent as i64).into()],
        )?;
        Ok(!inserted.is_empty())
    }

    fn count_denial(&self, at: i64, since: i64) -> Result<u64> {
        self.run(
            "DELETE FROM recent_denials WHERE at <= ?",
            vec![since.into()],
        )?;
        self.run(
            "INSERT INTO recent_denials (at) VALUES (?)",
            vec![at.into()],
        )?;
        let n: Vec<Row<u64>> = self.query("SELECT COUNT(*) AS v FROM recent_denials", vec![])?;
        Ok(n.first().map_or(0, |r| r.v))
    }
}

impl VaultKey {
    /// Moves a reservation from one state to another and answers it as it
    /// was, in one statement; `None` when it is not in state `from`.
    fn claim_where(&self, request_id: &str, from: &str, to: &str) -> Result<Option<Held>> {
        #[derive(Deserialize)]
        struct Claimed {
            day: i64,
            cost: u64,
            charge_kind: String,
            object: Option<String>,
            priced_minor: Option<u64>,
            priced_usd: Option<u64>,
        }
        let held: Vec<Claimed> = self.query(
            "UPDATE reservations SET state = ? WHERE request_id = ? AND state = ?
             RETURNING day, cost, charge_kind, object, priced_minor, priced_usd",
            vec![to.into(), request_id.into(), from.into()],
        )?;
        Ok(held.into_iter().next().map(|h| Held {
            day: h.day,
            cost: Money::from_micros(h.cost),
            kind: h.charge_kind,
            object: h.object,
            priced: match (h.priced_minor, h.priced_usd) {
                (Some(minor), Some(usd)) => Some(PricedObject {
                    minor,
                    usd: Money::from_micros(usd),
                }),
                _ => None,
            },
        }))
    }

    /// A reservation row (`held`, or `approval` for an approval's hold) and
    /// the leases it spends.
    fn reserve_row(&self, hold: &Hold<'_>, state: &str) -> Result<()> {
        let cost = hold.cost.micros() as i64;
        for budget in hold.budgets {
            self.run(
                "UPDATE leases SET used = used + ? WHERE budget = ? AND day = ?",
                vec![cost.into(), budget.as_str().into(), hold.day.into()],
            )?;
        }
        if !hold.budgets.is_empty() {
            self.last_call.set(Date::now().as_millis() as i64);
        }
        self.run(
            "INSERT INTO reservations
               (request_id, day, cost, state, created_at, held_at, charge_kind, object, priced_minor, priced_usd)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            vec![
                hold.request_id.into(),
                hold.day.into(),
                cost.into(),
                state.into(),
                hold.now.into(),
                (Date::now().as_millis() as i64).into(),
                charge_kind(hold.charge).into(),
                hold.object.into(),
                hold.priced.map(|p| p.minor as i64).into(),
                hold.priced.map(|p| p.usd.micros() as i64).into(),
            ],
        )
    }

    /// A call's idempotency key and its use of the key's limits.
    fn call_records(&self, hold: &Hold<'_>) -> Result<()> {
        if let Some((key, fingerprint)) = hold.idempotency {
            self.run(
                "INSERT OR REPLACE INTO idempotency (idem_key, request_id, fingerprint, at) VALUES (?, ?, ?, ?)",
                vec![key.into(), hold.request_id.into(), fingerprint.into(), hold.now.into()],
            )?;
        }
        if hold.counts_request {
            self.run(
                "INSERT INTO counters (name, value) VALUES ('requests', 1)
                 ON CONFLICT (name) DO UPDATE SET value = value + 1",
                vec![],
            )?;
        }
        if hold.counts_rate {
            self.run(
                "INSERT INTO recent_calls (at) VALUES (?)",
                vec![hold.now.into()],
            )?;
        }
        Ok(())
    }

    fn approvals_where(&self, clause: &str, args: Vec<SqlStorageValue>) -> Result<Vec<Approval>> {
        let rows: Vec<Row<String>> = self.query(
            &format!("SELECT body AS v FROM approvals WHERE {clause}"),
            args,
        )?;
        rows.into_iter()
            .map(|r| serde_json::from_str(&r.v).map_err(Error::from))
            .collect()
    }
}

impl VaultKey {
    /// An event about this key for its webhooks, kept until the queue
    /// has accepted it (`outbox::flush_events`).
    pub(super) fn record_event(&self, kind: &str, data: serde_json::Value) -> Result<()> {
        let Some(loaded) = self.record()? else {
            return Ok(());
        };
        let r = &loaded.record;
        let now = Date::now().as_millis() as i64;
        let id = format!("evt_{}", crate::core::token::random_hex(12));
        let event = serde_json::json!({
            "id": id,
            "type": kind,
            "created": crate::core::time::to_rfc3339(now),
            "key_id": r.id,
            "label": r.label,
            "vendor": r.vendor,
            "issuer_id": r.issuer_id,
            "data": data,
        });
        self.run(
            "INSERT INTO events (id, at, body) VALUES (?, ?, ?)",
            vec![id.into(), now.into(), event.to_string().into()],
        )
    }
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

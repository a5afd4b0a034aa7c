//! The alarm: audit rows to D1 in idempotent batches (retried with backoff
//! while D1 fails), stale reservations resolved, idle leases handed back;
//! and the test-only fault switch that makes D1 fail.

use super::*;

impl VaultKey {
    /// Makes sure an alarm fires by `at` (epoch ms).
    pub(super) async fn alarm_by(&self, at: i64) -> Result<()> {
        let storage = self.state.storage();
        let current = match self.alarm_at.get() {
            Some(t) => Some(t),
            None => storage.get_alarm().await?,
        };
        if current.is_some_and(|t| t <= at) {
            self.alarm_at.set(current);
            return Ok(());
        }
        let offset = (at - Date::now().as_millis() as i64).max(0);
        storage.set_alarm(offset).await?;
        self.alarm_at.set(Some(at));
        Ok(())
    }

    /// Events to the webhooks' queue; each leaves once the queue took it.
    async fn flush_events(&self) -> Result<()> {
        #[derive(Deserialize)]
        struct Pending {
            id: String,
            body: String,
        }
        loop {
            let pending: Vec<Pending> = self.query(
                &format!("SELECT id, body FROM events ORDER BY at LIMIT {FLUSH_BATCH}"),
                vec![],
            )?;
            if pending.is_empty() {
                return Ok(());
            }
            let queue = self.env.queue(crate::webhooks::QUEUE)?;
            queue
                .send_batch(pending.iter().map(|p| p.body.clone()).collect::<Vec<_>>())
                .await?;
            let sent: Vec<&str> = pending.iter().map(|p| p.id.as_str()).collect();
            self.run(
                "DELETE FROM events WHERE id IN (SELECT value FROM json_each(?))",
                vec![serde_json::to_string(&sent)?.into()],
            )?;
        }
    }

    /// Audit rows to D1, then approvals to D1 and events to the queue: a
    /// queue that refuses events does not hold the audit back.
    pub(super) async fn flush_outbox(&self, record: &KeyRecord, now: i64) -> Result<()> {
        self.flush_audit(record, now).await?;
        self.sync_approvals(record).await?;
        self.flush_events().await
    }

    async fn flush_audit(&self, record: &KeyRecord, now: i64) -> Result<()> {
        loop {
            let rows: Vec<store::AuditRow> = self.query(
                &format!(
                    "SELECT request_id AS id, created_at, method, path, decision, code, message,
                            upstream_status, cost AS cost_micros, trace_id, run_id, via
                     FROM outbox WHERE settled = 1 ORDER BY created_at LIMIT {FLUSH_BATCH}"
                ),
                vec![],
            )?;
            if rows.is_empty() {
                return Ok(());
            }
            if self.test_hooks && self.fault("d1")? {
                return Err(Error::RustError("injected D1 failure (test hook)".into()));
            }
            let (held, kept) = self.day_totals(ledger_day(now))?;
            let spent = held.checked_add(kept).unwrap_or(held);
            let db = self.env.d1(store::DB)?;
            store::write_audit(&db, record, &rows, ledger_day(now), spent).await?;
            // Rows may have been re-settled while D1 was written; only the
            // ones sent go, and they went whole (the insert is idempotent).
            let sent: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
            self.run(
                "DELETE FROM outbox WHERE settled = 1
                 AND request_id IN (SELECT value FROM json_each(?))",
                vec![serde_json::to_string(&sent)?.into()],
            )?;
        }
    }

    pub(super) async fn on_alarm(&self) -> Result<()> {
        self.alarm_at.set(None);
        let now = Date::now().as_millis() as i64;
        let Some(loaded) = self.record()? else {
            return Ok(());
        };
        let record = &loaded.record;
        self.resolve_stale(now)?;
        decide::expire_approvals(self, now)?;
        // An idle key hands its unspent leases back to the budgets.
        if !record.budgets.is_empty() {
            let idle_since = self.last_call.get();
            if now - idle_since >= self.lease_idle_ms {
                self.return_leases().await?;
            } else {
                self.alarm_by(idle_since + self.lease_idle_ms).await?;
            }
        }
        match self.flush_outbox(record, now).await {
            Ok(()) => {
                self.run("DELETE FROM flush_state", vec![])?;
            }
            Err(e) => {
                #[derive(Deserialize)]
                struct Failures {
                    failures: i64,
                }
                let failures: Vec<Failures> =
                    self.query("SELECT failures FROM flush_state", vec![])?;
                let failures = failures.first().map_or(0, |f| f.failures) + 1;
                self.run(
                    "INSERT OR REPLACE INTO flush_state (one, failures, last_error) VALUES (1, ?, ?)",
                    vec![failures.into(), e.to_string().into()],
                )?;
                let backoff = (RETRY_MIN_MS << failures.min(6)).min(RETRY_MAX_MS);
                console_error!(
                    "audit flush for {} failed ({failures}x), retrying in {backoff} ms: {e}",
                    record.id
                );
                return self.alarm_by(now + backoff).await;
            }
        }
        // Still holding reservations: come back when the oldest is due.
        #[derive(Deserialize)]
        struct Oldest {
            v: Option<i64>,
        }
        let oldest: Vec<Oldest> = self.query(
            "SELECT MIN(held_at) AS v FROM reservations WHERE state = 'held'",
            vec![],
        )?;
        if let Some(t) = oldest.first().and_then(|o| o.v) {
            self.alarm_by(t + self.settle_deadline()).await?;
        }
        // Approvals still waiting: come back when the first one expires.
        let next: Vec<Oldest> = self.query(
            "SELECT MIN(expires_at) AS v FROM approvals WHERE status IN ('pending', 'approved')",
            vec![],
        )?;
        if let Some(t) = next.first().and_then(|o| o.v) {
            self.alarm_by(t).await?;
        }
        Ok(())
    }

    /// Sends changed approvals to D1, for listing across keys.
    async fn sync_approvals(&self, record: &KeyRecord) -> Result<()> {
        #[derive(Deserialize)]
        struct Changed {
            body: String,
            version: i64,
        }
        loop {
            let changed: Vec<Changed> = self.query(
                &format!("SELECT body, version FROM approvals WHERE version > synced LIMIT {FLUSH_BATCH}"),
                vec![],
            )?;
            if changed.is_empty() {
                return Ok(());
            }
            let approvals = changed
                .iter()
                .map(|c| serde_json::from_str::<Approval>(&c.body))
                .collect::<serde_json::Result<Vec<_>>>()?;
            let db = self.env.d1(store::DB)?;
            store::upsert_approvals(&db, record, &approvals).await?;
            for (a, c) in approvals.iter().zip(&changed) {
                self.run(
                    "UPDATE approvals SET synced = ? WHERE id = ?",
                    vec![c.version.into(), a.id.as_str().into()],
                )?;
            }
        }
    }

    /// A test-only fault switch (`POST /v1/test/faults`).
    pub(super) fn fault(&self, name: &str) -> Result<bool> {
        let rows: Vec<Row<String>> = self.query(
            "SELECT name AS v FROM faults WHERE name = ?",
            vec![name.into()],
        )?;
        Ok(!rows.is_empty())
    }

    pub(super) fn set_fault(&self, name: &str, on: bool) -> Result<()> {
        if on {
            self.run(
                "INSERT OR IGNORE INTO faults (name) VALUES (?)",
                vec![name.into()],
            )
        } else {
            self.run("DELETE FROM faults WHERE name = ?", vec![name.into()])
        }
    }
}

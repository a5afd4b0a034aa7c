//! D1: key records and the audit log. Queries only; the rules live elsewhere.

use serde::{Deserialize, Serialize};
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, Result};

use crate::core::money::Money;
use crate::ledger::approval::{Approval, ApprovalStatus};
use crate::ledger::{KeyRecord, KeyStatus};

pub const DB: &str = "DB";

/// A row of the `keys` table.
#[derive(Debug, Clone, Deserialize)]
pub struct KeyRow {
    pub id: String,
    pub label: String,
    pub vendor: String,
    pub allowed_endpoints: String,
    pub allowed_accounts: String,
    pub daily_cap_micros: u64,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub spent_day: Option<i64>,
    pub spent_micros: u64,
    /// JSON, as the key's object holds it (migration 0003).
    #[serde(default)]
    pub constraints: Option<String>,
    /// The issuer that issued the key; `None` for the admin's (0004).
    #[serde(default)]
    pub issuer_id: Option<String>,
    /// When the key was paused, if it is (0006).
    #[serde(default)]
    pub paused_at: Option<i64>,
}

impl KeyRow {
    pub fn status(&self, now: i64) -> KeyStatus {
        KeyStatus::of(self.revoked_at, self.paused_at, self.expires_at, now)
    }

    /// The record as the API shows it (D1 holds no token hash).
    pub fn to_record(&self) -> KeyRecord {
        KeyRecord {
            id: self.id.clone(),
            label: self.label.clone(),
            vendor: self.vendor.clone(),
            allowed_endpoints: serde_json::from_str(&self.allowed_endpoints).unwrap_or_default(),
            allowed_accounts: serde_json::from_str(&self.allowed_accounts).unwrap_or_default(),
            daily_cap: Money::from_micros(self.daily_cap_micros),
            created_at: self.created_at,
            expires_at: self.expires_at,
            revoked_at: self.revoked_at,
            token_hash: String::new(),
            idempotency: None,
            constraints: self
                .constraints
                .as_deref()
                .and_then(|c| serde_json::from_str(c).ok()),
            issuer_id: self.issuer_id.clone(),
            budgets: vec![],
            paused_at: self.paused_at,
        }
    }

    /// Spend recorded for `day` by the key's object at its last flush.
    pub fn spent_on(&self, day: i64) -> Money {
        if self.spent_day == Some(day) {
            Money::from_micros(self.spent_micros)
        } else {
            Money::ZERO
        }
    }
}

/// An audit entry as stored (and as the object's outbox holds it).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditRow {
    pub id: String,
    #[serde(default)]
    pub key_id: Option<String>,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub vendor: Option<String>,
    pub method: String,
    pub path: String,
    pub decision: String,
    pub code: Option<String>,
    pub message: Option<String>,
    pub upstream_status: Option<i64>,
    pub cost_micros: u64,
    pub created_at: i64,
    #[serde(default)]
    pub trace_id: Option<String>,
    #[serde(default)]
    pub run_id: Option<String>,
    /// `mcp` for a call made through the MCP endpoint (0009).
    #[serde(default)]
    pub via: Option<String>,
}

fn text(s: &str) -> JsValue {
    JsValue::from_str(s)
}

fn num(n: i64) -> JsValue {
    JsValue::from_f64(n as f64)
}

fn opt_text(s: Option<&str>) -> JsValue {
    s.map_or(JsValue::NULL, JsValue::from_str)
}

fn opt_num(n: Option<i64>) -> JsValue {
    n.map_or(JsValue::NULL, num)
}

/// Lists a key. Listing it again is a no-op (an idempotent replay repairs
/// a row its first attempt failed to write).
fn insert_key_statement(db: &D1Database, record: &KeyRecord) -> Result<D1PreparedStatement> {
    db.prepare(
        "INSERT INTO keys (id, label, vendor, allowed_endpoints, allowed_accounts, daily_cap_micros,
                           created_at, expires_at, revoked_at, spent_day, spent_micros, constraints, issuer_id)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, 0, ?, ?)
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(&[
        text(&record.id),
        text(&record.label),
        text(&record.vendor),
        text(&serde_json::to_string(&record.allowed_endpoints)?),
        text(&serde_json::to_string(&record.allowed_accounts)?),
        num(record.daily_cap.micros() as i64),
        num(record.created_at),
        num(record.expires_at),
        match &record.constraints {
            Some(c) => text(&serde_json::to_string(c)?),
            None => JsValue::NULL,
        },
        opt_text(record.issuer_id.as_deref()),
    ])
}

pub async fn insert_key(db: &D1Database, record: &KeyRecord) -> Result<()> {
    insert_key_statement(db, record)?.run().await?;
    Ok(())
}

/// Lists a key and, in the same D1 round trip, finds the account budgets
/// it falls under.
pub async fn insert_key_and_find_budgets(
    db: &D1Database,
    record: &KeyRecord,
) -> Result<Vec<String>> {
    #[derive(Deserialize)]
    struct Id {
        id: String,
    }
    let results = db
        .batch(vec![
            insert_key_statement(db, record)?,
            budgets_statement(db, &record.vendor, &record.label)?,
        ])
        .await?;
    let found: Vec<Id> = match results.get(1) {
        Some(r) => r.results()?,
        None => Vec::new(),
    };
    Ok(found.into_iter().map(|r| r.id).collect())
}

pub async fn delete_key(db: &D1Database, id: &str) -> Result<()> {
    db.prepare("DELETE FROM keys WHERE id = ?")
        .bind(&[text(id)])?
        .run()
        .await?;
    Ok(())
}

pub async fn get_key(db: &D1Database, id: &str) -> Result<Option<KeyRow>> {
    db.prepare("SELECT * FROM keys WHERE id = ?")
        .bind(&[text(id)])?
        .first::<KeyRow>(None)
        .await
}

/// Mirrors a key's changed policy (`PATCH`, pause, resume) for listing.
pub async fn update_key(db: &D1Database, record: &KeyRecord) -> Result<()> {
    db.prepare(
        "UPDATE keys SET daily_cap_micros = ?, expires_at = ?, constraints = ?, paused_at = ?
         WHERE id = ?",
    )
    .bind(&[
        num(record.daily_cap.micros() as i64),
        num(record.expires_at),
        match &record.constraints {
            Some(c) => text(&serde_json::to_string(c)?),
            None => JsValue::NULL,
        },
        opt_num(record.paused_at),
        text(&record.id),
    ])?
    .run()
    .await?;
    Ok(())
}

pub async fn mark_revoked(db: &D1Database, ids: &[String], now: i64) -> Result<()> {
    for chunk in ids.chunks(90) {
        let marks = vec!["?"; chunk.len()].join(",");
        let mut args = vec![num(now)];
        args.extend(chunk.iter().map(|id| text(id)));
        db.prepare(format!(
            "UPDATE keys SET revoked_at = ? WHERE revoked_at IS NULL AND id IN ({marks})"
        ))
        .bind(&args)?
        .run()
        .await?;
    }
    Ok(())
}

/// A `WHERE` clause built from optional filters, with its arguments.
#[derive(Default)]
struct Filter {
    clauses: Vec<String>,
    args: Vec<JsValue>,
}

impl Filter {
    fn add(&mut self, clause: &str, args: impl IntoIterator<Item = JsValue>) {
        self.clauses.push(clause.to_owned());
        self.args.extend(args);
    }

    fn label_prefix(&mut self, prefix: &str) {
        // substr, not LIKE: a prefix with % or _ must mean itself.
        self.add(
            "substr(label, 1, ?) = ?",
            [num(prefix.chars().count() as i64), text(prefix)],
        );
    }

    /// Newest-first keyset pagination on (created_at, id).
    fn before(&mut self, cursor: Option<&Cursor>) {
        if let Some(c) = cursor {
            self.add(
                "(created_at < ? OR (created_at = ? AND id < ?))",
                [num(c.created_at), num(c.created_at), text(&c.id)],
            );
        }
    }

    fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.clauses.join(" AND "))
        }
    }

    /// An optional `column = ?`.
    fn equals(&mut self, column: &str, value: Option<&str>) {
        if let Some(v) = value {
            self.add(&format!("{column} = ?"), [text(v)]);
        }
    }

    /// A listing's page: newest first, `limit` rows after the cursor.
    async fn newest_page<T: serde::de::DeserializeOwned>(
        mut self,
        db: &D1Database,
        head: &str,
        cursor: Option<&Cursor>,
        limit: u32,
    ) -> Result<Vec<T>> {
        self.before(cursor);
        self.prepare(
            db,
            head,
            &format!("ORDER BY created_at DESC, id DESC LIMIT {limit}"),
        )?
        .all()
        .await?
        .results()
    }

    fn prepare(self, db: &D1Database, head: &str, tail: &str) -> Result<D1PreparedStatement> {
        let sql = format!("{head} {} {tail}", self.sql());
        db.prepare(sql).bind(&self.args)
    }
}

/// Position after the last row of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: i64,
    pub id: String,
}

impl Cursor {
    /// The cursor of the next page: after the last row of a full page, none
    /// after a short one.
    pub fn after<T>(
        rows: &[T],
        limit: u32,
        position: impl Fn(&T) -> (i64, &str),
    ) -> Option<String> {
        if rows.len() < limit as usize {
            return None;
        }
        let (created_at, id) = position(rows.last()?);
        Some(
            Cursor {
                created_at,
                id: id.to_owned(),
            }
            .encode(),
        )
    }

    pub fn encode(&self) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(format!("{}:{}", self.created_at, self.id))
    }

    pub fn decode(text: &str) -> Option<Cursor> {
        use base64::Engine;
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .ok()?;
        let raw = String::from_utf8(raw).ok()?;
        let (at, id) = raw.split_once(':')?;
        Some(Cursor {
            created_at: at.parse().ok()?,
            id: id.to_owned(),
        })
    }
}

#[derive(Default)]
pub struct KeyQuery {
    /// An issuer token sees only the keys it issued.
    pub issuer_id: Option<String>,
    pub status: Option<KeyStatus>,
    pub vendor: Option<String>,
    pub label_prefix: Option<String>,
    pub cursor: Option<Cursor>,
    pub limit: u32,
}

pub async fn list_keys(db: &D1Database, q: &KeyQuery, now: i64) -> Result<Vec<KeyRow>> {
    let mut f = Filter::default();
    match q.status {
        Some(KeyStatus::Active) => f.add(
            "revoked_at IS NULL AND paused_at IS NULL AND expires_at > ?",
            [num(now)],
        ),
        Some(KeyStatus::Paused) => f.add(
            "revoked_at IS NULL AND paused_at IS NOT NULL AND expires_at > ?",
            [num(now)],
        ),
        Some(KeyStatus::Revoked) => f.add("revoked_at IS NOT NULL", []),
        Some(KeyStatus::Expired) => f.add("revoked_at IS NULL AND expires_at <= ?", [num(now)]),
        None => {}
    }
    f.equals("vendor", q.vendor.as_deref());
    if let Some(p) = &q.label_prefix {
        f.label_prefix(p);
    }
    f.equals("issuer_id", q.issuer_id.as_deref());
    f.newest_page(db, "SELECT * FROM keys", q.cursor.as_ref(), q.limit)
        .await
}

/// A live key to revoke, and the issuer that holds a count of it.
#[derive(Deserialize)]
pub struct LiveKey {
    pub id: String,
    pub issuer_id: Option<String>,
}

/// Every live key matching the filter (for revoke-all and issuer revocation).
pub async fn live_keys(
    db: &D1Database,
    vendor: Option<&str>,
    label_prefix: Option<&str>,
    issuer_id: Option<&str>,
    now: i64,
) -> Result<Vec<LiveKey>> {
    let mut f = Filter::default();
    f.add("revoked_at IS NULL AND expires_at > ?", [num(now)]);
    if let Some(v) = vendor {
        f.add("vendor = ?", [text(v)]);
    }
    if let Some(p) = label_prefix {
        f.label_prefix(p);
    }
    if let Some(i) = issuer_id {
        f.add("issuer_id = ?", [text(i)]);
    }
    f.prepare(db, "SELECT id, issuer_id FROM keys", "")?
        .all()
        .await?
        .results()
}

/// Lists an issuer (its token is never stored here: only in its object,
/// hashed).
pub async fn insert_issuer(
    db: &D1Database,
    id: &str,
    label: &str,
    created_at: i64,
    expires_at: Option<i64>,
    json: &str,
) -> Result<()> {
    db.prepare(
        "INSERT INTO issuers (id, label, created_at, expires_at, revoked_at, json) VALUES (?, ?, ?, ?, NULL, ?)
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(&[text(id), text(label), num(created_at), expires_at.map_or(JsValue::NULL, num), text(json)])?
    .run()
    .await?;
    Ok(())
}

pub async fn mark_issuer_revoked(db: &D1Database, id: &str, at: i64) -> Result<()> {
    db.prepare("UPDATE issuers SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?")
        .bind(&[num(at), text(id)])?
        .run()
        .await?;
    Ok(())
}

#[derive(Deserialize)]
pub struct IssuerRow {
    pub id: String,
    pub label: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// The ceilings, as JSON.
    pub json: String,
}

pub async fn list_issuers(db: &D1Database, limit: u32) -> Result<Vec<IssuerRow>> {
    db.prepare(format!(
        "SELECT * FROM issuers ORDER BY created_at DESC, id DESC LIMIT {limit}"
    ))
    .all()
    .await?
    .results()
}

/// Writes a batch of a key's audit rows and its current spend, in one D1
/// transaction. Idempotent: a retried batch inserts nothing twice.
pub async fn write_audit(
    db: &D1Database,
    record: &KeyRecord,
    rows: &[AuditRow],
    day: i64,
    spent: Money,
) -> Result<()> {
    let mut statements = Vec::with_capacity(rows.len() + 1);
    for row in rows {
        statements.push(insert_audit_statement(db, row, Some(record))?);
    }
    statements.push(
        db.prepare("UPDATE keys SET spent_day = ?, spent_micros = ? WHERE id = ?")
            .bind(&[num(day), num(spent.micros() as i64), text(&record.id)])?,
    );
    db.batch(statements).await?;
    Ok(())
}

/// Copies approvals from a key's object (the newer state wins: a status
/// only moves forward, and `body` carries it whole).
pub async fn upsert_approvals(
    db: &D1Database,
    record: &KeyRecord,
    approvals: &[Approval],
) -> Result<()> {
    let mut statements = Vec::with_capacity(approvals.len());
    for a in approvals {
        statements.push(
            db.prepare(
                "INSERT INTO approvals (id, key_id, label, vendor, issuer_id, status, cost_micros, created_at, expires_at, body)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (id) DO UPDATE SET status = excluded.status, body = excluded.body",
            )
            .bind(&[
                text(&a.id),
                text(&record.id),
                text(&record.label),
                text(&record.vendor),
                opt_text(record.issuer_id.as_deref()),
                text(a.status.as_str()),
                num(a.cost.micros() as i64),
                num(a.requested_at),
                num(a.expires_at),
                text(&serde_json::to_string(a)?),
            ])?,
        );
    }
    db.batch(statements).await?;
    Ok(())
}

/// `GET /v1/approvals`' filters.
#[derive(Debug, Default)]
pub struct ApprovalQuery {
    pub issuer_id: Option<String>,
    pub status: Option<ApprovalStatus>,
    pub key_id: Option<String>,
    pub label_prefix: Option<String>,
    pub cursor: Option<Cursor>,
    pub limit: u32,
}

/// An approval row: its key's label and vendor, and the approval whole.
#[derive(Debug, Clone, Deserialize)]
pub struct ApprovalRow {
    pub id: String,
    pub created_at: i64,
    pub label: String,
    pub vendor: String,
    pub issuer_id: Option<String>,
    pub body: String,
}

pub async fn list_approvals(
    db: &D1Database,
    q: &ApprovalQuery,
    now: i64,
) -> Result<Vec<ApprovalRow>> {
    let mut f = Filter::default();
    // The stored status may lag the clock: a waiting approval past its
    // time reads as expired.
    match q.status {
        Some(s @ (ApprovalStatus::Pending | ApprovalStatus::Approved)) => f.add(
            "status = ? AND expires_at > ?",
            [text(s.as_str()), num(now)],
        ),
        Some(ApprovalStatus::Expired) => f.add(
            "(status = 'expired' OR (status IN ('pending', 'approved') AND expires_at <= ?))",
            [num(now)],
        ),
        Some(s) => f.add("status = ?", [text(s.as_str())]),
        None => {}
    }
    f.equals("key_id", q.key_id.as_deref());
    if let Some(p) = &q.label_prefix {
        f.label_prefix(p);
    }
    f.equals("issuer_id", q.issuer_id.as_deref());
    f.newest_page(
        db,
        "SELECT id, created_at, label, vendor, issuer_id, body FROM approvals",
        q.cursor.as_ref(),
        q.limit,
    )
    .await
}

/// A webhook endpoint (its secret is derived, never stored).
#[derive(Debug, Clone, Deserialize)]
pub struct WebhookRow {
    pub id: String,
    pub url: String,
    /// JSON array of event types.
    pub events: String,
    pub label_prefix: Option<String>,
    pub created_at: i64,
    pub deleted_at: Option<i64>,
}

impl WebhookRow {
    pub fn event_list(&self) -> Vec<String> {
        serde_json::from_str(&self.events).unwrap_or_default()
    }
}

pub async fn insert_webhook(db: &D1Database, h: &WebhookRow) -> Result<()> {
    db.prepare(
        "INSERT INTO webhooks (id, url, events, label_prefix, created_at) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(&[
        text(&h.id),
        text(&h.url),
        text(&h.events),
        opt_text(h.label_prefix.as_deref()),
        num(h.created_at),
    ])?
    .run()
    .await?;
    Ok(())
}

pub async fn live_webhooks(db: &D1Database) -> Result<Vec<WebhookRow>> {
    db.prepare("SELECT * FROM webhooks WHERE deleted_at IS NULL ORDER BY created_at DESC")
        .all()
        .await?
        .results()
}

pub async fn get_webhook(db: &D1Database, id: &str) -> Result<Option<WebhookRow>> {
    db.prepare("SELECT * FROM webhooks WHERE id = ?")
        .bind(&[text(id)])?
        .first::<WebhookRow>(None)
        .await
}

pub async fn delete_webhook(db: &D1Database, id: &str, at: i64) -> Result<()> {
    db.prepare("UPDATE webhooks SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL")
        .bind(&[num(at), text(id)])?
        .run()
        .await?;
    Ok(())
}

/// One attempt to deliver an event to an endpoint.
#[derive(Debug, Clone, Deserialize)]
pub struct Delivery {
    pub webhook_id: String,
    pub event_id: String,
    pub event_type: String,
    pub attempt: u32,
    pub status: String,
    pub response_status: Option<u16>,
    pub error: Option<String>,
    pub at: i64,
}

impl Delivery {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        hook: &WebhookRow,
        event_id: &str,
        event_type: &str,
        attempt: u32,
        status: &str,
        response_status: Option<u16>,
        error: Option<String>,
        at: i64,
    ) -> Delivery {
        Delivery {
            webhook_id: hook.id.clone(),
            event_id: event_id.to_owned(),
            event_type: event_type.to_owned(),
            attempt,
            status: status.to_owned(),
            response_status,
            error,
            at,
        }
    }
}

/// Every attempt so far to deliver an event, to any endpoint.
pub async fn deliveries_of(db: &D1Database, event_id: &str) -> Result<Vec<Delivery>> {
    db.prepare("SELECT * FROM webhook_deliveries WHERE event_id = ?")
        .bind(&[text(event_id)])?
        .all()
        .await?
        .results()
}

/// An endpoint's latest deliveries, newest first.
pub async fn recent_deliveries(
    db: &D1Database,
    webhook_id: &str,
    limit: u32,
) -> Result<Vec<Delivery>> {
    db.prepare(format!(
        "SELECT * FROM webhook_deliveries WHERE webhook_id = ? ORDER BY at DESC, attempt DESC LIMIT {limit}"
    ))
    .bind(&[text(webhook_id)])?
    .all()
    .await?
    .results()
}

/// Records an attempt (a repeat of the same attempt changes nothing).
pub async fn record_delivery(db: &D1Database, d: &Delivery) -> Result<()> {
    db.prepare(
        "INSERT INTO webhook_deliveries
           (webhook_id, event_id, event_type, attempt, status, response_status, error, at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
    )
    .bind(&[
        text(&d.webhook_id),
        text(&d.event_id),
        text(&d.event_type),
        num(i64::from(d.attempt)),
        text(&d.status),
        opt_num(d.response_status.map(i64::from)),
        opt_text(d.error.as_deref()),
        num(d.at),
    ])?
    .run()
    .await?;
    Ok(())
}

/// Audits an attempt that named no existing key (no object to hold it).
pub async fn write_orphan_audit(db: &D1Database, row: &AuditRow) -> Result<()> {
    insert_audit_statement(db, row, None)?.run().await?;
    Ok(())
}

fn insert_audit_statement(
    db: &D1Database,
    row: &AuditRow,
    record: Option<&KeyRecord>,
) -> Result<D1PreparedStatement> {
    let key_id = record.map(|r| r.id.as_str()).or(row.key_id.as_deref());
    let label = record.map(|r| r.label.as_str()).or(row.label.as_deref());
    let vendor = record.map(|r| r.vendor.as_str()).or(row.vendor.as_deref());
    db.prepare(
        "INSERT OR IGNORE INTO audit (id, key_id, label, vendor, method, path, decision, code, message,
                                      upstream_status, cost_micros, created_at, trace_id, run_id, via)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&[
        text(&row.id),
        opt_text(key_id),
        opt_text(label),
        opt_text(vendor),
        text(&row.method),
        text(&row.path),
        text(&row.decision),
        opt_text(row.code.as_deref()),
        opt_text(row.message.as_deref()),
        opt_num(row.upstream_status),
        num(row.cost_micros as i64),
        num(row.created_at),
        opt_text(row.trace_id.as_deref()),
        opt_text(row.run_id.as_deref()),
        opt_text(row.via.as_deref()),
    ])
}

/// Deletes audit rows created before `before` (epoch ms), in batches small
/// enough for one D1 statement each; returns how many were deleted.
pub async fn delete_audit_before(db: &D1Database, before: i64) -> Result<u64> {
    const BATCH: usize = 5_000;
    let mut deleted = 0u64;
    loop {
        let result = db
            .prepare(format!(
                "DELETE FROM audit WHERE rowid IN
                   (SELECT rowid FROM audit WHERE created_at < ? LIMIT {BATCH})"
            ))
            .bind(&[num(before)])?
            .run()
            .await?;
        let changes = result.meta()?.and_then(|m| m.changes).unwrap_or(0);
        deleted += changes as u64;
        if changes < BATCH {
            return Ok(deleted);
        }
    }
}

/// How `GET /v1/usage` groups the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageGroup {
    Key,
    Label,
    Vendor,
    Day,
}

impl UsageGroup {
    pub fn parse(s: &str) -> Option<UsageGroup> {
        Some(match s {
            "key" => UsageGroup::Key,
            "label" => UsageGroup::Label,
            "vendor" => UsageGroup::Vendor,
            "day" => UsageGroup::Day,
            _ => return None,
        })
    }

    fn column(self) -> &'static str {
        match self {
            UsageGroup::Key => "key_id",
            UsageGroup::Label => "label",
            UsageGroup::Vendor => "vendor",
            // UTC days since the epoch.
            UsageGroup::Day => "created_at / 86400000",
        }
    }
}

/// One group's calls and spend.
#[derive(Debug, Deserialize)]
pub struct UsageRow {
    /// The key id, label, vendor, or UTC day number; `None` for rows that
    /// have none (a malformed token has no key).
    pub grp: Option<serde_json::Value>,
    /// A key's label (when grouped by key).
    pub label: Option<String>,
    pub calls: u64,
    pub allowed: u64,
    pub denied: u64,
    pub cost_micros: u64,
}

pub struct UsageQuery {
    pub group: UsageGroup,
    pub since: i64,
    pub until: i64,
    pub vendor: Option<String>,
    pub label_prefix: Option<String>,
    pub key_id: Option<String>,
    pub issuer_id: Option<String>,
}

/// Calls and spend per group, from the audit log (the same rows
/// `GET /v1/audit` returns), largest spend first.
pub async fn usage(db: &D1Database, q: &UsageQuery) -> Result<Vec<UsageRow>> {
    let mut f = Filter::default();
    f.add("created_at >= ?", [num(q.since)]);
    f.add("created_at < ?", [num(q.until)]);
    // An approval's later steps (`apr_…:approved`) are audit rows but not
    // calls: the call itself has its own row.
    f.add("id NOT LIKE 'apr\\_%' ESCAPE '\\'", []);
    f.equals("vendor", q.vendor.as_deref());
    if let Some(p) = &q.label_prefix {
        f.label_prefix(p);
    }
    f.equals("key_id", q.key_id.as_deref());
    if let Some(i) = &q.issuer_id {
        f.add(
            "key_id IN (SELECT id FROM keys WHERE issuer_id = ?)",
            [text(i)],
        );
    }
    let col = q.group.column();
    f.prepare(
        db,
        &format!(
            "SELECT {col} AS grp, MAX(label) AS label, COUNT(*) AS calls,
                    SUM(decision = 'allowed') AS allowed, SUM(decision = 'denied') AS denied,
                    SUM(cost_micros) AS cost_micros
             FROM audit"
        ),
        &format!("GROUP BY {col} ORDER BY cost_micros DESC, calls DESC LIMIT 10000"),
    )?
    .all()
    .await?
    .results()
}

/// A budget as D1 lists it.
#[derive(Deserialize)]
pub struct BudgetRow {
    pub id: String,
    pub vendor: String,
    pub label_prefix: Option<String>,
    pub daily_cap_micros: u64,
    pub created_at: i64,
}

pub async fn upsert_budget(db: &D1Database, b: &BudgetRow) -> Result<()> {
    db.prepare(
        "INSERT INTO budgets (id, vendor, label_prefix, daily_cap_micros, created_at, deleted_at)
         VALUES (?1, ?2, ?3, ?4, ?5, NULL)
         ON CONFLICT (id) DO UPDATE SET daily_cap_micros = ?4, deleted_at = NULL",
    )
    .bind(&[
        text(&b.id),
        text(&b.vendor),
        opt_text(b.label_prefix.as_deref()),
        num(b.daily_cap_micros as i64),
        num(b.created_at),
    ])?
    .run()
    .await?;
    Ok(())
}

pub async fn delete_budget(db: &D1Database, id: &str, at: i64) -> Result<()> {
    db.prepare("UPDATE budgets SET deleted_at = ? WHERE id = ?")
        .bind(&[num(at), text(id)])?
        .run()
        .await?;
    Ok(())
}

pub async fn list_budgets(db: &D1Database) -> Result<Vec<BudgetRow>> {
    db.prepare("SELECT * FROM budgets WHERE deleted_at IS NULL ORDER BY vendor, label_prefix")
        .all()
        .await?
        .results()
}

/// The budgets a new key of `vendor` labelled `label` spends under.
fn budgets_statement(db: &D1Database, vendor: &str, label: &str) -> Result<D1PreparedStatement> {
    db.prepare(
        "SELECT id FROM budgets WHERE deleted_at IS NULL AND vendor = ?1
           AND (label_prefix IS NULL OR substr(?2, 1, length(label_prefix)) = label_prefix)
         ORDER BY id",
    )
    .bind(&[text(vendor), text(label)])
}

pub async fn budgets_for(db: &D1Database, vendor: &str, label: &str) -> Result<Vec<String>> {
    #[derive(Deserialize)]
    struct Id {
        id: String,
    }
    let rows: Vec<Id> = budgets_statement(db, vendor, label)?
        .all()
        .await?
        .results()?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}

#[derive(Default)]
pub struct AuditQuery {
    pub key_id: Option<String>,
    pub label: Option<String>,
    pub label_prefix: Option<String>,
    pub vendor: Option<String>,
    pub decision: Option<String>,
    pub trace_id: Option<String>,
    pub run_id: Option<String>,
    pub issuer_id: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub cursor: Option<Cursor>,
    pub limit: u32,
}

pub async fn list_audit(db: &D1Database, q: &AuditQuery) -> Result<Vec<AuditRow>> {
    let mut f = Filter::default();
    f.equals("key_id", q.key_id.as_deref());
    f.equals("label", q.label.as_deref());
    if let Some(p) = &q.label_prefix {
        f.label_prefix(p);
    }
    f.equals("vendor", q.vendor.as_deref());
    f.equals("decision", q.decision.as_deref());
    f.equals("trace_id", q.trace_id.as_deref());
    f.equals("run_id", q.run_id.as_deref());
    if let Some(i) = &q.issuer_id {
        f.add(
            "key_id IN (SELECT id FROM keys WHERE issuer_id = ?)",
            [text(i)],
        );
    }
    if let Some(s) = q.since {
        f.add("created_at >= ?", [num(s)]);
    }
    if let Some(u) = q.until {
        f.add("created_at < ?", [num(u)]);
    }
    f.newest_page(db, "SELECT * FROM audit", q.cursor.as_ref(), q.limit)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let c = Cursor {
            created_at: 1_795_846_690_123,
            id: "key_abc".into(),
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        assert_eq!(Cursor::decode("not a cursor!"), None);
        assert_eq!(Cursor::decode(""), None);
    }
}

//! `Issuer`: one Durable Object per issuer token. It authenticates the
//! token (only its hash is stored), and admits each key the issuer asks
//! for: ceilings checked and the live-key count taken in one synchronous
//! step, so concurrent issuances cannot exceed `max_live_keys`.

use serde::{Deserialize, Serialize};
use worker::*;

use crate::core::ceilings::{Ceilings, KeyAsk};
use crate::core::token::constant_time_eq;
use crate::error::{ApiError, ErrorCode};
use crate::objects::{
    answer, ask, load_record, no_operation, save_record, Answered, ObjectStub, Operation,
    RECORD_TABLE,
};

pub const BINDING: &str = "ISSUER";

/// Its tables beside `RECORD_TABLE`.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS keys (
  id TEXT PRIMARY KEY,
  expires_at INTEGER NOT NULL,
  revoked INTEGER NOT NULL DEFAULT 0
);
";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IssuerRecord {
    pub id: String,
    pub label: String,
    pub created_at: i64,
    #[serde(default)]
    pub expires_at: Option<i64>,
    #[serde(default)]
    pub revoked_at: Option<i64>,
    pub token_hash: String,
    pub ceilings: Ceilings,
}

impl IssuerRecord {
    /// Why the issuer can no longer act, if it cannot.
    pub fn inactive(&self, now: i64) -> Option<ApiError> {
        if self.revoked_at.is_some() {
            return Some(ApiError::new(
                ErrorCode::Unauthorized,
                format!("issuer {} has been revoked", self.id),
            ));
        }
        if self.expires_at.is_some_and(|t| now >= t) {
            return Some(ApiError::new(
                ErrorCode::Unauthorized,
                format!("issuer {} has expired", self.id),
            ));
        }
        None
    }
}

#[derive(Serialize, Deserialize)]
pub struct Auth {
    token_hash: String,
    now: i64,
}

#[derive(Serialize, Deserialize)]
pub struct Admit {
    key_id: String,
    expires_at: i64,
    ask: KeyAsk,
    now: i64,
}

#[derive(Serialize, Deserialize)]
pub struct KeyRef {
    key_id: String,
}

#[derive(Serialize, Deserialize)]
pub struct At {
    now: i64,
}

/// An issuer as the management API shows it, with its live keys.
#[derive(Debug, Serialize, Deserialize)]
pub struct IssuerState {
    pub record: IssuerRecord,
    pub live_keys: Vec<String>,
}

#[derive(Deserialize)]
struct Row<T> {
    v: T,
}

#[durable_object]
pub struct Issuer {
    state: State,
}

impl Issuer {
    fn sql(&self) -> SqlStorage {
        self.state.storage().sql()
    }

    fn record(&self) -> Result<Option<IssuerRecord>> {
        load_record(&self.sql())
    }

    fn save(&self, record: &IssuerRecord) -> Result<()> {
        save_record(&self.sql(), record)
    }

    fn live(&self, now: i64) -> Result<Vec<String>> {
        let rows: Vec<Row<String>> = self
            .sql()
            .exec(
                "SELECT id AS v FROM keys WHERE revoked = 0 AND expires_at > ? ORDER BY id",
                vec![now.into()],
            )?
            .to_array()?;
        Ok(rows.into_iter().map(|r| r.v).collect())
    }
}

/// The operations of an issuer's object.
pub mod ops {
    use super::*;
    use crate::objects::operation;

    operation!(Init = "init", IssuerRecord => IssuerRecord);

    operation!(
        /// Checks a presented token (by its hash) and that the issuer lives.
        Auth = "auth", super::Auth => IssuerRecord
    );

    operation!(
        /// Admits a key: its ceilings and a live-key slot in one step.
        Admit = "admit", super::Admit => IssuerRecord
    );

    operation!(
        /// Gives back the slot of a key whose issuance failed.
        Release = "release", KeyRef => ()
    );

    operation!(
        /// Frees the slot of a revoked key.
        KeyRevoked = "key-revoked", KeyRef => ()
    );

    operation!(Revoke = "revoke", At => IssuerState);

    operation!(State = "state", At => IssuerState);
}

impl Issuer {
    fn init(&self, record: IssuerRecord) -> Result<Answered<IssuerRecord>> {
        if self.record()?.is_some() {
            return Ok(Err(ApiError::bad_request(format!(
                "issuer {} already exists",
                record.id
            ))));
        }
        self.sql().exec(RECORD_TABLE, None)?;
        self.sql().exec(SCHEMA, None)?;
        self.save(&record)?;
        Ok(Ok(record))
    }

    fn auth(&self, record: IssuerRecord, auth: Auth) -> Answered<IssuerRecord> {
        if !constant_time_eq(record.token_hash.as_bytes(), auth.token_hash.as_bytes()) {
            return Err(ApiError::new(
                ErrorCode::Unauthorized,
                "this issuer token is not valid",
            ));
        }
        match record.inactive(auth.now) {
            Some(e) => Err(e),
            None => Ok(record),
        }
    }

    /// Ceilings and the live count in one step: no await in between.
    fn admit(&self, record: IssuerRecord, admit: Admit) -> Result<Answered<IssuerRecord>> {
        if let Some(e) = record.inactive(admit.now) {
            return Ok(Err(e));
        }
        if let Err(x) = record.ceilings.admit(&admit.ask) {
            return Ok(Err(ApiError {
                param: Some(x.ceiling.clone()),
                ..ApiError::new(
                    ErrorCode::CeilingExceeded,
                    format!("{}: {}", x.ceiling, x.message),
                )
            }));
        }
        let live = self.live(admit.now)?;
        if live.len() as u64 >= u64::from(record.ceilings.max_live_keys)
            && !live.contains(&admit.key_id)
        {
            return Ok(Err(ApiError {
                param: Some("max_live_keys".into()),
                ..ApiError::new(
                    ErrorCode::CeilingExceeded,
                    format!("max_live_keys: this issuer already has {} live keys; revoke one or wait for one to expire", live.len()),
                )
            }));
        }
        // Admitting a live key again (a `PATCH`) moves its slot's expiry.
        self.sql().exec(
            "INSERT INTO keys (id, expires_at) VALUES (?, ?)
             ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at",
            vec![admit.key_id.into(), admit.expires_at.into()],
        )?;
        Ok(Ok(record))
    }

    fn forget(&self, key: KeyRef) -> Result<Answered<()>> {
        self.sql()
            .exec("DELETE FROM keys WHERE id = ?", vec![key.key_id.into()])?;
        Ok(Ok(()))
    }

    fn key_revoked(&self, key: KeyRef) -> Result<Answered<()>> {
        self.sql().exec(
            "UPDATE keys SET revoked = 1 WHERE id = ?",
            vec![key.key_id.into()],
        )?;
        Ok(Ok(()))
    }

    fn revoke(&self, mut record: IssuerRecord, at: At) -> Result<Answered<IssuerState>> {
        if record.revoked_at.is_none() {
            record.revoked_at = Some(at.now);
            self.save(&record)?;
        }
        self.state_of(record, at)
    }

    fn state_of(&self, record: IssuerRecord, at: At) -> Result<Answered<IssuerState>> {
        Ok(Ok(IssuerState {
            live_keys: self.live(at.now)?,
            record,
        }))
    }
}

impl DurableObject for Issuer {
    fn new(state: State, _env: Env) -> Self {
        Issuer { state }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let body = req.text().await?;
        let op = crate::objects::op(&req);
        if op == ops::Init::NAME {
            return answer(self.init(ask::<ops::Init>(&body)?)?);
        }
        let Some(record) = self.record()? else {
            return answer::<()>(Err(ApiError::not_found("issuer")));
        };
        match op.as_str() {
            ops::Auth::NAME => answer(self.auth(record, ask::<ops::Auth>(&body)?)),
            ops::Admit::NAME => answer(self.admit(record, ask::<ops::Admit>(&body)?)?),
            ops::Release::NAME => answer(self.forget(ask::<ops::Release>(&body)?)?),
            ops::KeyRevoked::NAME => answer(self.key_revoked(ask::<ops::KeyRevoked>(&body)?)?),
            ops::Revoke::NAME => answer(self.revoke(record, ask::<ops::Revoke>(&body)?)?),
            ops::State::NAME => answer(self.state_of(record, ask::<ops::State>(&body)?)?),
            other => no_operation(other),
        }
    }
}

/// The Worker's handle on one issuer's object.
pub struct IssuerClient {
    stub: ObjectStub,
}

impl IssuerClient {
    pub fn for_issuer(env: &Env, id: &str) -> Result<IssuerClient> {
        Ok(IssuerClient {
            stub: ObjectStub::new(env, BINDING, id)?,
        })
    }

    pub async fn init(&self, record: &IssuerRecord) -> Result<Answered<IssuerRecord>> {
        self.stub.call::<ops::Init>(record).await
    }

    /// `Ok(Err(e))` is Keybrake's answer (unknown, revoked, outside a
    /// ceiling), here and below.
    pub async fn auth(&self, token_hash: &str, now: i64) -> Result<Answered<IssuerRecord>> {
        let auth = Auth {
            token_hash: token_hash.to_owned(),
            now,
        };
        self.stub.call::<ops::Auth>(&auth).await
    }

    pub async fn admit(
        &self,
        key_id: &str,
        expires_at: i64,
        ask: KeyAsk,
        now: i64,
    ) -> Result<Answered<IssuerRecord>> {
        let admit = Admit {
            key_id: key_id.to_owned(),
            expires_at,
            ask,
            now,
        };
        self.stub.call::<ops::Admit>(&admit).await
    }

    pub async fn release(&self, key_id: &str) -> Result<()> {
        let key = KeyRef {
            key_id: key_id.to_owned(),
        };
        self.stub.call::<ops::Release>(&key).await.map(|_| ())
    }

    pub async fn key_revoked(&self, key_id: &str) -> Result<()> {
        let key = KeyRef {
            key_id: key_id.to_owned(),
        };
        self.stub.call::<ops::KeyRevoked>(&key).await.map(|_| ())
    }

    pub async fn revoke(&self, now: i64) -> Result<Answered<IssuerState>> {
        self.stub.call::<ops::Revoke>(&At { now }).await
    }

    pub async fn state(&self, now: i64) -> Result<Answered<IssuerState>> {
        self.stub.call::<ops::State>(&At { now }).await
    }
}

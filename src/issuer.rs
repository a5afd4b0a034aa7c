//! `Issuer`: one Durable Object per issuer token. It authenticates the
//! token (only its hash is stored), and admits each key the issuer asks
//! for: ceilings checked and the live-key count taken in one synchronous
//! step, so concurrent issuances cannot exceed `max_live_keys`.

use serde::{Deserialize, Serialize};
use worker::*;

use crate::core::ceilings::{Ceilings, KeyAsk};
use crate::core::token::constant_time_eq;
use crate::error::{ApiError, ErrorCode};
use crate::objects::{load_record, save_record, ObjectStub, RECORD_TABLE};

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
struct Auth {
    token_hash: String,
    now: i64,
}

#[derive(Serialize, Deserialize)]
struct Admit {
    key_id: String,
    expires_at: i64,
    ask: KeyAsk,
    now: i64,
}

#[derive(Serialize, Deserialize)]
struct KeyRef {
    key_id: String,
}

#[derive(Serialize, Deserialize)]
struct At {
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

fn error(e: &ApiError) -> Result<Response> {
    Ok(Response::from_json(e)?.with_status(e.status()))
}

impl DurableObject for Issuer {
    fn new(state: State, _env: Env) -> Self {
        Issuer { state }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let body = req.text().await?;
        let path = crate::objects::op(&req);
        if path == "/init" {
            let record: IssuerRecord = serde_json::from_str(&body)?;
            if self.record()?.is_some() {
                return error(&ApiError::bad_request(format!(
                    "issuer {} already exists",
                    record.id
                )));
            }
            self.sql().exec(RECORD_TABLE, None)?;
            self.sql().exec(SCHEMA, None)?;
            self.save(&record)?;
            return Response::from_json(&record);
        }
        let Some(mut record) = self.record()? else {
            return error(&ApiError::not_found("issuer"));
        };
        match path.as_str() {
            "/auth" => {
                let auth: Auth = serde_json::from_str(&body)?;
                if !constant_time_eq(record.token_hash.as_bytes(), auth.token_hash.as_bytes()) {
                    return error(&ApiError::new(
                        ErrorCode::Unauthorized,
                        "this issuer token is not valid",
                    ));
                }
                if let Some(e) = record.inactive(auth.now) {
                    return error(&e);
                }
                Response::from_json(&record)
            }
            // Ceilings and the live count in one step: no await in between.
            "/admit" => {
                let admit: Admit = serde_json::from_str(&body)?;
                if let Some(e) = record.inactive(admit.now) {
                    return error(&e);
                }
                if let Err(x) = record.ceilings.admit(&admit.ask) {
                    return error(&ApiError {
                        param: Some(x.ceiling.clone()),
                        ..ApiError::new(
                            ErrorCode::CeilingExceeded,
                            format!("{}: {}", x.ceiling, x.message),
                        )
                    });
                }
                let live = self.live(admit.now)?;
                if live.len() as u64 >= u64::from(record.ceilings.max_live_keys)
                    && !live.contains(&admit.key_id)
                {
                    return error(&ApiError {
                        param: Some("max_live_keys".into()),
                        ..ApiError::new(
                            ErrorCode::CeilingExceeded,
                            format!("max_live_keys: this issuer already has {} live keys; revoke one or wait for one to expire", live.len()),
                        )
                    });
                }
                self.sql().exec(
                    "INSERT OR IGNORE INTO keys (id, expires_at) VALUES (?, ?)",
                    vec![admit.key_id.into(), admit.expires_at.into()],
                )?;
                Response::from_json(&record)
            }
            "/release" => {
                let k: KeyRef = serde_json::from_str(&body)?;
                self.sql()
                    .exec("DELETE FROM keys WHERE id = ?", vec![k.key_id.into()])?;
                Response::ok("")
            }
            "/key-revoked" => {
                let k: KeyRef = serde_json::from_str(&body)?;
                self.sql().exec(
                    "UPDATE keys SET revoked = 1 WHERE id = ?",
                    vec![k.key_id.into()],
                )?;
                Response::ok("")
            }
            "/revoke" => {
                let at: At = serde_json::from_str(&body)?;
                if record.revoked_at.is_none() {
                    record.revoked_at = Some(at.now);
                    self.save(&record)?;
                }
                Response::from_json(&IssuerState {
                    live_keys: self.live(at.now)?,
                    record,
                })
            }
            "/state" => {
                let at: At = serde_json::from_str(&body)?;
                Response::from_json(&IssuerState {
                    live_keys: self.live(at.now)?,
                    record,
                })
            }
            other => Response::error(format!("no operation {other}"), 404),
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

    /// `Ok(Err(e))` is Keybrake's answer (unknown, revoked, outside a ceiling).
    async fn call<T: Serialize, R: serde::de::DeserializeOwned>(
        &self,
        op: &str,
        body: &T,
    ) -> Result<std::result::Result<R, ApiError>> {
        let (status, text) = self.stub.post(op, body).await?;
        if status == 200 {
            return Ok(Ok(serde_json::from_str(&text)?));
        }
        match serde_json::from_str::<ApiError>(&text) {
            Ok(e) => Ok(Err(e)),
            Err(_) => Err(Error::RustError(format!(
                "issuer {op} answered {status}: {text}"
            ))),
        }
    }

    pub async fn init(
        &self,
        record: &IssuerRecord,
    ) -> Result<std::result::Result<IssuerRecord, ApiError>> {
        self.call("init", record).await
    }

    pub async fn auth(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<std::result::Result<IssuerRecord, ApiError>> {
        self.call(
            "auth",
            &Auth {
                token_hash: token_hash.to_owned(),
                now,
            },
        )
        .await
    }

    pub async fn admit(
        &self,
        key_id: &str,
        expires_at: i64,
        ask: KeyAsk,
        now: i64,
    ) -> Result<std::result::Result<IssuerRecord, ApiError>> {
        self.call(
            "admit",
            &Admit {
                key_id: key_id.to_owned(),
                expires_at,
                ask,
                now,
            },
        )
        .await
    }

    pub async fn release(&self, key_id: &str) -> Result<()> {
        self.stub
            .post(
                "release",
                &KeyRef {
                    key_id: key_id.to_owned(),
                },
            )
            .await
            .map(|_| ())
    }

    pub async fn key_revoked(&self, key_id: &str) -> Result<()> {
        self.stub
            .post(
                "key-revoked",
                &KeyRef {
                    key_id: key_id.to_owned(),
                },
            )
            .await
            .map(|_| ())
    }

    pub async fn revoke(&self, now: i64) -> Result<std::result::Result<IssuerState, ApiError>> {
        self.call("revoke", &At { now }).await
    }

    pub async fn state(&self, now: i64) -> Result<std::result::Result<IssuerState, ApiError>> {
        self.call("state", &At { now }).await
    }
}

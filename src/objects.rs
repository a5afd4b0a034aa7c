//! The one way Keybrake's Durable Objects are called: each operation is a
//! type naming what the Worker asks and what the object answers (or the
//! `ApiError` it refuses with), sent as one POST of JSON. The objects keep
//! their records in one table, read and written here.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use worker::{Env, Error, Response, Result, SqlStorage};

use crate::error::ApiError;

/// One operation of a Durable Object.
pub trait Operation {
    /// Its name: the path the object is asked at.
    const NAME: &'static str;
    type Ask: Serialize + DeserializeOwned;
    type Answer: Serialize + DeserializeOwned;
}

/// Declares an operation: `operation!(Lease = "lease", LeaseAsk => Leased);`
/// (doc comments before the name are kept).
macro_rules! operation {
    ($(#[$doc:meta])* $name:ident = $op:literal, $ask:ty => $answer:ty) => {
        $(#[$doc])*
        pub struct $name;
        impl $crate::objects::Operation for $name {
            const NAME: &'static str = $op;
            type Ask = $ask;
            type Answer = $answer;
        }
    };
}
pub(crate) use operation;

/// An object's answer, or Keybrake's refusal (an unknown object, a
/// ceiling), which the Worker passes on as it is.
pub type Answered<T> = std::result::Result<T, ApiError>;

/// Object side: what the Worker asked.
pub fn ask<O: Operation>(body: &str) -> Result<O::Ask> {
    serde_json::from_str(body).map_err(Into::into)
}

/// Object side: the response carrying an answer or a refusal.
pub fn answer<T: Serialize>(answered: Answered<T>) -> Result<Response> {
    match answered {
        Ok(value) => Response::from_json(&value),
        Err(e) => Ok(Response::from_json(&e)?.with_status(e.status())),
    }
}

/// Object side: an operation the object does not have.
pub fn no_operation(op: &str) -> Result<Response> {
    Response::error(format!("no operation {op}"), 404)
}

/// The table every Keybrake object keeps its one JSON record in.
pub const RECORD_TABLE: &str = "
CREATE TABLE IF NOT EXISTS record (
  one INTEGER PRIMARY KEY CHECK (one = 1),
  json TEXT NOT NULL
);
";

#[derive(Deserialize)]
struct Json {
    json: String,
}

/// An object's record, or `None` before it was created (reading creates
/// nothing: a forged id cannot make an object grow storage).
pub fn load_record<T: DeserializeOwned>(sql: &SqlStorage) -> Result<Option<T>> {
    #[derive(Deserialize)]
    struct Name {
        #[allow(dead_code)]
        name: String,
    }
    let exists: Vec<Name> = sql
        .exec(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'record'",
            None,
        )?
        .to_array()?;
    if exists.is_empty() {
        return Ok(None);
    }
    let rows: Vec<Json> = sql.exec("SELECT json FROM record", None)?.to_array()?;
    rows.first()
        .map(|r| serde_json::from_str(&r.json))
        .transpose()
        .map_err(Into::into)
}

/// Writes an object's record (its table must exist: `RECORD_TABLE`).
pub fn save_record<T: Serialize>(sql: &SqlStorage, record: &T) -> Result<()> {
    sql.exec(
        "INSERT INTO record (one, json) VALUES (1, ?) ON CONFLICT (one) DO UPDATE SET json = excluded.json",
        vec![serde_json::to_string(record)?.into()],
    )?;
    Ok(())
}

/// The operation a Worker asked an object for: `<op>` of
/// `https://object/<op>`, read without a URL parser (the `url` crate runs
/// IDNA on every host it parses, which showed in CPU profiles).
pub fn op(req: &worker::Request) -> String {
    let url = req.inner().url();
    let after_scheme = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest);
    match after_scheme.find('/') {
        Some(i) => after_scheme[i + 1..]
            .split(['?', '#'])
            .next()
            .unwrap_or("")
            .to_owned(),
        None => String::new(),
    }
}

/// A raw stub. workers-rs' `Stub::fetch_with_request` rebuilds every answer
/// as a new streamed `Response`, which cost more than the call itself.
pub struct ObjectStub(worker::worker_sys::DurableObject);

impl ObjectStub {
    /// The object of `binding` named `name`.
    pub fn new(env: &Env, binding: &str, name: &str) -> Result<ObjectStub> {
        Ok(ObjectStub(
            env.durable_object(binding)?.get_by_name(name)?.into_rpc(),
        ))
    }

    /// Worker side: asks the object one operation.
    pub async fn call<O: Operation>(&self, ask: &O::Ask) -> Result<Answered<O::Answer>> {
        let (status, text) = self.post(O::NAME, serde_json::to_string(ask)?).await?;
        if status == 200 {
            return Ok(Ok(serde_json::from_str(&text)?));
        }
        refusal(O::NAME, status, &text).map(Err)
    }

    /// The answer, or `None` when the object holds no record (it refused
    /// `not_found`); any other refusal is an error naming `what` object.
    pub async fn call_known<O: Operation>(
        &self,
        what: &str,
        ask: &O::Ask,
    ) -> Result<Option<O::Answer>> {
        match self.call::<O>(ask).await? {
            Ok(answer) => Ok(Some(answer)),
            Err(e) if e.code == crate::error::ErrorCode::NotFound => Ok(None),
            Err(e) => Err(Error::RustError(format!("{what} {}: {e}", O::NAME))),
        }
    }

    /// POSTs a JSON body to the object's `/<op>`; answers the status and
    /// body. Not generic: one copy in the module, whatever is asked.
    async fn post(&self, op: &str, body: String) -> Result<(u16, String)> {
        let init = web_sys::RequestInit::new();
        init.set_method("POST");
        init.set_body(&body.into());
        let req = web_sys::Request::new_with_str_and_init(&format!("https://object/{op}"), &init)?;
        let res: web_sys::Response =
            wasm_bindgen_futures::JsFuture::from(self.0.fetch_with_request(&req)?)
                .await?
                .into();
        let text = wasm_bindgen_futures::JsFuture::from(res.text()?).await?;
        Ok((res.status(), text.as_string().unwrap_or_default()))
    }
}

/// The refusal an object answered with.
fn refusal(op: &str, status: u16, text: &str) -> Result<ApiError> {
    serde_json::from_str::<ApiError>(text)
        .map_err(|_| Error::RustError(format!("{op} answered {status}: {text}")))
}

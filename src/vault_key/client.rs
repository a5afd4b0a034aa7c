//! The Worker's side: one POST of JSON per operation.

use super::*;

/// The Worker's handle on one key's object.
pub struct VaultKeyClient {
    stub: ObjectStub,
}

/// The binding of the `VaultKey` class in `wrangler.toml`.
pub const BINDING: &str = "VAULT_KEY";

impl VaultKeyClient {
    pub fn for_key(env: &Env, key_id: &str) -> Result<VaultKeyClient> {
        Ok(VaultKeyClient {
            stub: ObjectStub::new(env, BINDING, key_id)?,
        })
    }

    async fn post<T: Serialize>(&self, op: &str, body: &T) -> Result<(u16, String)> {
        self.stub.post(op, body).await
    }

    async fn expect<T: Serialize, R: DeserializeOwned>(
        &self,
        op: &str,
        body: &T,
    ) -> Result<Option<R>> {
        match self.post(op, body).await? {
            (200, text) => Ok(Some(serde_json::from_str(&text)?)),
            (404, _) => Ok(None),
            (status, text) => Err(Error::RustError(format!(
                "vault key {op} answered {status}: {text}"
            ))),
        }
    }

    pub async fn authorize(&self, attempt: &Attempt) -> Result<Authorized> {
        self.expect("authorize", attempt)
            .await?
            .ok_or_else(|| Error::RustError("vault key authorize: no answer".into()))
    }

    pub async fn settle(&self, settlement: &Settlement) -> Result<Settled> {
        self.expect("settle", settlement)
            .await?
            .ok_or_else(|| Error::RustError("vault key settle: unknown key".into()))
    }

    /// Creates the key; `Err(ApiError)` when the id is taken.
    pub async fn init(&self, record: &KeyRecord) -> Result<std::result::Result<(), ApiError>> {
        match self.post("init", record).await? {
            (200, _) => Ok(Ok(())),
            (409, text) => Ok(Err(serde_json::from_str(&text)?)),
            (status, text) => Err(Error::RustError(format!(
                "vault key init answered {status}: {text}"
            ))),
        }
    }

    pub async fn revoke(&self, now: i64) -> Result<Option<KeyRecord>> {
        self.expect("revoke", &At { now }).await
    }

    /// Binds the key to an account budget made after it was issued.
    pub async fn attach_budget(&self, budget: &str) -> Result<bool> {
        Ok(self
            .post(
                "budgets",
                &AddBudget {
                    add: budget.to_owned(),
                },
            )
            .await?
            .0
            == 200)
    }

    pub async fn state(&self, now: i64) -> Result<Option<KeyState>> {
        self.expect("state", &At { now }).await
    }

    pub async fn set_faults(&self, faults: &Faults) -> Result<Option<Faults>> {
        self.expect("faults", faults).await
    }
}

//! The object's operations, and the Worker's handle on it.

use super::*;

/// The operations of a key's object.
pub mod ops {
    use super::*;
    use crate::objects::operation;

    operation!(
        /// Decides an attempt (`ledger::decide`).
        Authorize = "authorize", Attempt => Authorized
    );

    operation!(
        /// Keeps or releases a reservation (`ledger::decide::settle`).
        Settle = "settle", Settlement => Settled
    );

    operation!(
        /// Settles several calls of the key in one trip, in order.
        SettleMany = "settle-many", Vec<Settlement> => Vec<Settled>
    );

    operation!(
        /// Creates the key; refused when the id is taken.
        Init = "init", KeyRecord => ()
    );

    operation!(
        /// Revokes the key, once the calls already allowed have settled.
        Revoke = "revoke", At => KeyRecord
    );

    operation!(
        /// Changes a live key's caps, expiry or constraints, or pauses or
        /// resumes it (`ledger::steer`).
        Change = "change", KeyChange => KeyRecord
    );

    operation!(
        /// One approval, as of `now`.
        GetApproval = "approval", ApprovalAsk => ApprovalView
    );

    operation!(
        /// A person approves or denies a waiting approval
        /// (`ledger::decide::decide_approval`).
        DecideApproval = "approval-decision", ApprovalDecisionAsk => ApprovalView
    );

    operation!(
        /// Binds the key to an account budget made after it was issued.
        AttachBudget = "budgets", AddBudget => ()
    );

    operation!(
        /// Test-only fault switches.
        SetFaults = "faults", Faults => Faults
    );

    operation!(GetState = "state", At => KeyState);
}

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

    /// The answer, or `None` when the object holds no key.
    async fn call<O: Operation>(&self, ask: &O::Ask) -> Result<Option<O::Answer>> {
        self.stub.call_known::<O>("vault key", ask).await
    }

    pub async fn authorize(&self, attempt: &Attempt) -> Result<Authorized> {
        self.call::<ops::Authorize>(attempt)
            .await?
            .ok_or_else(|| Error::RustError("vault key authorize: no answer".into()))
    }

    pub async fn settle(&self, settlement: &Settlement) -> Result<Settled> {
        self.call::<ops::Settle>(settlement)
            .await?
            .ok_or_else(|| Error::RustError("vault key settle: unknown key".into()))
    }

    pub async fn settle_many(&self, settlements: &Vec<Settlement>) -> Result<Vec<Settled>> {
        self.call::<ops::SettleMany>(settlements)
            .await?
            .ok_or_else(|| Error::RustError("vault key settle: unknown key".into()))
    }

    /// Creates the key; `Err(ApiError)` when the id is taken.
    pub async fn init(&self, record: &KeyRecord) -> Result<Answered<()>> {
        self.stub.call::<ops::Init>(record).await
    }

    /// The key as changed; `Err(ApiError)` when the change is refused
    /// (nothing changed) or the key is unknown.
    pub async fn change(&self, change: &KeyChange) -> Result<Answered<KeyRecord>> {
        self.stub.call::<ops::Change>(change).await
    }

    pub async fn approval(&self, id: &str, now: i64) -> Result<Answered<ApprovalView>> {
        let ask = ApprovalAsk {
            id: id.to_owned(),
            now,
        };
        self.stub.call::<ops::GetApproval>(&ask).await
    }

    pub async fn decide_approval(
        &self,
        id: &str,
        decision: ApprovalDecision,
    ) -> Result<Answered<ApprovalView>> {
        let ask = ApprovalDecisionAsk {
            id: id.to_owned(),
            decision,
        };
        self.stub.call::<ops::DecideApproval>(&ask).await
    }

    pub async fn revoke(&self, now: i64) -> Result<Option<KeyRecord>> {
        self.call::<ops::Revoke>(&At { now }).await
    }

    /// Binds the key to an account budget made after it was issued; false
    /// for an unknown key.
    pub async fn attach_budget(&self, budget: &str) -> Result<bool> {
        let add = AddBudget {
            add: budget.to_owned(),
        };
        Ok(self.call::<ops::AttachBudget>(&add).await?.is_some())
    }

    pub async fn state(&self, now: i64) -> Result<Option<KeyState>> {
        self.call::<ops::GetState>(&At { now }).await
    }

    pub async fn set_faults(&self, faults: &Faults) -> Result<Option<Faults>> {
        self.call::<ops::SetFaults>(faults).await
    }
}

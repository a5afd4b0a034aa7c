//! Approvals: a call priced above a key's `approval_above_usd` is not
//! forwarded until a person approves that exact request. Its cost is held
//! against the caps while it waits (so waiting approvals cannot overcommit
//! them); approving lets the same request through once, on that hold;
//! denial or expiry releases it.

use serde::{Deserialize, Serialize};

use crate::core::money::Money;
use crate::core::token::KeyId;
use crate::error::{ApiError, ErrorCode};

/// Where an approval stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    Pending,
    Approved,
    Denied,
    Expired,
    /// The approved request went through (once).
    Used,
}

impl ApprovalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalStatus::Pending => "pending",
            ApprovalStatus::Approved => "approved",
            ApprovalStatus::Denied => "denied",
            ApprovalStatus::Expired => "expired",
            ApprovalStatus::Used => "used",
        }
    }

    pub fn parse(text: &str) -> Option<ApprovalStatus> {
        use ApprovalStatus::*;
        [Pending, Approved, Denied, Expired, Used]
            .into_iter()
            .find(|s| s.as_str() == text)
    }

    /// Still holding its cost against the caps.
    pub fn holds(self) -> bool {
        matches!(self, ApprovalStatus::Pending | ApprovalStatus::Approved)
    }
}

/// What a person sees when asked: the request as Keybrake read it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRequest {
    pub method: String,
    pub path: String,
    /// The vendor's amount in its own currency (minor units) and the
    /// currency, when the call states them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_minor: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// The customer or recipients the call names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recipients: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
}

/// One approval, as the key's object holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub id: String,
    pub key_id: String,
    /// The request it is for (method, path, forwarded body, account
    /// headers): only an identical request can use it.
    pub fingerprint: String,
    pub status: ApprovalStatus,
    pub cost: Money,
    /// The ledger day its cost is held on.
    pub day: i64,
    pub requested_at: i64,
    pub expires_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<i64>,
    /// `admin`, or the issuer that decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The request id of the call that used it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used_by: Option<String>,
    pub request: ApprovalRequest,
}

impl Approval {
    /// The approval as the API and webhooks show it.
    pub fn to_json(&self, label: &str, vendor: &str) -> serde_json::Value {
        use crate::core::time::to_rfc3339;
        serde_json::json!({
            "id": self.id,
            "key_id": self.key_id,
            "label": label,
            "vendor": vendor,
            "status": self.status.as_str(),
            "cost_usd": self.cost.to_json(),
            "requested_at": to_rfc3339(self.requested_at),
            "expires_at": to_rfc3339(self.expires_at),
            "expiresAt": self.expires_at,
            "decided_at": self.decided_at.map(to_rfc3339),
            "decided_by": self.decided_by,
            "note": self.note,
            "used_by": self.used_by,
            "request": {
                "method": self.request.method,
                "path": self.request.path,
                "amount": self.request.amount_minor,
                "currency": self.request.currency,
                "customer": self.request.customer,
                "recipients": self.request.recipients,
                "run_id": self.request.run_id,
            },
        })
    }

    /// The status as of `now`: a waiting approval past its time is expired
    /// even before the object's alarm has released it.
    pub fn status_at(&self, now: i64) -> ApprovalStatus {
        if self.status.holds() && now >= self.expires_at {
            ApprovalStatus::Expired
        } else {
            self.status
        }
    }
}

/// `apr_<key id hex>_<request id hex>`: the key's object can be found from
/// the id alone, and the id says which attempt asked.
pub fn approval_id(key_id: &str, request_id: &str) -> String {
    let key = key_id.strip_prefix("key_").unwrap_or(key_id);
    let req = request_id.strip_prefix("req_").unwrap_or(request_id);
    format!("apr_{key}_{req}")
}

/// The key an approval id belongs to.
pub fn key_of(approval_id: &str) -> Option<KeyId> {
    let rest = approval_id.strip_prefix("apr_")?;
    let (key, req) = rest.split_once('_')?;
    if req.is_empty() || req.len() > 64 || !req.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    KeyId::parse(&format!("key_{key}"))
}

/// The refusal that asks for approval, naming the approval to wait on.
pub fn approval_required(approval: &Approval, limit: Money, waiting: bool) -> ApiError {
    let message = if waiting {
        format!(
            "this call costs ${} and is waiting for approval {} (above this key's ${limit} threshold); repeat the same request once it is approved",
            approval.cost, approval.id
        )
    } else {
        format!(
            "this call costs ${}, above this key's ${limit} approval threshold; approval {} was requested: repeat the same request once it is approved",
            approval.cost, approval.id
        )
    };
    ApiError {
        approval_id: Some(approval.id.clone()),
        ..ApiError::new(ErrorCode::ApprovalRequired, message)
    }
}

/// A person's decision on an approval, applied by the key's object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalDecision {
    pub approve: bool,
    pub by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub now: i64,
}

/// Whether a decision may be applied: only to a waiting approval.
pub fn check_decision(approval: &Approval, decision: &ApprovalDecision) -> Result<(), ApiError> {
    match approval.status_at(decision.now) {
        ApprovalStatus::Pending => Ok(()),
        other => Err(ApiError::new(
            ErrorCode::ApprovalClosed,
            format!(
                "approval {} is {}; only a pending approval can be {}",
                approval.id,
                other.as_str(),
                if decision.approve {
                    "approved"
                } else {
                    "denied"
                }
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn approval_ids_lead_back_to_their_key() {
        let id = approval_id(
            "key_0123456789abcdef01234567",
            "req_aabbccddeeff00112233445566",
        );
        assert_eq!(
            id,
            "apr_0123456789abcdef01234567_aabbccddeeff00112233445566"
        );
        assert_eq!(
            key_of(&id).unwrap().as_str(),
            "key_0123456789abcdef01234567"
        );
        for bad in [
            "apr_0123456789abcdef01234567",
            "apr_0123456789abcdef01234567_",
            "apr_0123456789abcdef01234567_zz",
            "apr_xyz_aabb",
            "key_0123456789abcdef01234567_aabb",
            "apr_0123456789abcdef01234567_aa/../bb",
        ] {
            assert!(key_of(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn waiting_approvals_expire_on_time_and_closed_ones_stay_closed() {
        let a = Approval {
            id: "apr_x_1".into(),
            key_id: "key_x".into(),
            fingerprint: "f".into(),
            status: ApprovalStatus::Pending,
            cost: Money::from_micros(1),
            day: 0,
            requested_at: 0,
            expires_at: 100,
            decided_at: None,
            decided_by: None,
            note: None,
            used_by: None,
            request: ApprovalRequest::default(),
        };
        assert_eq!(a.status_at(99), ApprovalStatus::Pending);
        assert_eq!(a.status_at(100), ApprovalStatus::Expired);
        let used = Approval {
            status: ApprovalStatus::Used,
            ..a.clone()
        };
        assert_eq!(used.status_at(1_000), ApprovalStatus::Used);
        let decide = |approve, now| ApprovalDecision {
            approve,
            by: "admin".into(),
            note: None,
            now,
        };
        assert!(check_decision(&a, &decide(true, 50)).is_ok());
        assert_eq!(
            check_decision(&a, &decide(false, 100)).unwrap_err().code,
            ErrorCode::ApprovalClosed
        );
        assert_eq!(
            check_decision(&used, &decide(true, 50)).unwrap_err().code,
            ErrorCode::ApprovalClosed
        );
    }
}

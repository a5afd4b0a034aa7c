//! Audit retention: the cron trigger (`[triggers]` in `wrangler.toml`)
//! deletes audit rows older than `KEYBRAKE_AUDIT_RETENTION_DAYS` (30 by
//! default; `off` keeps everything).

use worker::{Env, Result};

use crate::store;

const DAY_MS: i64 = 86_400_000;
const DEFAULT_DAYS: u32 = 30;

/// How long audit rows are kept: `Some(days)`, or `None` for forever.
pub fn retention_days(value: Option<&str>) -> std::result::Result<Option<u32>, String> {
    match value.map(str::trim) {
        None | Some("") => Ok(Some(DEFAULT_DAYS)),
        Some("off") => Ok(None),
        Some(v) => match v.parse::<u32>() {
            Ok(days) if (1..=36_500).contains(&days) => Ok(Some(days)),
            _ => Err(format!(
                "KEYBRAKE_AUDIT_RETENTION_DAYS must be a whole number of days from 1 to 36500, or off (got {v:?})"
            )),
        },
    }
}

/// Prunes rows older than the retention as of `now` (epoch ms); returns how
/// many went. A misconfigured retention deletes nothing.
pub async fn prune_audit(env: &Env, now: i64) -> Result<u64> {
    let configured = env
        .var("KEYBRAKE_AUDIT_RETENTION_DAYS")
        .ok()
        .map(|v| v.to_string());
    let days = retention_days(configured.as_deref()).map_err(worker::Error::RustError)?;
    let Some(days) = days else {
        return Ok(0);
    };
    let db = env.d1(store::DB)?;
    store::delete_audit_before(&db, now - i64::from(days) * DAY_MS).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_is_days_or_off_and_bad_values_name_the_setting() {
        assert_eq!(retention_days(None), Ok(Some(30)));
        assert_eq!(retention_days(Some("7")), Ok(Some(7)));
        assert_eq!(retention_days(Some("off")), Ok(None));
        for bad in ["0", "-1", "7d", "36501", "seven"] {
            let err = retention_days(Some(bad)).unwrap_err();
            assert!(
                err.contains("KEYBRAKE_AUDIT_RETENTION_DAYS"),
                "{bad}: {err}"
            );
        }
    }
}

//! Correlating Keybrake's audit with the caller's traces: the W3C
//! `traceparent` header's trace id, and an optional `Keybrake-Run-Id`
//! naming the agent run.

/// The trace id of a valid `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`),
/// or `None`: an invalid header is ignored, as the W3C spec asks, rather
/// than failing the call.
pub fn trace_id(traceparent: &str) -> Option<String> {
    let mut parts = traceparent.trim().split('-');
    let (version, trace, parent, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let zero = |s: &str| s.bytes().all(|b| b == b'0');
    // Version 00 has exactly four fields; later versions may add more.
    let fields_ok = version != "00" || parts.next().is_none();
    (hex(version, 2)
        && version != "ff"
        && fields_ok
        && hex(trace, 32)
        && !zero(trace)
        && hex(parent, 16)
        && !zero(parent)
        && hex(flags, 2))
    .then(|| trace.to_owned())
}

/// Longest `Keybrake-Run-Id` kept.
pub const MAX_RUN_ID: usize = 128;

/// A `Keybrake-Run-Id`: 1 to 128 visible ASCII characters.
pub fn run_id(value: &str) -> Result<String, String> {
    if value.is_empty() || value.len() > MAX_RUN_ID || !value.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(format!(
            "must be 1 to {MAX_RUN_ID} visible ASCII characters"
        ));
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_yields_its_trace_id_only_when_valid() {
        let t = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(
            trace_id(t).as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        ] {
            assert_eq!(trace_id(bad), None, "{bad}");
        }
        // A later version may carry more fields.
        assert!(trace_id("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xyz").is_some());
    }

    #[test]
    fn run_ids_are_short_visible_ascii() {
        assert_eq!(run_id("wf_123:step-2").as_deref(), Ok("wf_123:step-2"));
        assert!(run_id("").is_err());
        assert!(run_id("has space").is_err());
        assert!(run_id(&"x".repeat(129)).is_err());
        assert!(run_id("tab\there").is_err());
    }
}

-- The caller's W3C trace id and agent run id on each audit row, so agent
-- traces and Keybrake's audit can be joined.

ALTER TABLE audit ADD COLUMN trace_id TEXT;
ALTER TABLE audit ADD COLUMN run_id TEXT;
CREATE INDEX audit_by_run ON audit (run_id, created_at DESC, id DESC);
CREATE INDEX audit_by_trace ON audit (trace_id, created_at DESC, id DESC);

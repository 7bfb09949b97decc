-- Escalation (docs/alerts.md): a channel with escalate_after_s > 0 is a later on-call
-- level. It gets a flag only if nobody acknowledged the flag within that time after it
-- was stored; a flag acknowledged or resolved by then cancels the delivery, a flag
-- escalated by hand makes it due at once.
ALTER TABLE alert_channels ADD COLUMN escalate_after_s integer NOT NULL DEFAULT 0
    CHECK (escalate_after_s BETWEEN 0 AND 604800);
ALTER TABLE alert_deliveries ADD COLUMN escalation boolean NOT NULL DEFAULT false;
ALTER TABLE alert_deliveries DROP CONSTRAINT alert_deliveries_status_check;
ALTER TABLE alert_deliveries ADD CONSTRAINT alert_deliveries_status_check
    CHECK (status IN ('pending', 'delivered', 'dead', 'cancelled'));

-- Who is on call (docs/alerts.md): a channel may be on call only for part of each day (a
-- local wall-clock range in an IANA zone, across midnight when the end is before the
-- start); a flag stored outside it is not sent there (a day-shift and a night-shift
-- channel together cover the day). Without a range, the channel is always on call.
ALTER TABLE alert_channels ADD COLUMN on_call_start time;
ALTER TABLE alert_channels ADD COLUMN on_call_end time;
ALTER TABLE alert_channels ADD COLUMN on_call_zone text;
ALTER TABLE alert_channels ADD CONSTRAINT alert_channels_on_call_complete
    CHECK ((on_call_start IS NULL) = (on_call_end IS NULL)
           AND (on_call_start IS NULL) = (on_call_zone IS NULL));

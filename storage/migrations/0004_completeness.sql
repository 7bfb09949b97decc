-- Gateway heartbeats (from the status topic) and hourly data completeness with gap
-- attribution. Both are written by the stream worker; the API reads them.

CREATE TABLE gateway_heartbeats (
    gateway_id        text COLLATE "C" NOT NULL,
    at                timestamptz NOT NULL,     -- the gateway's status time
    subject_code      text COLLATE "C" NOT NULL,
    broker_reachable  boolean NOT NULL,
    spool_items       integer NOT NULL,         -- readings waiting on the gateway
    unpersisted       integer NOT NULL,         -- batches sent, not yet persisted
    devices           jsonb NOT NULL,           -- device_id -> {connected, last_reading_at}
    PRIMARY KEY (gateway_id, at)
);

-- One row per subject, device, metric and hour. Minutes of the hour without any reading
-- from the device are attributed: the gateway reported nothing around that minute
-- (gateway_offline), it reported readings waiting in its spool (upload_backlog), or it
-- was online with nothing waiting (device_silent).
CREATE TABLE completeness_hourly (
    subject_code      text COLLATE "C" NOT NULL,
    device_id         text COLLATE "C" NOT NULL,
    metric            text COLLATE "C" NOT NULL,
    hour              timestamptz NOT NULL,
    study_code        text COLLATE "C" NOT NULL,
    expected          double precision NOT NULL,  -- samples the device nominally sends
    received          bigint NOT NULL,
    wear_minutes      integer NOT NULL,           -- minutes with data from the device
    enrolled_minutes  integer NOT NULL,           -- minutes of the hour it was enrolled
    device_silent_minutes    integer NOT NULL,
    gateway_offline_minutes  integer NOT NULL,
    upload_backlog_minutes   integer NOT NULL,
    computed_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subject_code, device_id, metric, hour)
);
CREATE INDEX completeness_hourly_study ON completeness_hourly (study_code, hour);

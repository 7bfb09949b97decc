-- The stream workers' view of their partitions, for the monitoring page: how far behind
-- each is, and whether it has stalled (records waiting, no committed progress). Written
-- by each worker every few seconds (stream/app.py); a row not updated for a while belongs
-- to a partition no worker holds any more.
CREATE TABLE stream_partitions (
    app_id text NOT NULL,
    topic text NOT NULL,
    partition integer NOT NULL,
    committed bigint NOT NULL,
    lag bigint NOT NULL,
    stalled_s real,  -- seconds without progress while records wait; NULL: moving
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (app_id, topic, partition)
);

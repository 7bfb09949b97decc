-- Per-gateway, per-device persisted watermarks kept by the stream sink. ``persisted_through``
-- is the highest gateway sequence below which every batch is stored; ``pending`` holds
-- ranges stored beyond a gap (out-of-order or lost batches), merged when the gap closes.
CREATE TABLE gateway_watermarks (
    gateway_id         text COLLATE "C" NOT NULL,
    device_id          text COLLATE "C" NOT NULL,
    persisted_through  bigint NOT NULL DEFAULT -1,
    pending            jsonb NOT NULL DEFAULT '[]'::jsonb,  -- [[from, to], ...] sorted
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (gateway_id, device_id)
);

-- Alert delivery (stream/alerts/): where a study's flags go, and what became of each try.
-- A delivery is one (flag, channel); its idempotency key goes with every try, so a
-- receiver that saw a try whose answer was lost takes the repeat as the same alert.
CREATE TABLE alert_channels (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    study_code    code_text NOT NULL REFERENCES studies (code),
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    kind          text NOT NULL CHECK (kind IN ('webhook', 'email')),
    target        text NOT NULL CHECK (length(target) BETWEEN 3 AND 2000),
    secret        text,  -- a webhook's HMAC signing key (the receiver holds the same)
    min_severity  text NOT NULL DEFAULT 'medium'
                  CHECK (min_severity IN ('info', 'low', 'medium', 'high', 'critical')),
    rules         text[] NOT NULL DEFAULT '{}',  -- empty: every rule
    sites         text[] NOT NULL DEFAULT '{}',  -- empty: every site
    quiet_start   time,  -- quiet hours (local wall time in quiet_zone): non-critical waits
    quiet_end     time,
    quiet_zone    text,
    enabled       boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (study_code, name),
    CHECK ((quiet_start IS NULL) = (quiet_end IS NULL)
           AND (quiet_start IS NULL) = (quiet_zone IS NULL)),
    CHECK (kind <> 'webhook' OR secret IS NOT NULL)
);

CREATE TABLE alert_deliveries (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    flag_id          bigint NOT NULL REFERENCES flags (id),
    channel_id       bigint NOT NULL REFERENCES alert_channels (id),
    idempotency_key  text NOT NULL UNIQUE,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL,  -- also the lease of a try under way
    flag_created_at  timestamptz NOT NULL,  -- when the flag was stored: latency's start
    last_status      integer,
    last_error       text,
    delivered_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (flag_id, channel_id)
);
CREATE INDEX alert_deliveries_due ON alert_deliveries (next_attempt_at) WHERE status = 'pending';

CREATE TABLE alert_attempts (
    delivery_id  bigint NOT NULL REFERENCES alert_deliveries (id),
    attempt      integer NOT NULL,
    started_at   timestamptz NOT NULL,
    duration_ms  real NOT NULL,
    outcome      text NOT NULL CHECK (outcome IN ('delivered', 'failed', 'dead')),
    status       integer,  -- HTTP status, or SMTP reply code
    error        text,
    PRIMARY KEY (delivery_id, attempt)
);

-- Flags not yet planned for delivery. Flags stored before alerting existed are not sent.
ALTER TABLE flags ADD COLUMN alerts_planned_at timestamptz;
UPDATE flags SET alerts_planned_at = now();
CREATE INDEX flags_alerts_unplanned ON flags (id) WHERE alerts_planned_at IS NULL;

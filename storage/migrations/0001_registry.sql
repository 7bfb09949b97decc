-- Registry, flags, audit trail and export cursors.
-- Subjects carry a pseudonymous code only: no names, no dates of birth, anywhere.

CREATE EXTENSION IF NOT EXISTS btree_gist;  -- for the enrollment exclusion constraint

CREATE DOMAIN code_text AS text COLLATE "C"
    CHECK (VALUE ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$');

CREATE TABLE studies (
    code        code_text PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    settings    jsonb NOT NULL DEFAULT '{}'::jsonb,  -- rule thresholds, wear-time minimums
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sites (
    study_code  code_text NOT NULL REFERENCES studies (code),
    code        code_text NOT NULL,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (study_code, code)
);

CREATE TABLE subjects (
    code        code_text PRIMARY KEY,  -- pseudonymous, unique across studies
    study_code  code_text NOT NULL REFERENCES studies (code),
    site_code   code_text NOT NULL,
    arm         text,
    status      text NOT NULL DEFAULT 'active'
                CHECK (status IN ('screening', 'active', 'completed', 'withdrawn')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (study_code, site_code) REFERENCES sites (study_code, code)
);
CREATE INDEX subjects_study_site ON subjects (study_code, site_code);

CREATE TABLE devices (
    id          code_text PRIMARY KEY,
    study_code  code_text REFERENCES studies (code),
    device_type text NOT NULL
                CHECK (device_type IN ('ecg_patch', 'cgm', 'glucose_meter', 'smartwatch',
                                       'bp_cuff')),
    model       text,
    serial      text,
    firmware    text,
    mac         text CHECK (mac IS NULL OR mac ~ '^([0-9A-F]{2}:){5}[0-9A-F]{2}$'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (device_type, serial)
);

CREATE TABLE gateways (
    id              code_text PRIMARY KEY,
    study_code      code_text NOT NULL REFERENCES studies (code),
    site_code       code_text,
    credential_hash text,  -- hash of the gateway's API key, never the key
    status          text NOT NULL DEFAULT 'provisioned'
                    CHECK (status IN ('provisioned', 'active', 'retired')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_seen_at    timestamptz
);

-- Which device feeds which subject through which gateway, and when. A device belongs to
-- at most one subject at any instant.
CREATE TABLE enrollments (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    study_code    code_text NOT NULL REFERENCES studies (code),
    subject_code  code_text NOT NULL REFERENCES subjects (code),
    device_id     code_text NOT NULL REFERENCES devices (id),
    gateway_id    code_text NOT NULL REFERENCES gateways (id),
    valid         tstzrange NOT NULL CHECK (NOT isempty(valid)),
    created_at    timestamptz NOT NULL DEFAULT now(),
    EXCLUDE USING gist (device_id WITH =, valid WITH &&)
);
CREATE INDEX enrollments_subject ON enrollments (subject_code);
CREATE INDEX enrollments_gateway ON enrollments (gateway_id);

CREATE TABLE flags (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    study_code     code_text NOT NULL,
    subject_code   code_text NOT NULL,
    device_id      code_text,
    rule_id        text NOT NULL,
    rule_version   integer NOT NULL,
    severity       text NOT NULL CHECK (severity IN ('info', 'low', 'medium', 'high', 'critical')),
    status         text NOT NULL DEFAULT 'open'
                   CHECK (status IN ('open', 'acknowledged', 'escalated', 'resolved')),
    window_start   timestamptz NOT NULL,
    window_end     timestamptz NOT NULL CHECK (window_end >= window_start),
    raised_on      text NOT NULL CHECK (raised_on IN ('live', 'backfill')),
    trigger_values jsonb NOT NULL DEFAULT '[]'::jsonb,  -- the readings that raised it
    details        jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    -- Re-sent or re-processed data raises the same flag again: it must land on this row.
    UNIQUE NULLS NOT DISTINCT (rule_id, rule_version, subject_code, device_id, window_start)
);
CREATE INDEX flags_study_status ON flags (study_code, status, created_at DESC);
CREATE INDEX flags_subject ON flags (subject_code, window_start DESC);

-- Append-only, hash-chained: hash = sha256(prev_hash || canonical row), verified by the API.
CREATE TABLE audit_log (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    actor        text NOT NULL,
    role         text NOT NULL,
    action       text NOT NULL,
    entity_type  text NOT NULL,
    entity_id    text NOT NULL,
    reason       text,
    details      jsonb NOT NULL DEFAULT '{}'::jsonb,
    prev_hash    bytea,
    hash         bytea NOT NULL
);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

-- Where each incremental export job (EDC) left off: exports resume here after a crash.
CREATE TABLE export_cursors (
    consumer     text NOT NULL,
    export_kind  text NOT NULL,
    study_code   code_text NOT NULL REFERENCES studies (code),
    position     jsonb NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, export_kind, study_code)
);

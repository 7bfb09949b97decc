-- Every read of subject-level data or of an export: who (token id and role), what, when.
CREATE TABLE data_access_log (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at            timestamptz NOT NULL DEFAULT now(),
    token_id      text COLLATE "C" NOT NULL,
    role          text NOT NULL,
    study_code    text COLLATE "C" NOT NULL,
    action        text NOT NULL,           -- e.g. readings, latest, export:fhir
    subject_code  text COLLATE "C",        -- NULL for study-wide reads
    details       jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX data_access_log_study ON data_access_log (study_code, at DESC);

-- Days on which a subject's wear time or data completeness fell below the study's minimum
-- (studies.settings: min_daily_wear_minutes, min_daily_completeness), acknowledged like
-- flags and exported to the EDC.
CREATE TABLE protocol_deviations (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    study_code    code_text NOT NULL REFERENCES studies (code),
    subject_code  code_text NOT NULL REFERENCES subjects (code),
    day           date NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('wear_time', 'completeness')),
    observed      double precision NOT NULL,
    required      double precision NOT NULL,
    status        text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'acknowledged')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (study_code, subject_code, day, kind)
);

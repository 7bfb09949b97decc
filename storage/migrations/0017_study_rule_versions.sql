-- Every version of a study's rule definitions (storage/study_rules.py). The rules in force
-- are studies.settings -> 'rules' (read by the stream worker); each change through the
-- API or CLI writes the new version there and keeps it here, with who and why. Flags record
-- the version that raised them, so a changed threshold never rewrites an old flag.
CREATE TABLE study_rule_versions (
    study_code  code_text NOT NULL REFERENCES studies (code),
    rule_id     text NOT NULL CHECK (rule_id ~ '^[a-z][a-z0-9_]{0,63}$'),
    version     integer NOT NULL CHECK (version >= 1),
    definition  jsonb NOT NULL,  -- the study's override of the rule as of this version
    actor       text NOT NULL,
    reason      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (study_code, rule_id, version)
);

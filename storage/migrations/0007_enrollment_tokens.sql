-- Single-use, short-lived tokens a new home gateway exchanges for its configuration and
-- its API credentials ("te_<id>_<secret>", stored as an HMAC of the secret).
CREATE TABLE enrollment_tokens (
    id           text COLLATE "C" PRIMARY KEY,
    secret_hash  text NOT NULL,
    study_code   code_text NOT NULL REFERENCES studies (code),
    gateway_id   code_text NOT NULL REFERENCES gateways (id),
    created_by   text NOT NULL,            -- the issuing API token's id
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz
);

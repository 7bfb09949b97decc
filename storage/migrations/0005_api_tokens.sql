-- API credentials: opaque bearer tokens ("tw_<id>_<secret>"), stored as an HMAC of the
-- secret keyed by the token id, never the secret itself. A token has one role, scoped to
-- one study (NULL: platform administrator), and for role 'gateway' to one gateway.
CREATE TABLE api_tokens (
    id          text COLLATE "C" PRIMARY KEY,
    secret_hash text NOT NULL,
    role        text NOT NULL CHECK (role IN ('admin', 'monitor', 'edc', 'analyst', 'gateway')),
    study_code  code_text REFERENCES studies (code),
    gateway_id  code_text REFERENCES gateways (id),
    name        text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz,
    revoked_at  timestamptz,
    CHECK ((role = 'gateway') = (gateway_id IS NOT NULL)),
    CHECK (role = 'admin' OR study_code IS NOT NULL)
);

-- API tokens: `Authorization: Bearer <secret>`, each bound to one organisation and one role.
--
-- Tokens are configuration, not journey facts: issuing or revoking one says nothing about a
-- beneficiary or a programme, and a revoked token must stop working at once without waiting
-- for a projection. So they live in this ordinary table, outside the append-only event log.
-- (Who wrote each event stays in the log: every event's metadata carries its token's id.)
--
-- Only a hash of each secret is stored: the SHA-256 of the secret's UTF-8 bytes, lower-case
-- hex. The secret itself (`masar_` + 32 random bytes, base64url) is shown once, when issued,
-- and cannot be recovered from this table. The secret carries 256 random bits, so a fast
-- unsalted hash is enough (nothing to brute-force as with a password), and the lookup by
-- hash is an index scan: comparing hashes inside the database leaks no timing that helps an
-- attacker guess a secret.

CREATE TABLE api_tokens
(
    id                uuid PRIMARY KEY,
    -- The organisation the token acts for (registered when the token was issued).
    organisation_code text        NOT NULL,
    role              text        NOT NULL CHECK (role IN ('ADMIN', 'PARTNER', 'AUDITOR', 'DASHBOARD')),
    -- What the token is for, e.g. "Tanger field office tablet"; never the secret.
    label             text        NOT NULL,
    secret_hash       text        NOT NULL UNIQUE CHECK (secret_hash ~ '^[0-9a-f]{64}$'),
    created_at        timestamptz NOT NULL DEFAULT now(),
    -- Set once, when revoked; a revoked token never authenticates again.
    revoked_at        timestamptz
);

CREATE INDEX api_tokens_organisation ON api_tokens (organisation_code);

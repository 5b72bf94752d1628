-- Each photo of a rectification order's repair evidence, by hash: serving a thumbnail asks
-- whether the reader may see that hash, and an index on it answers at once where a LIKE over
-- the evidence of every order the reader reaches did not. `rectification_orders.evidence`
-- keeps the list of the latest repair report as it was sent (a JSON array of hashes, which a
-- report after a send-back replaces); this table holds the same hashes.
CREATE TABLE order_evidence_photos (
    order_id BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (order_id, sha256),
    FOREIGN KEY (order_id) REFERENCES rectification_orders (id)
);
CREATE INDEX order_evidence_photos_sha256 ON order_evidence_photos (sha256);

-- A text as JSON, or NULL where it does not parse: PostgreSQL 15 has neither `IS JSON` nor
-- `pg_input_is_valid`, and a bare cast would stop the migration at the first such row. The
-- function lives only for this migration (dropped below, in the same transaction); it is not
-- a temporary one because a hardened server may refuse the role temporary objects.
CREATE FUNCTION muster_0013_evidence_json(evidence TEXT) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN evidence::jsonb;
EXCEPTION WHEN others THEN
    RETURN NULL;
END
$$;

-- The evidence of the orders already reported: only the entries that are hashes (64 lowercase
-- hex digits), as the attachment store names its files. A value that does not parse, or is not
-- a JSON array, gives nothing, and so does an entry that is not a string.
INSERT INTO order_evidence_photos (order_id, sha256)
SELECT o.id, e.value #>> '{}'
FROM rectification_orders o
CROSS JOIN LATERAL muster_0013_evidence_json(o.evidence) AS parsed(evidence)
CROSS JOIN LATERAL jsonb_array_elements(
    CASE WHEN jsonb_typeof(parsed.evidence) = 'array' THEN parsed.evidence ELSE '[]'::jsonb END
) AS e(value)
WHERE jsonb_typeof(e.value) = 'string' AND (e.value #>> '{}') ~ '^[0-9a-f]{64}$'
ON CONFLICT DO NOTHING;

DROP FUNCTION muster_0013_evidence_json(TEXT);

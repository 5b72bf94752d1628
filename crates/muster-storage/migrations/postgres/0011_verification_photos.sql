-- Each photo of a recorded finding, by hash: serving a thumbnail asks whether the reader may
-- see that hash, and an index on it answers at once where a LIKE over every finding's JSON
-- array of the reader's subtree did not. `verification_items.photos` keeps the list as it
-- was sent (findings from before the attachment store hold file names there, not hashes).
CREATE TABLE verification_photos (
    sample_id BIGINT NOT NULL,
    record_id BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (sample_id, record_id, sha256),
    FOREIGN KEY (sample_id, record_id) REFERENCES verification_items (sample_id, record_id)
);
CREATE INDEX verification_photos_sha256 ON verification_photos (sha256);

-- The photos of findings already recorded: only the entries that are hashes (64 lowercase
-- hex digits), as the attachment store names its files. Muster always wrote the column with
-- a JSON serializer, so every value parses (PostgreSQL 15 has no `IS JSON` to skip one that
-- would not, and the migration would stop on it); a value that is not an array, or an entry
-- that is not a string, is skipped.
INSERT INTO verification_photos (sample_id, record_id, sha256)
SELECT v.sample_id, v.record_id, p.value #>> '{}'
FROM verification_items v
CROSS JOIN LATERAL jsonb_array_elements(
    CASE WHEN jsonb_typeof(v.photos::jsonb) = 'array' THEN v.photos::jsonb ELSE '[]'::jsonb END
) AS p(value)
WHERE v.photos IS NOT NULL AND v.photos LIKE '[%'
  AND jsonb_typeof(p.value) = 'string' AND (p.value #>> '{}') ~ '^[0-9a-f]{64}$'
ON CONFLICT DO NOTHING;

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
-- hex digits), as the attachment store names its files.
INSERT OR IGNORE INTO verification_photos (sample_id, record_id, sha256)
SELECT v.sample_id, v.record_id, j.value
FROM verification_items v, json_each(v.photos) j
WHERE v.photos IS NOT NULL AND json_valid(v.photos) AND json_type(v.photos) = 'array'
  AND j.type = 'text' AND length(j.value) = 64 AND j.value NOT GLOB '*[^0-9a-f]*';

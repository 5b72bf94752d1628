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

-- The evidence of the orders already reported: only the entries that are hashes (64 lowercase
-- hex digits), as the attachment store names its files. A value that is not a JSON array
-- gives nothing; the nested CASE keeps `json_each` from ever reading one that does not parse.
INSERT OR IGNORE INTO order_evidence_photos (order_id, sha256)
SELECT o.id, j.value
FROM rectification_orders o,
    json_each(CASE WHEN json_valid(o.evidence) THEN
        CASE WHEN json_type(o.evidence) = 'array' THEN o.evidence END
    END) j
WHERE j.type = 'text' AND length(j.value) = 64 AND j.value NOT GLOB '*[^0-9a-f]*';

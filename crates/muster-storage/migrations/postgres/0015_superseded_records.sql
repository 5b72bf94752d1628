-- A later survey round renews the holdings an earlier one registered: its approval updates the
-- record in place (the old quantity becomes `previous_quantity`, "last year's figure"), so a
-- holding is never registered twice. What the approval overwrote is kept here, one row per
-- record and approved version, so that sending that version back restores the record exactly
-- as it was; the rows go when it is sent back. `record_round_id` and `record_submission_id`
-- are the round and version the record came from before.
CREATE TABLE superseded_records (
    submission_id BIGINT NOT NULL REFERENCES submissions (id),
    record_id BIGINT NOT NULL REFERENCES potential_records (id),
    quantity DOUBLE PRECISION NOT NULL,
    status TEXT NOT NULL,
    attributes TEXT NOT NULL,
    quality_grade TEXT NOT NULL,
    holder_organization_id BIGINT,
    holder_name TEXT NOT NULL,
    holder_id_number TEXT,
    holder_phone TEXT,
    site_id BIGINT,
    site_name TEXT,
    lat DOUBLE PRECISION,
    lon DOUBLE PRECISION,
    record_round_id BIGINT,
    record_submission_id BIGINT,
    reporting_organization_id BIGINT,
    first_reported_quantity DOUBLE PRECISION NOT NULL,
    previous_quantity DOUBLE PRECISION,
    verified_quantity DOUBLE PRECISION,
    last_verified_at BIGINT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (submission_id, record_id)
);
CREATE INDEX superseded_records_source ON superseded_records (record_round_id, record_submission_id);

-- Potential registry and survey rounds: the taxonomy, sites, potential records and their
-- roll-ups, survey rounds with their assignments and versioned submissions, baselines, and
-- on-site verification. Quantities are DOUBLE PRECISION in the type's unit.

-- The taxonomy is one JSON document (muster_domain::taxonomy) with a revision counter: it is
-- read whole, edited one type at a time, and small (hundreds of types).
CREATE TABLE taxonomy (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    revision BIGINT NOT NULL,
    document TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE sites (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    region_code TEXT COLLATE "C" NOT NULL REFERENCES regions (code),
    region_path TEXT COLLATE "C" NOT NULL,
    lat DOUBLE PRECISION,
    lon DOUBLE PRECISION,
    organization_id BIGINT REFERENCES organizations (id),
    created_at BIGINT NOT NULL
);
CREATE INDEX sites_path ON sites (region_path, id);

-- A holding: what a holder has of one type at one place. `holding_key` is
-- region path | type code | holder | site, normalised, so that
--   * the same holding reported twice (by two units, or twice in one file) collides on it,
--   * and, because it starts with the region path, the unique index on it is also the
--     subtree range index: one index serves both, and imports sorted by it append.
CREATE TABLE potential_records (
    id BIGSERIAL PRIMARY KEY,
    holding_key TEXT COLLATE "C" NOT NULL,
    type_code TEXT NOT NULL,
    quantity DOUBLE PRECISION NOT NULL,
    attributes TEXT NOT NULL,
    quality_grade TEXT NOT NULL,
    holder_kind TEXT NOT NULL,
    holder_organization_id BIGINT REFERENCES organizations (id),
    holder_name TEXT NOT NULL,
    holder_id_number TEXT,
    holder_phone TEXT,
    site_id BIGINT REFERENCES sites (id),
    site_name TEXT,
    region_code TEXT COLLATE "C" NOT NULL REFERENCES regions (code),
    region_path TEXT COLLATE "C" NOT NULL,
    lat DOUBLE PRECISION,
    lon DOUBLE PRECISION,
    status TEXT NOT NULL,
    round_id BIGINT,
    submission_id BIGINT,
    reporting_organization_id BIGINT REFERENCES organizations (id),
    first_reported_quantity DOUBLE PRECISION NOT NULL,
    previous_quantity DOUBLE PRECISION,
    verified_quantity DOUBLE PRECISION,
    last_verified_at BIGINT,
    reopened BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX potential_records_holding ON potential_records (holding_key);
CREATE INDEX potential_records_round ON potential_records (round_id, reporting_organization_id);

-- Totals per region subtree and type, kept current in the same transaction as every write to
-- potential_records: one row for each region on a record's path and one for the root '/'.
-- "Totals for any subtree" is then a read of at most a few hundred rows.
CREATE TABLE potential_totals (
    region_path TEXT COLLATE "C" NOT NULL,
    type_code TEXT NOT NULL,
    record_count BIGINT NOT NULL,
    quantity DOUBLE PRECISION NOT NULL,
    available_quantity DOUBLE PRECISION NOT NULL,
    verified_count BIGINT NOT NULL,
    verified_quantity DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (region_path, type_code)
);

CREATE TABLE survey_rounds (
    id BIGSERIAL PRIMARY KEY,
    title TEXT NOT NULL,
    region_code TEXT COLLATE "C" REFERENCES regions (code),
    region_path TEXT COLLATE "C" NOT NULL,
    type_codes TEXT NOT NULL,
    opened_at BIGINT NOT NULL,
    deadline BIGINT NOT NULL,
    status TEXT NOT NULL,
    created_by BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX survey_rounds_path ON survey_rounds (region_path, id);

-- One line of a round's decomposition: a region below the round's region, or a member unit
-- in one. Reviews go up `parent_id`.
CREATE TABLE round_assignments (
    id BIGSERIAL PRIMARY KEY,
    round_id BIGINT NOT NULL REFERENCES survey_rounds (id),
    parent_id BIGINT REFERENCES round_assignments (id),
    region_code TEXT COLLATE "C" REFERENCES regions (code),
    region_path TEXT COLLATE "C" NOT NULL,
    organization_id BIGINT REFERENCES organizations (id),
    status TEXT NOT NULL,
    current_submission_id BIGINT,
    first_submitted_at BIGINT,
    submitted_at BIGINT,
    approved_at BIGINT
);
CREATE INDEX round_assignments_round_path ON round_assignments (round_id, region_path);
CREATE INDEX round_assignments_parent ON round_assignments (parent_id);

-- Each submission of an assignment is a new version; a correction never makes a second copy.
CREATE TABLE submissions (
    id BIGSERIAL PRIMARY KEY,
    assignment_id BIGINT NOT NULL REFERENCES round_assignments (id),
    round_id BIGINT NOT NULL REFERENCES survey_rounds (id),
    version BIGINT NOT NULL,
    source TEXT NOT NULL,
    file_name TEXT,
    content_sha256 TEXT,
    row_count BIGINT NOT NULL,
    total_quantity DOUBLE PRECISION NOT NULL,
    status TEXT NOT NULL,
    review_comment TEXT,
    submitted_by BIGINT,
    submitted_at BIGINT NOT NULL,
    reviewed_by BIGINT,
    reviewed_at BIGINT,
    CONSTRAINT submissions_version UNIQUE (assignment_id, version)
);
CREATE INDEX submissions_round ON submissions (round_id, assignment_id);

CREATE TABLE submission_rows (
    submission_id BIGINT NOT NULL REFERENCES submissions (id),
    row_number BIGINT NOT NULL,
    holding_key TEXT COLLATE "C" NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (submission_id, row_number)
);

CREATE TABLE baselines (
    region_code TEXT COLLATE "C" NOT NULL REFERENCES regions (code),
    region_path TEXT COLLATE "C" NOT NULL,
    type_code TEXT NOT NULL,
    required_quantity DOUBLE PRECISION NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (region_path, type_code)
);

CREATE TABLE verification_samples (
    id BIGSERIAL PRIMARY KEY,
    round_id BIGINT REFERENCES survey_rounds (id),
    region_code TEXT COLLATE "C" REFERENCES regions (code),
    region_path TEXT COLLATE "C" NOT NULL,
    method TEXT NOT NULL,
    parameters TEXT NOT NULL,
    seed BIGINT NOT NULL,
    created_by BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX verification_samples_path ON verification_samples (region_path, id);

CREATE TABLE verification_items (
    sample_id BIGINT NOT NULL REFERENCES verification_samples (id),
    record_id BIGINT NOT NULL REFERENCES potential_records (id),
    region_path TEXT COLLATE "C" NOT NULL,
    reporting_organization_id BIGINT,
    verifier_user_id BIGINT REFERENCES users (id),
    status TEXT NOT NULL,
    reported_quantity DOUBLE PRECISION NOT NULL,
    quantity_seen DOUBLE PRECISION,
    location_right BIGINT,
    type_right BIGINT,
    notes TEXT,
    photos TEXT,
    accurate BIGINT,
    relative_error DOUBLE PRECISION,
    found_at BIGINT,
    PRIMARY KEY (sample_id, record_id)
);
CREATE INDEX verification_items_verifier ON verification_items (verifier_user_id, status);
CREATE INDEX verification_items_path ON verification_items (region_path);

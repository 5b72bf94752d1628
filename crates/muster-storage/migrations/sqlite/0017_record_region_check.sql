-- no-transaction
-- A record's region is checked once per write, not once per row, as on PostgreSQL since its
-- 0007 (issue 3's import speed): the foreign key from potential_records.region_code to
-- regions probed the regions index for every record stored, a fifth of SQLite's time to
-- insert a million records. Regions are never deleted and their codes never change, and
-- every write of records checks their regions with one set-based query in the same
-- transaction (`check_record_regions`), which also checks the path against the region's.
--
-- SQLite cannot drop a constraint, so the table is rebuilt as its documentation's
-- "generalized ALTER TABLE procedure" does it: foreign keys off (outside a transaction,
-- hence `no-transaction` above), the new table filled from the old in one transaction, the old
-- dropped and the new renamed, the indexes made again, the keys into and out of it checked,
-- and foreign keys on again. The AUTOINCREMENT counter is carried over, so an id a deleted
-- record had is never given again (audit entries name records by id). It copies every record
-- once, in one transaction that the server's start waits for: see ARCHITECTURE.md
-- ("Upgrading") for the time and disk it takes.
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;
CREATE TABLE potential_records_rebuilt (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    holding_key TEXT NOT NULL,
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
    region_code TEXT NOT NULL,
    region_path TEXT NOT NULL,
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
    updated_at BIGINT NOT NULL,
    reserved_quantity DOUBLE PRECISION NOT NULL DEFAULT 0
);
INSERT INTO potential_records_rebuilt (
    id, holding_key, type_code, quantity, attributes, quality_grade, holder_kind,
    holder_organization_id, holder_name, holder_id_number, holder_phone, site_id, site_name,
    region_code, region_path, lat, lon, status, round_id, submission_id,
    reporting_organization_id, first_reported_quantity, previous_quantity, verified_quantity,
    last_verified_at, reopened, created_at, updated_at, reserved_quantity
)
SELECT
    id, holding_key, type_code, quantity, attributes, quality_grade, holder_kind,
    holder_organization_id, holder_name, holder_id_number, holder_phone, site_id, site_name,
    region_code, region_path, lat, lon, status, round_id, submission_id,
    reporting_organization_id, first_reported_quantity, previous_quantity, verified_quantity,
    last_verified_at, reopened, created_at, updated_at, reserved_quantity
FROM potential_records ORDER BY id;
CREATE TEMP TABLE potential_records_sequence AS
    SELECT seq FROM sqlite_sequence WHERE name = 'potential_records';
DROP TABLE potential_records;
ALTER TABLE potential_records_rebuilt RENAME TO potential_records;
DELETE FROM sqlite_sequence WHERE name IN ('potential_records', 'potential_records_rebuilt');
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'potential_records', max(seq) FROM (
        SELECT seq FROM potential_records_sequence
        UNION ALL SELECT max(id) FROM potential_records
    ) HAVING max(seq) IS NOT NULL;
DROP TABLE potential_records_sequence;
CREATE UNIQUE INDEX potential_records_holding ON potential_records (holding_key);
CREATE INDEX potential_records_round ON potential_records (round_id, reporting_organization_id)
    WHERE round_id IS NOT NULL;
CREATE INDEX potential_records_type_status ON potential_records (type_code, status);
CREATE INDEX potential_records_site ON potential_records (site_id) WHERE site_id IS NOT NULL;
-- A key of the rebuilt table, or of a table referring to it, left dangling fails the CHECK,
-- whose name is the error's message, and the whole migration with it (nothing is changed;
-- `PRAGMA foreign_key_check` in the sqlite3 shell lists the rows).
CREATE TEMP TABLE dangling_keys (
    found BIGINT NOT NULL,
    CONSTRAINT "a foreign key of potential_records or of a table referring to it is dangling: run PRAGMA foreign_key_check" CHECK (found = 0)
);
INSERT INTO dangling_keys SELECT count(*) FROM (
    SELECT 1 FROM pragma_foreign_key_check('potential_records')
    UNION ALL SELECT 1 FROM pragma_foreign_key_check('verification_items')
    UNION ALL SELECT 1 FROM pragma_foreign_key_check('demand_allocations')
    UNION ALL SELECT 1 FROM pragma_foreign_key_check('requisition_items')
    UNION ALL SELECT 1 FROM pragma_foreign_key_check('superseded_records')
);
DROP TABLE dangling_keys;
COMMIT;
PRAGMA foreign_keys = ON;

-- The two figures of a submitted row that a round's dashboard adds up, its type and its
-- quantity, as columns beside the row's `record` (a `RecordDraft` as JSON): the dashboard sums
-- them in SQL instead of reading and parsing every row of the round. Muster writes them with
-- each row from now on; here they are filled in from the JSON of the rows already stored. They
-- stay NULL where a stored `record` does not read as a draft, and the dashboard leaves such a
-- row out.
ALTER TABLE submission_rows ADD COLUMN type_code TEXT;
ALTER TABLE submission_rows ADD COLUMN quantity DOUBLE PRECISION;

-- A row's type and quantity from its JSON, each NULL where it is not there as a string or a
-- number, and both NULL where the text does not parse: PostgreSQL 15 has neither `IS JSON`
-- nor `pg_input_is_valid`, and a bare cast would stop the migration at the first such row (as
-- in 0013). The function lives only for this migration (dropped below, in the same
-- transaction).
CREATE FUNCTION muster_0014_row_figures(
    row_record TEXT,
    OUT row_type_code TEXT,
    OUT row_quantity DOUBLE PRECISION
)
LANGUAGE plpgsql AS $$
DECLARE
    parsed jsonb;
BEGIN
    parsed := row_record::jsonb;
    IF jsonb_typeof(parsed) = 'object' THEN
        IF jsonb_typeof(parsed -> 'type_code') = 'string' THEN
            row_type_code := parsed ->> 'type_code';
        END IF;
        IF jsonb_typeof(parsed -> 'quantity') = 'number' THEN
            row_quantity := (parsed ->> 'quantity')::double precision;
        END IF;
    END IF;
EXCEPTION WHEN others THEN
    -- A number beyond DOUBLE PRECISION fails the cast after the type was read: neither is kept.
    row_type_code := NULL;
    row_quantity := NULL;
END
$$;

UPDATE submission_rows
SET (type_code, quantity) = (
    SELECT f.row_type_code, f.row_quantity FROM muster_0014_row_figures(record) AS f
);

DROP FUNCTION muster_0014_row_figures(TEXT);

-- The dashboard reads, for each first and current version of a round, the rows whose holding
-- lies in a subtree: a range of this index per version, which holds the two figures too, so
-- the rows' JSON is not read at all. The primary key (submission_id, row_number) would read
-- every row of every version and filter. `duplicate_holdings` looks a holding up in a version
-- by the same two leading columns.
CREATE INDEX submission_rows_holding
    ON submission_rows (submission_id, holding_key, type_code, quantity);

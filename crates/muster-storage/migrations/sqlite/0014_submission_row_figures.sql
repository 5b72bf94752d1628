-- The two figures of a submitted row that a round's dashboard adds up, its type and its
-- quantity, as columns beside the row's `record` (a `RecordDraft` as JSON): the dashboard sums
-- them in SQL instead of reading and parsing every row of the round. Muster writes them with
-- each row from now on; here they are filled in from the JSON of the rows already stored. They
-- stay NULL where a stored `record` does not read as a draft, and the dashboard leaves such a
-- row out.
ALTER TABLE submission_rows ADD COLUMN type_code TEXT;
ALTER TABLE submission_rows ADD COLUMN quantity REAL;

-- Each figure only where it is there as a string or a number (a finite one: SQLite reads a
-- number too large for a REAL as infinity, which PostgreSQL refuses); the nested CASE keeps
-- `json_type` from ever reading a text that does not parse (which would stop the migration).
UPDATE submission_rows
SET type_code = CASE WHEN json_valid(record) THEN
        CASE WHEN json_type(record, '$.type_code') = 'text'
            THEN json_extract(record, '$.type_code') END
    END,
    quantity = CASE WHEN json_valid(record) THEN
        CASE WHEN json_type(record, '$.quantity') IN ('integer', 'real')
            AND abs(json_extract(record, '$.quantity')) <= 1.7976931348623157e308
            THEN json_extract(record, '$.quantity') END
    END;

-- The dashboard reads, for each first and current version of a round, the rows whose holding
-- lies in a subtree: a range of this index per version, which holds the two figures too, so
-- the rows' JSON is not read at all. The primary key (submission_id, row_number) would read
-- every row of every version and filter. `duplicate_holdings` looks a holding up in a version
-- by the same two leading columns.
CREATE INDEX submission_rows_holding
    ON submission_rows (submission_id, holding_key, type_code, quantity);

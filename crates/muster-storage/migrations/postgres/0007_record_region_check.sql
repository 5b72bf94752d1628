-- A record's region is checked once per import, not once per row (issue 3's import speed).
--
-- The foreign key from potential_records.region_code to regions fired a row-level trigger
-- for every record COPY stored: most of a million-row import's time. Regions are never
-- deleted and their codes never change, so the key only ever guarded inserts, and every
-- insert now checks its records' regions with one set-based query in the same transaction
-- (`check_record_regions`), which also checks the stored path against the region's.
ALTER TABLE potential_records DROP CONSTRAINT potential_records_region_code_fkey;

-- The records of a type, indexed by their type alone and compared byte by byte (issue 3's
-- import speed).
--
-- A first bulk load drops this index and builds it again before its commit: kept up row by
-- row, a key that repeats as often as a type does (a few hundred types over a million
-- records) cost 3.5-6 s a million in `psql`, each repeat added at the end of its key's run,
-- where the leaf fills, is deduplicated, fills again and splits. Built from a sort it is
-- cheaper, and cheaper still without `status`: nearly every record is available, so the
-- second column only lengthened every comparison of the sort (a million records in 2.1-2.3 s
-- with it, 1.6-1.7 s without, 1.3 s in the "C" collation). The queries that filter by status
-- (allocation candidates, the record list) read the records of their types and test the
-- status there, as they did for all but the rare statuses before.
--
-- Type codes are ASCII identifiers from the taxonomy, so the "C" collation orders them as
-- the database's would for display; no query compares them with another table's column.
DROP INDEX potential_records_type_status;
ALTER TABLE potential_records ALTER COLUMN type_code TYPE TEXT COLLATE "C";
CREATE INDEX potential_records_type ON potential_records (type_code);

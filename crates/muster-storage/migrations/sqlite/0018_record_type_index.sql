-- The records of a type, indexed by their type alone, as on PostgreSQL (whose 0018 says why:
-- nearly every record is available, so `status` in the key only made it longer).
DROP INDEX potential_records_type_status;
CREATE INDEX potential_records_type ON potential_records (type_code);

-- Records are looked up by round only with a round named (`round_id = ?`, a survey's
-- approval, withdrawal and dashboard), so a record that came from no round (an office's own
-- import) has no business in the round index. Partial, the index costs such an import
-- nothing; a million-record load no longer adds a million (NULL, NULL) entries to it.
DROP INDEX potential_records_round;
CREATE INDEX potential_records_round ON potential_records (round_id, reporting_organization_id)
    WHERE round_id IS NOT NULL;

-- The records that name an organization, indexed by it (issue 3's import speed).
--
-- A first bulk load drops the foreign keys of potential_records and adds them back before
-- its commit (`add_record_foreign_keys`), and adding a key back checks every stored record
-- whose column is not NULL. Without an index that check read the whole table once per key:
-- 0.2-0.7 s a key for a million records that name no organization at all. With these partial
-- indexes (as `site_id` has had since 0003) a load whose records leave a column NULL has its
-- key checked from the index, in a millisecond. Partial, they cost nothing for the records
-- that name no organization; deleting an organization would no longer read every record.
CREATE INDEX potential_records_holder_organization ON potential_records (holder_organization_id)
    WHERE holder_organization_id IS NOT NULL;
CREATE INDEX potential_records_reporting_organization ON potential_records (reporting_organization_id)
    WHERE reporting_organization_id IS NOT NULL;

-- Sites as entities: a site's name is unique in its region after the holding key's
-- normalisation (case, width, spacing), and records find their site by it. `name_key` is
-- that normalised name, computed in Rust (muster_domain::potential::normalize_name); rows
-- written before this migration have none, and NULLs never collide.
ALTER TABLE sites ADD COLUMN name_key TEXT;
CREATE UNIQUE INDEX sites_region_name ON sites (region_code, name_key);

-- A site's records, for its record count: few records name a stored site, so the index
-- holds only those.
CREATE INDEX potential_records_site ON potential_records (site_id) WHERE site_id IS NOT NULL;

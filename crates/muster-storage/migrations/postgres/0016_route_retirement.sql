-- A patrol route can be retired rather than deleted: its runs and check-ins stay on record,
-- but it is no longer listed or walked. `retired_at` is when (NULL while in use).
ALTER TABLE patrol_routes ADD COLUMN retired_at BIGINT;

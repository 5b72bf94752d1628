-- The office reviewing one unit's report may give that unit more time than the round's
-- deadline; its timeliness is then judged against its own (NULL: the round's).
ALTER TABLE round_assignments ADD COLUMN deadline BIGINT;

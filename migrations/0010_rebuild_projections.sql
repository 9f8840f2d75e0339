-- Projections must be rebuilt once.
--
-- Before this migration the feed (masar_projections::feed) sorted transaction ids by their
-- text ("1000" before "999"): whenever one read of the log held transaction ids of different
-- lengths, the runner applied events out of order and moved its checkpoint past events it had
-- never applied, so the projection tables of any installation that ran it may miss events or
-- hold some twice, and a verification that shared the same reads could not see it.
--
-- Every projection that has applied anything is marked here; `masar serve` (and `masar demo`)
-- rebuilds the marked projections from the log before it serves
-- (masar_projections::rebuild::rebuild_marked), and every rebuild clears the mark.
ALTER TABLE projection_checkpoints ADD COLUMN needs_rebuild boolean NOT NULL DEFAULT false;

UPDATE projection_checkpoints SET needs_rebuild = true
WHERE events_applied > 0 OR global_position > 0;

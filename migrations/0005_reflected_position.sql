-- The global position up to which a projection reflects the whole log, kept with its
-- checkpoint (masar_projections::feed::advance) so that reading it costs nothing: every event
-- at or below it was applied when the checkpoint last moved.
ALTER TABLE projection_checkpoints ADD COLUMN reflected_position bigint NOT NULL DEFAULT 0;

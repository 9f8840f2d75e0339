-- The beneficiaries projection must be rebuilt once.
--
-- A beneficiary's partner (beneficiary_state.partner_code, and the partner disaggregation of
-- the indicators) is now the organisation whose Identified event opened the stream, for ever:
-- a retracted identification no longer hands the record to whoever identifies the
-- beneficiary next. Before, the fold named the organisation that recorded the current
-- identification, so a stream whose identification another organisation retracted and
-- recorded again (an organisation it had been referred to, or an administrator) has a row
-- naming that organisation, which also let it list the beneficiary.
--
-- `masar serve` (and `masar demo`) rebuilds the marked projections from the log before it
-- serves (masar_projections::rebuild::rebuild_marked), and every rebuild clears the mark.
UPDATE projection_checkpoints SET needs_rebuild = true
WHERE name = 'beneficiaries' AND (events_applied > 0 OR global_position > 0);

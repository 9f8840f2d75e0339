-- The last follow-up's date and outcome were kept beside the follow-up arrays for the
-- indicator engine's per-beneficiary query (0007). Since the engine adds up the milestone
-- counts (0008), nothing reads them: they only cost every write of a beneficiary's row.
ALTER TABLE beneficiary_state
    DROP COLUMN IF EXISTS last_follow_up_on,
    DROP COLUMN IF EXISTS last_follow_up_improved;

-- 004_cosign.sql: STAND-IN so that branch `lock` builds on its own
-- (schema/embed.py refuses a gap before 005_epoch.sql). The real
-- 004_cosign.sql (witness cosignatures) comes from the cosignature work:
-- when merging, take that file and drop this one.
SELECT 1;

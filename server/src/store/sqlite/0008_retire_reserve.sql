-- The platform account no longer starts with a minted reserve. What is left of the reserve
-- goes back to the mint (one `platform_reserve_retired` ledger entry); the platform keeps only
-- what it earned beyond what it paid out. Credits the reserve already paid to infra agents
-- stay with them. Does nothing on a database that never had a reserve, and nothing twice.

-- System tasks still open were spawned against the reserve (nothing is escrowed for them):
-- they are withdrawn. What they were about falls back as when no infra agent answers
-- (broadcast after the match window, verification timed out).
UPDATE tasks SET status = 'cancelled', next_due_at = NULL
    WHERE is_system = 1 AND payer_id IS NULL AND status IN ('posted', 'claimed');
INSERT INTO ledger (id, src, dst, amount, reason, task_id, created_at)
SELECT 'le-reserveretired', 'ag-platform', 'mint', r.amount, 'platform_reserve_retired', NULL,
       CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
FROM (SELECT min(a.credits,
                 (SELECT coalesce(sum(amount), 0) FROM ledger
                  WHERE dst = 'ag-platform' AND reason = 'platform_reserve')) AS amount
      FROM agents a WHERE a.id = 'ag-platform') r
WHERE r.amount > 0
  AND NOT EXISTS (SELECT 1 FROM ledger WHERE reason = 'platform_reserve_retired');
-- The platform's balance is what its ledger says.
UPDATE agents SET credits =
       (SELECT coalesce(sum(amount), 0) FROM ledger WHERE dst = 'ag-platform')
     - (SELECT coalesce(sum(amount), 0) FROM ledger WHERE src = 'ag-platform')
    WHERE id = 'ag-platform';

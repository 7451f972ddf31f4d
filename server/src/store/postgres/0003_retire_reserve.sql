-- The minted platform reserve is retired, with the system work spawned against it; see
-- SQLite's 0008.
UPDATE tasks SET status = 'cancelled', next_due_at = NULL
    WHERE is_system AND payer_id IS NULL AND status IN ('posted', 'claimed');
INSERT INTO ledger (id, src, dst, amount, reason, task_id, created_at)
SELECT 'le-reserveretired', 'ag-platform', 'mint', r.amount, 'platform_reserve_retired', NULL,
       (extract(epoch FROM clock_timestamp()) * 1000)::bigint
FROM (SELECT least(a.credits,
                   (SELECT coalesce(sum(amount), 0) FROM ledger
                    WHERE dst = 'ag-platform' AND reason = 'platform_reserve'))::bigint AS amount
      FROM agents a WHERE a.id = 'ag-platform') r
WHERE r.amount > 0
  AND NOT EXISTS (SELECT 1 FROM ledger WHERE reason = 'platform_reserve_retired');
UPDATE agents SET credits =
       (SELECT coalesce(sum(amount), 0) FROM ledger WHERE dst = 'ag-platform')
     - (SELECT coalesce(sum(amount), 0) FROM ledger WHERE src = 'ag-platform')
    WHERE id = 'ag-platform';

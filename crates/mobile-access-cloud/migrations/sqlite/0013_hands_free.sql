-- Hands-free unlocking (sqlite dialect): whether the organization allows it, and which doors do.
-- The phone opens such a door when it stays within its range reader's distance for a moment.
ALTER TABLE organizations ADD COLUMN hands_free INTEGER NOT NULL DEFAULT 0;
ALTER TABLE doors ADD COLUMN hands_free INTEGER NOT NULL DEFAULT 0;

-- The counterpart of PostgreSQL's 0004: merge the name index's segments (bulk loads leave many, and
-- each search reads every segment). Statistics refreshes merge them again from now on.
INSERT INTO org_units_search (org_units_search) VALUES ('optimize');

-- Changes with the account's org-unit types, data sources and versions only (with `tree_version`,
-- which every georegistry change moves): the catalog that org-unit responses name is cached under
-- it, so creating a unit (a phone's upload) no longer makes the next request read it all again.
ALTER TABLE accounts ADD COLUMN catalog_version BIGINT NOT NULL DEFAULT 0;

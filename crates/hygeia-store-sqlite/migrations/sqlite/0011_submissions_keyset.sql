-- Exports read a form's submissions in id order, a page after the last id seen: with only
-- (account_id, form_id, updated_at) SQLite sorted every matching row for each page (a second
-- per page at 1,000,000 submissions); this index serves the range and the order.
CREATE INDEX submissions_account_form_id ON submissions (account_id, form_id, id);

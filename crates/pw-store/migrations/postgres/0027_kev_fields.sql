-- PostgreSQL twin of ../0027_kev_fields.sql (the same statements).
-- Every field of a CISA KEV entry is kept (issue 10: KEV rows stored without losing fields):
-- the description, the required action, the notes and the CWE ids (a JSON array).
ALTER TABLE kev ADD COLUMN short_description TEXT NOT NULL DEFAULT '';
ALTER TABLE kev ADD COLUMN required_action TEXT NOT NULL DEFAULT '';
ALTER TABLE kev ADD COLUMN notes TEXT NOT NULL DEFAULT '';
ALTER TABLE kev ADD COLUMN cwes TEXT NOT NULL DEFAULT '[]';

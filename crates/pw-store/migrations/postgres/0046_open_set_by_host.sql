-- The open set without its index by text: the SQLite migration's comment says why.
DROP INDEX open_episodes_text;

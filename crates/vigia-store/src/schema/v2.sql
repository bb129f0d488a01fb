-- vigia-store upgrade step 1 -> 2. FROZEN once released.
-- Adds the thumbnail made at ingest. Captures ingested at version 1 have
-- none (null); the web serves their snapshot instead.

alter table capture add column
  thumb_bytes integer check (thumb_bytes >= 0);

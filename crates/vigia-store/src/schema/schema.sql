-- vigia-store schema, current version (2). This file is the design
-- document of the metadata database; read it with the "Durability order"
-- section of DESIGN.md and the module docs of `ingest.rs` and
-- `recovery.rs`.
--
-- A fresh database is created from this file. An existing one is brought
-- here by the frozen step files (v1.sql created version 1; vN.sql goes
-- from N-1 to N), and the test `schema::tests::upgrade_and_compare` proves
-- both roads end at the same schema. `pragma user_version` holds the
-- version.
--
-- Conventions: times are `_ms`, milliseconds since the Unix epoch, UTC;
-- sizes are `_bytes`; tables are STRICT so a wrong type is an error, not a
-- silent conversion. Ids that become file names are checked here as well
-- as in Rust (vigia_base::ids), so even a hand-edited row cannot name a
-- path outside the media tree.

-- One row per camera that has ever sent a capture. Cameras are configured
-- in server.toml (authorized keys); this table only gives captures
-- something to reference, and remembers cameras whose config is gone while
-- their captures remain.
create table camera (
  -- vigia_base::CameraId: one safe path component (the media tree's first
  -- level).
  id text primary key
    check (length(id) between 1 and 32 and id glob '[a-z0-9]*'
           and id not glob '*[^a-z0-9_-]*'),
  first_seen_ms integer not null
) strict, without rowid;

-- One row per stored capture. A row exists only once the capture's
-- directory `<media>/<camera_id>/<YYYY-MM-DD>/<id>/` is complete and
-- durable (ingest inserts it last), so every row can be served.
-- Clustered on id (without rowid): ids sort by start time, so the primary
-- key is also the history's order.
create table capture (
  -- vigia_base::CaptureId `YYYYMMDDTHHMMSSmmmZ-xxxxxxxx`. Ingest checks the
  -- time part equals start_ms, so `order by id` is `order by start_ms`
  -- (with a tie-break) and a UTC day is an id range.
  id text primary key
    check (length(id) = 28 and id glob '[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]T*Z-*'),
  camera_id text not null references camera (id),
  -- Footage span including pre- and post-roll.
  start_ms integer not null,
  end_ms integer not null check (end_ms >= start_ms),
  -- First trigger of the event.
  trigger_ms integer not null,
  label text not null check (label in ('person', 'animal', 'motion')),
  -- The manifest's highest motion score: what the history sorts badges by.
  score real not null check (score >= 0),
  -- Everything the capture occupies in the media tree (snapshot,
  -- thumbnail, clip, manifest): what retention counts.
  bytes integer not null check (bytes >= 0),
  -- Null when the capture has no snapshot (an event cut short before one
  -- was chosen).
  snapshot_bytes integer check (snapshot_bytes >= 0),
  -- clip.mp4 = clip-init.mp4 followed by every fragment in order; null if
  -- the node sent no playable clip (no init segment or no fragment).
  clip_bytes integer check (clip_bytes >= 0),
  -- The manifest exactly as the node sent it (also in manifest.json next to
  -- the media), and its sha256: the idempotency key. The same id with the
  -- same sha256 is a retry and is acknowledged again; the same id with a
  -- different sha256 is refused, never overwritten.
  manifest_json text not null,
  manifest_sha256 text not null check (length(manifest_sha256) = 64),
  ingested_ms integer not null,
  -- Since version 2: thumb.jpg (about 320 px wide), made once at ingest.
  -- Null for captures ingested before, or whose snapshot did not decode.
  thumb_bytes integer check (thumb_bytes >= 0)
) strict, without rowid;

-- Keyset pagination, newest first, for each filter combination the
-- history offers: `where <filter> and id < ? order by id desc limit ?`
-- walks one of these backwards and stops after `limit` rows, at any table
-- size. With no filter the primary key serves.
create index capture_camera on capture (camera_id, id);
create index capture_label on capture (label, id);
create index capture_camera_label on capture (camera_id, label, id);

-- Captures (and their bytes) per UTC day, camera and label, kept by the
-- triggers below, so the history's list of days (for any filter) and the
-- camera totals read a few rows per day instead of aggregating every
-- capture. Since version 3.
create table capture_day (
  day text not null check (length(day) = 8 and day not glob '*[^0-9]*'),
  camera_id text not null,
  label text not null,
  captures integer not null check (captures > 0),
  bytes integer not null check (bytes >= 0),
  primary key (day, camera_id, label)
) strict, without rowid;

create trigger capture_day_insert after insert on capture begin
  insert into capture_day (day, camera_id, label, captures, bytes)
    values (substr(new.id, 1, 8), new.camera_id, new.label, 1, new.bytes)
    on conflict (day, camera_id, label)
    do update set captures = captures + 1, bytes = bytes + excluded.bytes;
end;

create trigger capture_day_delete after delete on capture begin
  delete from capture_day
    where day = substr(old.id, 1, 8) and camera_id = old.camera_id and label = old.label
      and captures = 1;
  update capture_day set captures = captures - 1, bytes = bytes - old.bytes
    where day = substr(old.id, 1, 8) and camera_id = old.camera_id and label = old.label;
end;

create trigger capture_day_relabel after update of camera_id, label on capture begin
  delete from capture_day
    where day = substr(old.id, 1, 8) and camera_id = old.camera_id and label = old.label
      and captures = 1;
  update capture_day set captures = captures - 1, bytes = bytes - old.bytes
    where day = substr(old.id, 1, 8) and camera_id = old.camera_id and label = old.label;
  insert into capture_day (day, camera_id, label, captures, bytes)
    values (substr(new.id, 1, 8), new.camera_id, new.label, 1, new.bytes)
    on conflict (day, camera_id, label)
    do update set captures = captures + 1, bytes = bytes + excluded.bytes;
end;

-- Captures being deleted. Deletion inserts this row and deletes the
-- capture row in one transaction (the capture vanishes from every query at
-- once), then unlinks the directory, fsyncs its parent, and deletes this
-- row. Start-up recovery finishes any deletion still listed here before it
-- looks at the media tree, so a half-deleted capture is never re-indexed.
create table garbage (
  capture_id text primary key,
  -- Path components of the directory to remove (from typed ids).
  camera_id text not null,
  day text not null check (day glob '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
  marked_ms integer not null
) strict, without rowid;

-- People who may log in. There is no default user: the first admin comes
-- from `vigia user add` (or is printed once by `vigia demo`).
create table user (
  id integer primary key,
  name text not null unique
    check (length(name) between 1 and 64 and name not glob '*[^A-Za-z0-9._-]*'),
  -- admin: also deletes captures and commands nodes; viewer: looks.
  role text not null check (role in ('admin', 'viewer')),
  -- PHC string of argon2id with its own salt and parameters, so the
  -- parameters can be raised later without invalidating old hashes.
  password_hash text not null check (password_hash like '$argon2id$%'),
  created_ms integer not null,
  password_changed_ms integer not null
) strict;

-- Logged-in browsers. Only the sha256 of the cookie's token is stored: a
-- stolen database (or backup) does not let anyone log in. Changing a
-- password deletes the user's sessions; deleting a user cascades here.
create table session (
  token_sha256 blob primary key check (length(token_sha256) = 32),
  user_id integer not null references user (id) on delete cascade,
  -- Random, sent in pages and checked on every state change (not secret
  -- from the session's own browser, so stored as is).
  csrf_token text not null check (length(csrf_token) = 64),
  created_ms integer not null,
  expires_ms integer not null check (expires_ms > created_ms)
) strict, without rowid;

-- For the cascade on user delete and for purging expired sessions.
create index session_user on session (user_id);
create index session_expires on session (expires_ms);

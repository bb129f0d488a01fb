-- vigia-store schema, version 1. FROZEN: this is exactly what a fresh
-- database of version 1 contained. Never edit it; add a step file instead.
-- The commented, current schema is schema.sql.

create table camera (
  id text primary key
    check (length(id) between 1 and 32 and id glob '[a-z0-9]*'
           and id not glob '*[^a-z0-9_-]*'),
  first_seen_ms integer not null
) strict, without rowid;

create table capture (
  id text primary key
    check (length(id) = 28 and id glob '[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]T*Z-*'),
  camera_id text not null references camera (id),
  start_ms integer not null,
  end_ms integer not null check (end_ms >= start_ms),
  trigger_ms integer not null,
  label text not null check (label in ('person', 'animal', 'motion')),
  score real not null check (score >= 0),
  bytes integer not null check (bytes >= 0),
  snapshot_bytes integer check (snapshot_bytes >= 0),
  clip_bytes integer check (clip_bytes >= 0),
  manifest_json text not null,
  manifest_sha256 text not null check (length(manifest_sha256) = 64),
  ingested_ms integer not null
) strict, without rowid;

create index capture_camera on capture (camera_id, id);
create index capture_label on capture (label, id);
create index capture_camera_label on capture (camera_id, label, id);

create table garbage (
  capture_id text primary key,
  camera_id text not null,
  day text not null check (day glob '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
  marked_ms integer not null
) strict, without rowid;

create table user (
  id integer primary key,
  name text not null unique
    check (length(name) between 1 and 64 and name not glob '*[^A-Za-z0-9._-]*'),
  role text not null check (role in ('admin', 'viewer')),
  password_hash text not null check (password_hash like '$argon2id$%'),
  created_ms integer not null,
  password_changed_ms integer not null
) strict;

create table session (
  token_sha256 blob primary key check (length(token_sha256) = 32),
  user_id integer not null references user (id) on delete cascade,
  csrf_token text not null check (length(csrf_token) = 64),
  created_ms integer not null,
  expires_ms integer not null check (expires_ms > created_ms)
) strict, without rowid;

create index session_user on session (user_id);
create index session_expires on session (expires_ms);

-- vigia-store upgrade step 2 -> 3. FROZEN once released.
-- Per-day capture counts kept by triggers, so the history's list of days
-- no longer aggregates every capture row on every page view (26 ms at
-- 100 000 captures before; a few rows per day now).

create table capture_day (
  day text not null check (length(day) = 8 and day not glob '*[^0-9]*'),
  camera_id text not null,
  label text not null,
  captures integer not null check (captures > 0),
  primary key (day, camera_id, label)
) strict, without rowid;

insert into capture_day (day, camera_id, label, captures)
  select substr(id, 1, 8), camera_id, label, count(*) from capture group by 1, 2, 3;

create trigger capture_day_insert after insert on capture begin
  insert into capture_day (day, camera_id, label, captures)
    values (substr(new.id, 1, 8), new.camera_id, new.label, 1)
    on conflict (day, camera_id, label) do update set captures = captures + 1;
end;

create trigger capture_day_delete after delete on capture begin
  delete from capture_day
    where day = substr(old.id, 1, 8) and camera_id = old.camera_id and label = old.label
      and captures = 1;
  update capture_day set captures = captures - 1
    where day = substr(old.id, 1, 8) and camera_id = old.camera_id and label = old.label;
end;

create trigger capture_day_relabel after update of camera_id, label on capture begin
  delete from capture_day
    where day = substr(old.id, 1, 8) and camera_id = old.camera_id and label = old.label
      and captures = 1;
  update capture_day set captures = captures - 1
    where day = substr(old.id, 1, 8) and camera_id = old.camera_id and label = old.label;
  insert into capture_day (day, camera_id, label, captures)
    values (substr(new.id, 1, 8), new.camera_id, new.label, 1)
    on conflict (day, camera_id, label) do update set captures = captures + 1;
end;

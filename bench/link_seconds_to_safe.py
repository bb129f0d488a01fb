#!/usr/bin/env python3
"""Seconds-to-safe: how long after an event starts its evidence is on the server.

Starts a `vigia server` and one `vigia node` (synthetic camera in real time,
people walking by twice a minute) linked over SSH on loopback, exactly as an
operator sets them up (keygen, authorize, node --trust), and for each event:

- start: the UTC instant the node prints in "event started <id>  at <utc>";
- first fragment safe: `incoming/<camera>/<id>/clip-000001.m4s` is on the
  server with the size of the node's finished file (the node only uploads
  finished fragments, and the server fsyncs on close, so a complete file is
  a durable one to within the close), polled every 20 ms;
- stored: `media/<camera>/<day>/<id>/` exists (the store verified every
  sha256 and made the capture durable before renaming it there);
- saved: when the node printed "capture saved" (the event ended and the
  capture was complete on the node).

Prints per-event figures, then p50 and max of start -> first fragment
(target <= 2 s, though the first fragment holds the pre-roll and is only
finished `fragment_s` after the event starts), start -> stored, and
saved -> stored. Asserts nothing.

usage: link_seconds_to_safe.py VIGIA_BINARY [EVENTS]
"""

import os
import shutil
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone

POLL_S = 0.020
CAMERA = "yard"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def parse_utc(s):
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    vigia = os.path.abspath(sys.argv[1])
    events_wanted = int(sys.argv[2]) if len(sys.argv) > 2 else 6
    tmp = tempfile.mkdtemp(prefix="vigia-safe-")
    srv, node = os.path.join(tmp, "server"), os.path.join(tmp, "node")
    os.makedirs(srv)
    os.makedirs(node)
    ssh_port, http_port = free_port(), free_port()
    with open(os.path.join(srv, "server.toml"), "w") as f:
        f.write(
            f'[server]\ndata_dir = "{srv}/data"\ningest_poll_s = 0.2\n\n'
            f'[http]\nlisten = "127.0.0.1:{http_port}"\n\n'
            f'[ssh]\nlisten = "127.0.0.1:{ssh_port}"\n'
        )
    with open(os.path.join(node, "node.toml"), "w") as f:
        f.write(
            f'[node]\ncamera = "{CAMERA}"\ndata_dir = "{node}/data"\n\n'
            f'[link]\nserver = "127.0.0.1"\nport = {ssh_port}\nkey = "{node}/node_key"\n\n'
            '[source]\nkind = "synthetic"\nrealtime = true\n'
        )
    run([vigia, "keygen", "--out", f"{node}/node_key"])
    run([vigia, "authorize", f"{node}/node_key.pub", "--camera", CAMERA,
         "--config", f"{srv}/server.toml"])

    logs = open(os.path.join(tmp, "log"), "w")
    server = subprocess.Popen([vigia, "server", "--config", f"{srv}/server.toml"],
                              stdout=subprocess.PIPE, stderr=logs, text=True)
    for line in server.stdout:
        if "nodes connect over SSH" in line:
            break
    threading.Thread(target=lambda: [None for _ in server.stdout], daemon=True).start()
    nodep = subprocess.Popen([vigia, "node", "--trust", "--config", f"{node}/node.toml"],
                             stdout=subprocess.PIPE, stderr=logs, text=True)

    lock = threading.Lock()
    events = {}  # id -> dict(start, saved, first, stored)
    order = []

    def read_node():
        for line in nodep.stdout:
            now = time.time()
            m = re.match(r"event started\s+(\S+)\s+at (\S+)", line)
            if m:
                with lock:
                    events[m.group(1)] = {"start": parse_utc(m.group(2))}
                    order.append(m.group(1))
            m = re.match(r"capture saved\s+(\S+)", line)
            if m:
                with lock:
                    if m.group(1) in events:
                        events[m.group(1)]["saved"] = now

    threading.Thread(target=read_node, daemon=True).start()
    incoming = os.path.join(srv, "data", "incoming", CAMERA)
    media = os.path.join(srv, "data", "media", CAMERA)
    outbox = os.path.join(node, "data", "outbox")
    deadline = time.time() + 90 * events_wanted + 120
    try:
        while time.time() < deadline:
            now = time.time()
            with lock:
                pending = [(i, e) for i, e in events.items() if "stored" not in e]
                done = sum(1 for e in events.values() if "stored" in e)
            if done >= events_wanted:
                break
            days = os.listdir(media) if os.path.isdir(media) else []
            for cid, e in pending:
                if "first" not in e:
                    remote = os.path.join(incoming, cid, "clip-000001.m4s")
                    local = os.path.join(outbox, cid, "clip-000001.m4s")
                    try:
                        if os.path.getsize(remote) == os.path.getsize(local):
                            e["first"] = now
                    except OSError:
                        pass
                if any(os.path.isdir(os.path.join(media, d, cid)) for d in days):
                    e["stored"] = now
                    # Committed before the poll saw the fragment (unlikely
                    # at 20 ms): count it as safe no later than stored.
                    e.setdefault("first", now)
            time.sleep(POLL_S)
    finally:
        for p in (nodep, server):
            p.send_signal(signal.SIGTERM)
        for p in (nodep, server):
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()

    rows = [(i, events[i]) for i in order if "stored" in events[i]]
    if not rows:
        sys.exit(f"no event reached the server; logs in {tmp}/log")
    print(f"seconds-to-safe over the SSH link, {len(rows)} events (synthetic camera, real time, "
          "2 s fragments, loopback):")
    print(f"  {'capture':<30} {'start->first fragment':>22} {'start->stored':>14} {'saved->stored':>14}")
    first, stored, after = [], [], []
    for cid, e in rows:
        a, b = e["first"] - e["start"], e["stored"] - e["start"]
        c = e["stored"] - e["saved"] if "saved" in e else float("nan")
        first.append(a)
        stored.append(b)
        if c == c:
            after.append(c)
        print(f"  {cid:<30} {a:21.2f}s {b:13.2f}s {c:13.2f}s")
    for name, v in (("start -> first fragment safe", first),
                    ("start -> capture stored", stored),
                    ("capture saved on node -> stored", after)):
        if v:
            print(f"  {name:<34} p50 {statistics.median(v):6.2f} s   max {max(v):6.2f} s")
    if os.environ.get("KEEP"):
        print(f"(work dir kept: {tmp})")
    else:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

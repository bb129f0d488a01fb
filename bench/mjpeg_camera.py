#!/usr/bin/env python3
"""A stand-in IP camera for benchmarks: serves a folder of JPEG frames as an
MJPEG stream (multipart/x-mixed-replace) on loopback, on a live clock.

Every client gets the frame of the current clock tick; a client too slow to
keep up skips frames (as with a real camera). Each frame sent is logged as
"conn tick frame_index unix_time" so a benchmark can tell which frame a
detector saw when.

usage: mjpeg_camera.py FRAMES_DIR PORT FPS SEND_LOG MAX_SECONDS
"""
import glob
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

frames_dir, port, fps, send_log, max_s = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4], float(sys.argv[5])
frames = [open(p, "rb").read() for p in sorted(glob.glob(os.path.join(frames_dir, "*.jpg")))]
if not frames:
    sys.exit("no frames in " + frames_dir)
log = open(send_log, "w", buffering=1)
lock = threading.Lock()
epoch = time.time()
conns = [0]


class Camera(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, *args):
        pass

    def do_GET(self):
        with lock:
            conns[0] += 1
            me = conns[0]
        self.send_response(200)
        self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=vigiaframe")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        try:
            while True:
                tick = int((time.time() - epoch) * fps) + 1
                time.sleep(max(0.0, epoch + tick / fps - time.time()))
                jpg = frames[tick % len(frames)]
                self.wfile.write(b"--vigiaframe\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(jpg))
                self.wfile.write(jpg + b"\r\n")
                self.wfile.flush()
                with lock:
                    log.write("%d %d %d %.6f\n" % (me, tick, tick % len(frames), time.time()))
        except OSError:
            pass


server = ThreadingHTTPServer(("127.0.0.1", port), Camera)
server.daemon_threads = True
log.write("# listening %d\n" % server.server_address[1])
threading.Timer(max_s, server.shutdown).start()
server.serve_forever()

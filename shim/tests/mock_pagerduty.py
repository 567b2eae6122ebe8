#!/usr/bin/env python3
"""Mock PagerDuty Events API v2 for the shim's end-to-end tests and benchmark (stdlib only).

An HTTP/1.1 server (keep-alive, one thread per connection) on 127.0.0.1:PORT (default 0: any
free port, written to --portfile). Every POST /v2/enqueue is recorded in RECORD_DIR as
NNNNNN.body (the body, byte-exact) and NNNNNN.meta ("<status> <arrival time>"), written before
the answer, so that once the daemon has its answer the record is complete. The number of the
last complete record is also in RECORD_DIR/count (atomically replaced).

Behaviour, re-read from the control file (JSON) at every request, so that a test can change it
while the mock runs:
  {"status": 202,     # 202 answers {"status":"success","message":"Event processed","dedup_key":…}
   "delay": 0.0,      # seconds to wait before answering
   "body": null}      # answer body for other statuses (default: a PagerDuty-like error)

--no-record keeps nothing, --single-thread serves one connection at a time, without
a thread per connection (benchmarks of one blocking client).

usage: mock_pagerduty.py RECORD_DIR [--port N] [--portfile FILE] [--pidfile FILE]
                         [--control FILE] [--no-record] [--single-thread]
"""
import argparse
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer, ThreadingHTTPServer


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, record_dir, control, record):
        self.record_dir = record_dir
        self.control = control
        self.record = record
        self.counter = 0
        self.lock = threading.Lock()
        super().__init__(addr, Handler)

    def behaviour(self):
        conf = {"status": 202, "delay": 0.0, "body": None}
        if self.control:
            try:
                with open(self.control) as f:
                    conf.update(json.load(f))
            except (OSError, ValueError):
                pass
        return conf


def write_atomic(path, data):
    with open(path + ".tmp", "wb") as f:
        f.write(data)
    os.rename(path + ".tmp", path)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 60

    def log_message(self, fmt, *args):
        pass

    def _answer(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = self.headers.get("Content-Length")
        if length is not None:
            body = self.rfile.read(int(length))
        elif "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                body += self.rfile.read(size)
                self.rfile.readline()
        else:
            self._answer(411, b'{"status":"invalid event","message":"length required"}')
            return
        if self.path != "/v2/enqueue":
            self._answer(404, b'{"status":"not found"}')
            return
        conf = self.server.behaviour()
        status = int(conf.get("status", 202))
        if self.server.record:
            srv = self.server
            with srv.lock:
                srv.counter += 1
                rid = "%06d" % srv.counter
                base = os.path.join(srv.record_dir, rid)
                write_atomic(base + ".body", body)
                write_atomic(base + ".meta", ("%d %.6f\n" % (status, time.time())).encode())
                write_atomic(os.path.join(srv.record_dir, "count"), ("%d\n" % srv.counter).encode())
        if conf.get("delay"):
            time.sleep(float(conf["delay"]))
        if status == 202:
            try:
                dedup = json.loads(body).get("dedup_key", "")
            except ValueError:
                self._answer(400, b'{"status":"invalid event","message":"Event object is invalid","errors":["JSON parse error"]}')
                return
            self._answer(202, json.dumps({"status": "success", "message": "Event processed",
                                          "dedup_key": dedup}).encode())
        else:
            answer = conf.get("body")
            if answer is None:
                answer = {"status": "error", "message": "mock told to answer %d" % status}
            self._answer(status, json.dumps(answer).encode())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("record_dir")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--portfile")
    ap.add_argument("--pidfile")
    ap.add_argument("--control")
    ap.add_argument("--no-record", action="store_true")
    ap.add_argument("--single-thread", action="store_true")
    args = ap.parse_args()
    os.makedirs(args.record_dir, exist_ok=True)
    if args.single_thread:
        Server.process_request = HTTPServer.process_request  # no thread per connection
    server = Server(("127.0.0.1", args.port), args.record_dir, args.control, not args.no_record)

    def stop(*_):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.portfile:
        write_atomic(args.portfile, ("%d\n" % server.server_address[1]).encode())
    if args.pidfile:
        write_atomic(args.pidfile, ("%d\n" % os.getpid()).encode())
    try:
        server.serve_forever(poll_interval=0.05)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

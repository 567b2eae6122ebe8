#!/usr/bin/env python3
"""Mock PagerDuty Events API v2 for the chaos run and the latency benchmark (stdlib only).

An HTTP/1.1 server (keep-alive, one thread per connection) on 127.0.0.1. Every POST to
/v2/enqueue is recorded as ONE line of RECORDS (NDJSON), written and flushed when the request
has been read, before any answer:

  {"n": 17, "t": 1781000000.123456, "mode": "ok", "status": 202, "processed": true,
   "dedup_key": "1001_3", "action": "trigger", "severity": "critical",
   "timestamp": "2026-06-09T10:13:20Z", "summary": "...", "source": "...",
   "component": "...", "delay_s": null, "bytes": 1234, "host_id": 1001, "service_id": 3}

(host_id, service_id: custom_details' of a trigger, null otherwise.)

`processed` says whether a real PagerDuty would have taken the event: true for 2xx answers,
including those answered after the client gave up (mode "slow"); false for 429/5xx answers and
for connections closed without an answer.

Behaviour comes from the control file (JSON), re-read when its mtime changes:
  {"mode": "ok"}                       202 at once
  {"mode": "status", "status": 503}    that status at once (503, 429, 500...), not processed
  {"mode": "slow", "delay": 3.0}       202, processed, but answered after `delay` seconds
  {"mode": "close"}                    read the request, close the connection without answering
  {"mode": "flaky", "weights": {"ok": 5, "503": 2, "429": 1, "close": 1, "slow": 1},
   "delay": 3.0, "seed": 42}           one of those per request (deterministic per seed)

usage: mock_pagerduty.py RECORDS --control FILE [--portfile FILE] [--pidfile FILE]
"""
import argparse
import json
import os
import random
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, addr, records, control):
        self.records = open(records, "a", buffering=1)
        self.control = control
        self.counter = 0
        self.lock = threading.Lock()
        self.conf = {"mode": "ok"}
        self.conf_mtime = None
        self.rng = random.Random(0)
        super().__init__(addr, Handler)

    def behaviour(self):
        """The current control (re-read when the file changed), and this request's mode."""
        with self.lock:
            try:
                st = os.stat(self.control)
                if st.st_mtime_ns != self.conf_mtime:
                    with open(self.control) as f:
                        conf = json.load(f)
                    self.conf_mtime = st.st_mtime_ns
                    self.conf = conf
                    if conf.get("mode") == "flaky":
                        self.rng = random.Random(conf.get("seed", 0))
            except (OSError, ValueError):
                pass
            conf = dict(self.conf)
            mode = conf.get("mode", "ok")
            if mode == "flaky":
                weights = conf.get("weights") or {"ok": 1}
                names = sorted(weights)
                mode = self.rng.choices(names, [weights[n] for n in names])[0]
                if mode.isdigit():
                    conf["status"] = int(mode)
                    mode = "status"
            return conf, mode

    def record(self, entry):
        with self.lock:
            self.counter += 1
            entry["n"] = self.counter
            self.records.write(json.dumps(entry, separators=(",", ":")) + "\n")
            self.records.flush()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 120

    def log_message(self, fmt, *args):
        pass

    def _answer(self, status, body):
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            self.close_connection = True

    def do_POST(self):
        length = self.headers.get("Content-Length")
        if length is None:
            self._answer(411, b'{"status":"invalid event","message":"length required"}')
            return
        body = self.rfile.read(int(length))
        t = time.time()
        if self.path != "/v2/enqueue":
            self._answer(404, b'{"status":"not found"}')
            return
        conf, mode = self.server.behaviour()
        try:
            ev = json.loads(body)
        except ValueError:
            ev = {}
        payload = ev.get("payload") or {}
        details = payload.get("custom_details") or {}
        status = {"ok": 202, "slow": 202, "close": 0}.get(mode, int(conf.get("status", 503)))
        self.server.record({
            "t": t, "mode": mode, "status": status, "processed": 200 <= status < 300,
            "dedup_key": ev.get("dedup_key"), "action": ev.get("event_action"),
            "severity": payload.get("severity"), "timestamp": payload.get("timestamp"),
            "summary": payload.get("summary"), "source": payload.get("source"),
            "component": payload.get("component"),
            "delay_s": details.get("delivery_delay_seconds"), "bytes": len(body),
            "host_id": details.get("host_id"), "service_id": details.get("service_id"),
        })
        if mode == "close":
            self.close_connection = True
            return
        if mode == "slow":
            time.sleep(float(conf.get("delay", 3.0)))
        if 200 <= status < 300:
            self._answer(status, json.dumps({"status": "success", "message": "Event processed",
                                             "dedup_key": ev.get("dedup_key")}).encode())
        elif status == 429:
            self._answer(429, b'{"status":"throttle event","message":"Requests for this service are arriving too quickly.  Please retry later."}')
        else:
            self._answer(status, json.dumps({"status": "error",
                                             "message": "mock told to answer %d" % status}).encode())


def write_atomic(path, data):
    with open(path + ".tmp", "w") as f:
        f.write(data)
    os.rename(path + ".tmp", path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("records")
    ap.add_argument("--control", required=True)
    ap.add_argument("--portfile")
    ap.add_argument("--pidfile")
    args = ap.parse_args()
    if not os.path.exists(args.control):
        write_atomic(args.control, '{"mode": "ok"}')
    server = Server(("127.0.0.1", 0), args.records, args.control)

    def stop(*_):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.portfile:
        write_atomic(args.portfile, "%d\n" % server.server_address[1])
    if args.pidfile:
        write_atomic(args.pidfile, "%d\n" % os.getpid())
    try:
        server.serve_forever(poll_interval=0.05)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Fake centreon-pagerduty daemon for the shim tests (stdlib only).

A real HTTP/1.1 server on a real Unix socket. Every request is recorded in
RECORD_DIR as NNNNNN.head (request line and headers, verbatim), NNNNNN.body
(the body, byte-exact) and NNNNNN.done ("<action> <status>", written just before
the answer).

Behaviour, re-read from the control file (JSON) at every request, so that a test
can change it while the daemon runs:
  {"status": 200,          # 200 answers {"accepted":N,"ignored":0,"rejected":0}
   "delay": 0.0,           # seconds to wait before answering
   "action": "answer"}     # or "close" (read the request, close without answering),
                           #    "hang" (read the request, never answer),
                           #    "hang_noread" (accept, read nothing, never answer),
                           #    "close_noread" (accept and close at once)

usage: fake_daemon.py SOCKET RECORD_DIR [--control FILE] [--pidfile FILE]
"""
import argparse
import json
import os
import signal
import socket
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler

STOP = threading.Event()


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, path, record_dir, control):
        self.record_dir = record_dir
        self.control = control
        self.counter = 0
        self.lock = threading.Lock()
        super().__init__(path, Handler)

    def behaviour(self):
        conf = {"status": 200, "delay": 0.0, "action": "answer"}
        if self.control:
            try:
                with open(self.control) as f:
                    conf.update(json.load(f))
            except (OSError, ValueError):
                pass
        return conf

    def next_id(self):
        with self.lock:
            self.counter += 1
            return "%06d" % self.counter


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30

    def log_message(self, fmt, *args):  # client_address is '' on a Unix socket
        pass

    def handle(self):
        self.conf = self.server.behaviour()
        action = self.conf.get("action")
        if action in ("hang_noread", "close_noread"):
            rid = self.server.next_id()
            self._write(rid + ".head", b"(not read)\n")
            if action == "hang_noread":
                STOP.wait()
            else:  # the client gets EPIPE / ECONNRESET while sending
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        super().handle()

    def _write(self, name, data):
        path = os.path.join(self.server.record_dir, name)
        with open(path + ".tmp", "wb") as f:
            f.write(data)
        os.rename(path + ".tmp", path)

    def _answer(self, status, payload):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def do_GET(self):
        if self.path in ("/v1/health", "/v1/status"):
            self._answer(200, {"status": "ok", "fake": True})
        else:
            self._answer(404, {"error": "not found"})

    def do_POST(self):
        rid = self.server.next_id()
        head = self.requestline + "\r\n" + "".join(
            "%s: %s\r\n" % (k, v) for k, v in self.headers.items())
        self._write(rid + ".head", head.encode("latin-1"))
        length = self.headers.get("Content-Length")
        if length is None:
            self._answer(411, {"error": "length required"})
            return
        body = self.rfile.read(int(length))
        self._write(rid + ".body", body)
        action = self.conf.get("action", "answer")
        status = int(self.conf.get("status", 200))
        if self.path != "/v1/events":
            status = 404
        # recorded before answering: once the client has its answer, the record is complete
        self._write(rid + ".done", ("%s %d\n" % (action, status)).encode())
        if action == "close":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
        elif action == "hang":
            STOP.wait()
        else:
            if self.conf.get("delay"):
                time.sleep(float(self.conf["delay"]))
            if status == 200:
                n = sum(1 for line in body.split(b"\n") if line)
                self._answer(200, {"accepted": n, "ignored": 0, "rejected": 0})
            else:
                self._answer(status, {"error": "fake daemon told to answer %d" % status})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("socket")
    ap.add_argument("record_dir")
    ap.add_argument("--control")
    ap.add_argument("--pidfile")
    args = ap.parse_args()
    os.makedirs(args.record_dir, exist_ok=True)
    if os.path.exists(args.socket):
        os.unlink(args.socket)
    server = Server(args.socket, args.record_dir, args.control)

    def stop(*_):
        STOP.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.pidfile:
        with open(args.pidfile + ".tmp", "w") as f:
            f.write("%d\n" % os.getpid())
        os.rename(args.pidfile + ".tmp", args.pidfile)
    try:
        server.serve_forever(poll_interval=0.05)
    finally:
        server.server_close()
        try:
            os.unlink(args.socket)
        except OSError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

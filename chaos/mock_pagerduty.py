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

Incidents, as PagerDuty keeps them (always): a trigger PagerDuty takes opens an incident under its
dedup_key when none is open for it (a new incident id per episode: PCH00001, PCH00002...), or
joins the open one; a resolve closes it; an acknowledge acknowledges a triggered one (its
acknowledger the service: "Centreon (Events API)"). Each record above also says what the event
did: "incident" (the id, or null) and "effect" (opened, joined, acknowledged, resolved, none).

The acknowledgement sync (with --sync FILE; DESIGN §4.6), on the same server:
  GET  /pd/incidents           PagerDuty REST API v2: the incidents above, filtered by
                               `statuses[]` (all when absent), paged by `offset`/`limit` (25 by
                               default, 100 at most) with `more`; `Authorization: Token token=…`
                               checked (401), `Accept: application/vnd.pagerduty+json;version=2`
                               required (406). While the Events API mode is "status" (an outage,
                               a 429 storm), the listing gets that status too (429 with
                               `ratelimit-reset: 1`).
  POST /centreon/api/latest/login                         Centreon: a session token for the
                               login file's login:password (sessions expire after
                               --session-ttl seconds: 401, then a new login)
  POST /centreon/api/latest/monitoring/resources/acknowledge
                               `X-AUTH-TOKEN` (the API token file's, or a session's) → 204, the
                               body recorded and checked against DESIGN §4.6's shape; 401 for
                               any other token; the sync control's "centreon" status instead
                               (a fault window: 503). A 204 acknowledges its resources[0]
  GET  /centreon/api/latest/monitoring/resources/hosts/{host_id}/services/{service_id}
  GET  /centreon/api/latest/monitoring/resources/hosts/{host_id}
                               the resource's detail (Monitoring.ServiceDetail / host detail):
                               200 {"id", "uuid", "type", "name", ["parent",] "acknowledged"},
                               any ids; acknowledged from a 204 above until the Events API takes
                               a resolve for the resource (custom_details' host_id/service_id,
                               else the dedup key HID_SID or HID_H), as Centreon drops a sticky
                               acknowledgement on recovery. 401 and the fault window as above
  GET  /centreon/api/latest/monitoring/resources          an authenticated page of nothing
The responder: each incident opened is acknowledged, with probability `ack_share` of the sync
control, `ack_delay` seconds later (seeded per incident number), if it is then still open and
triggered and `ack_share` is still > 0; its acknowledger summary names the incident ("Dana
Scully (PCH00017)") so that Centreon's comment tells which episode it mirrors.
Sync records (FILE, NDJSON, each written before the answer):
  {"kind": "pd_ack", "t", "incident", "dedup_key", "who", "opened_t"}     the responder acknowledged
  {"kind": "pd_ack_skipped", "t", "incident", "dedup_key", "why"}         it meant to, too late
  {"kind": "listing", "t", "status", "offset", "limit", "statuses", "count", "more"}
  {"kind": "login", "t", "status"}
  {"kind": "centreon_ack", "t", "status", "auth", "body", "problems"}    problems: [] when valid
  {"kind": "centreon", "t", "method", "path", "status"}                   anything else
                                       (a resource's detail: "acknowledged" too when 200)
Sync control (JSON, re-read when its mtime changes): {"ack_share": 0.2, "ack_delay": [2, 8],
"seed": 1, "centreon": 204 | 503...}.

usage: mock_pagerduty.py RECORDS --control FILE [--portfile FILE] [--pidfile FILE]
         [--sync FILE --sync-control FILE --pd-api-token-file FILE
          (--centreon-token-file FILE | --centreon-login-file FILE) [--session-ttl S]]
"""
import argparse
import datetime
import heapq
import json
import os
import random
import signal
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ACCEPT_V2 = "application/vnd.pagerduty+json;version=2"
CENTREON = "/centreon/api/latest"
RESPONDERS = ["Dana Scully", "Fox Mulder", "Walter Skinner", "Monica Reyes", "John Doggett"]
EVENTS_API_ACKNOWLEDGER = "Centreon (Events API)"


def iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def read_secret(path):
    if not path:
        return None
    with open(path) as f:
        return f.read().strip()


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, addr, records, control, sync=None):
        self.records = open(records, "a", buffering=1)
        self.control = control
        self.counter = 0
        self.lock = threading.Lock()
        self.conf = {"mode": "ok"}
        self.conf_mtime = None
        self.rng = random.Random(0)
        # incidents as PagerDuty keeps them: id -> incident; dedup_key -> id of the open one
        self.incidents = {}
        self.order = []
        self.open_by_key = {}
        self.sync = sync  # None, or the sync's settings (see main())
        self.sync_records = open(sync["records"], "a", buffering=1) if sync else None
        self.sync_conf = {}
        self.sync_mtime = None
        self.sessions = {}  # Centreon session token -> expiry
        self.logins = 0
        self.acknowledged = set()  # Centreon: (host_id, service_id) acknowledged; service_id 0: a host
        self.timers = []  # (due, incident id): the responder's acknowledgements
        self.wake = threading.Condition(self.lock)
        super().__init__(addr, Handler)

    def current(self):
        """The current control, re-read when the file changed (the caller holds the lock)."""
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
        return dict(self.conf)

    def behaviour(self):
        """The current control, and this request's mode."""
        with self.lock:
            conf = self.current()
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
            if entry.get("processed"):
                self.apply_event(entry)
            else:
                entry["incident"], entry["effect"] = None, "none"
            self.counter += 1
            entry["n"] = self.counter
            self.records.write(json.dumps(entry, separators=(",", ":")) + "\n")
            self.records.flush()

    # ---- incidents (under self.lock) ----

    def apply_event(self, entry):
        """What an event PagerDuty took does to the incidents (entry: its record)."""
        key, action, t = entry.get("dedup_key"), entry.get("action"), entry["t"]
        inc = self.incidents.get(self.open_by_key.get(key))
        effect = "none"
        if action == "trigger":
            if inc is None:
                number = len(self.order) + 1
                inc = {"id": "PCH%05d" % number, "number": number, "key": key, "status": "triggered",
                       "created": t, "title": entry.get("summary") or key, "acks": [], "resolved": None}
                self.incidents[inc["id"]] = inc
                self.order.append(inc["id"])
                self.open_by_key[key] = inc["id"]
                effect = "opened"
                self.plan_ack(inc)
            else:
                effect = "joined"
        elif inc is not None and action == "acknowledge":
            if inc["status"] == "triggered":
                inc["status"] = "acknowledged"
                inc["acks"].append({"at": iso(t), "acknowledger": {
                    "id": "PCHSVC1", "type": "service_reference", "summary": EVENTS_API_ACKNOWLEDGER,
                    "self": "https://api.pagerduty.com/services/PCHSVC1",
                    "html_url": "https://chaos.pagerduty.com/service-directory/PCHSVC1"}})
                effect = "acknowledged"
        elif inc is not None and action == "resolve":
            inc["status"] = "resolved"
            inc["resolved"] = t
            del self.open_by_key[key]
            effect = "resolved"
        if action == "resolve":  # the resource recovered: Centreon drops its (sticky) acknowledgement
            self.acknowledged.discard(resource_of(entry))
        entry["incident"] = inc["id"] if inc else None
        entry["effect"] = effect

    def sync_control(self):
        """The sync control (re-read when the file changed)."""
        try:
            st = os.stat(self.sync["control"])
            if st.st_mtime_ns != self.sync_mtime:
                with open(self.sync["control"]) as f:
                    self.sync_conf = json.load(f)
                self.sync_mtime = st.st_mtime_ns
        except (OSError, ValueError):
            pass
        return self.sync_conf

    def plan_ack(self, inc):
        """The responder: acknowledge this incident later, or not (seeded per incident)."""
        if not self.sync:
            return
        conf = self.sync_control()
        share = float(conf.get("ack_share", 0))
        rng = random.Random("%s/%d" % (conf.get("seed", 0), inc["number"]))
        if share <= 0 or rng.random() >= share:
            return
        lo, hi = conf.get("ack_delay", [2, 8])
        inc["who"] = "%s (%s)" % (rng.choice(RESPONDERS), inc["id"])
        heapq.heappush(self.timers, (inc["created"] + lo + rng.random() * (hi - lo), inc["id"]))
        self.wake.notify()

    def responder(self):
        """Thread: the acknowledgements planned by plan_ack, when they are due."""
        with self.lock:
            while True:
                now = time.time()
                if self.timers and self.timers[0][0] <= now:
                    _due, iid = heapq.heappop(self.timers)
                    self.acknowledge(iid, now)
                    continue
                self.wake.wait(min(0.2, self.timers[0][0] - now) if self.timers else 0.2)

    def acknowledge(self, iid, now):
        inc = self.incidents[iid]
        rec = {"t": now, "incident": iid, "dedup_key": inc["key"]}
        why = None
        if float(self.sync_control().get("ack_share", 0)) <= 0:
            why = "acknowledging is over (the load ended)"
        elif inc["status"] == "resolved":
            why = "resolved first"
        elif inc["status"] == "acknowledged":
            why = "acknowledged first by an acknowledge event"
        if why:
            rec.update(kind="pd_ack_skipped", why=why)
        else:
            inc["status"] = "acknowledged"
            inc["acks"].append({"at": iso(now), "acknowledger": {
                "id": "PCHU%04d" % (RESPONDERS.index(inc["who"].split(" (")[0]) + 1), "type": "user_reference",
                "summary": inc["who"], "self": "https://api.pagerduty.com/users/PCHU0001",
                "html_url": "https://chaos.pagerduty.com/users/PCHU0001"}})
            rec.update(kind="pd_ack", who=inc["who"], opened_t=inc["created"])
        self.sync_record(rec)

    def sync_record(self, rec):
        """One line of the sync records (the caller holds the lock)."""
        self.sync_records.write(json.dumps(rec, separators=(",", ":")) + "\n")
        self.sync_records.flush()

    def wire(self, inc):
        """An incident as PagerDuty's REST API shows it (the fields the spec's Incident has)."""
        return {
            "id": inc["id"], "type": "incident", "summary": "[#%d] %s" % (inc["number"], inc["title"]),
            "self": "https://api.pagerduty.com/incidents/" + inc["id"],
            "html_url": "https://chaos.pagerduty.com/incidents/" + inc["id"],
            "incident_number": inc["number"], "title": inc["title"], "created_at": iso(inc["created"]),
            "status": inc["status"], "incident_key": inc["key"], "urgency": "high",
            "service": {"id": "PCHSVC1", "type": "service_reference", "summary": "Centreon"},
            "acknowledgements": list(inc["acks"]) if inc["status"] == "acknowledged" else [],
            "last_status_change_at": iso(inc["resolved"] or inc["created"]),
        }

    def listing(self, query):
        """GET /pd/incidents: (status, body) for the query's statuses[], offset, limit."""
        statuses = query.get("statuses[]") or []
        try:
            offset = int((query.get("offset") or ["0"])[0])
            limit = int((query.get("limit") or ["25"])[0])
        except ValueError:
            return 400, {"error": {"message": "Invalid Input Provided", "code": 2001}}
        if offset < 0 or not 1 <= limit <= 100:
            return 400, {"error": {"message": "Invalid Input Provided", "code": 2001,
                                   "errors": ["limit must be 1..100, offset >= 0"]}}
        with self.lock:
            chosen = [self.incidents[i] for i in self.order
                      if not statuses or self.incidents[i]["status"] in statuses]
            page = [self.wire(i) for i in chosen[offset:offset + limit]]
        return 200, {"incidents": page, "limit": limit, "offset": offset,
                     "more": offset + len(page) < len(chosen), "total": None}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 120

    def log_message(self, fmt, *args):
        pass

    def _answer(self, status, body, headers=None):
        try:
            self.send_response(status)
            if status != 204:
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            self.close_connection = True

    def do_GET(self):
        t = time.time()
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        sync = self.server.sync
        if not sync:
            self._answer(404, b'{"status":"not found"}')
        elif url.path == "/pd/incidents":
            self.pd_listing(t, query)
        elif url.path.startswith(CENTREON + "/monitoring/resources/hosts/"):
            self.centreon_detail(t, url.path)
        elif url.path == CENTREON + "/monitoring/resources":
            status = 200 if self.centreon_auth() else 401
            body = {"result": [], "meta": {"page": 1, "limit": 1, "total": 0}} if status == 200 else \
                {"code": 401, "message": "Invalid credentials"}
            with self.server.lock:
                self.server.sync_record({"kind": "centreon", "t": t, "method": "GET", "path": url.path,
                                         "status": status})
            self._answer(status, json.dumps(body).encode())
        else:
            self._answer(404, b'{"status":"not found"}')

    def centreon_detail(self, t, path):
        """GET a host's or a service's detail: whether Centreon has it acknowledged now."""
        server = self.server
        parts = path[len(CENTREON + "/monitoring/resources/hosts/"):].split("/")
        if len(parts) == 1 and parts[0].isdigit():
            key = (int(parts[0]), 0)
        elif len(parts) == 3 and parts[0].isdigit() and parts[1] == "services" and parts[2].isdigit():
            key = (int(parts[0]), int(parts[2]))
        else:
            self._answer(404, b'{"code":404,"message":"not found"}')
            return
        auth = self.centreon_auth()
        rec = {"kind": "centreon", "t": t, "method": "GET", "path": path}
        with server.lock:
            forced = int(server.sync_control().get("centreon", 204))
            status = 401 if auth is None else forced if forced != 204 else 200
            rec["status"] = status
            if status == 200:
                rec["acknowledged"] = key in server.acknowledged
            server.sync_record(rec)
        if status == 401:
            self._answer(401, b'{"code":401,"message":"Invalid credentials"}')
        elif status != 200:
            self._answer(status, json.dumps({"code": status, "message": "mock told to answer %d" % status}).encode())
        elif key[1] == 0:
            self._answer(200, json.dumps({"id": key[0], "uuid": "h%d" % key[0], "type": "host",
                                          "name": "host_%d" % key[0], "parent": None,
                                          "acknowledged": rec["acknowledged"]}).encode())
        else:
            self._answer(200, json.dumps({"id": key[1], "uuid": "h%d-s%d" % key, "type": "service",
                                          "name": "service_%d" % key[1],
                                          "parent": {"id": key[0], "uuid": "h%d" % key[0], "type": "host",
                                                     "name": "host_%d" % key[0]},
                                          "acknowledged": rec["acknowledged"]}).encode())

    def pd_listing(self, t, query):
        server = self.server
        rec = {"kind": "listing", "t": t, "offset": (query.get("offset") or [None])[0],
               "limit": (query.get("limit") or [None])[0], "statuses": query.get("statuses[]") or []}
        with server.lock:  # the control's mode, without a draw of the flaky mix
            conf = server.current()
        mode = conf.get("mode", "ok")
        headers = {}
        if self.headers.get("Authorization") != "Token token=" + server.sync["pd_token"]:
            status, body = 401, {"error": {"message": "Authentication failed", "code": 2006}}
        elif ACCEPT_V2 not in (self.headers.get("Accept") or ""):
            status, body = 406, {"error": {"message": "Not Acceptable: Accept must be " + ACCEPT_V2}}
        elif mode == "status":  # the Events API's outage or 429 storm reaches the REST API too
            status = int(conf.get("status", 503))
            body = {"error": {"message": "mock told to answer %d" % status}}
            if status == 429:
                headers["ratelimit-reset"] = "1"
        else:
            status, body = server.listing(query)
            rec["count"], rec["more"] = len(body.get("incidents") or []), body.get("more")
        rec["status"] = status
        with server.lock:
            server.sync_record(rec)
        self._answer(status, json.dumps(body).encode(), headers)

    def centreon_auth(self):
        """The X-AUTH-TOKEN's kind ("token", "session"), or None (401)."""
        server, token = self.server, self.headers.get("X-AUTH-TOKEN")
        if token is None:
            return None
        if server.sync.get("centreon_token") and token == server.sync["centreon_token"]:
            return "token"
        with server.lock:
            expiry = server.sessions.get(token)
        return "session" if expiry is not None and expiry > time.time() else None

    def centreon_post(self, t, path, body):
        server = self.server
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if path == CENTREON + "/login":
            creds = ((data or {}).get("security") or {}).get("credentials") or {}
            login = server.sync.get("centreon_login")
            if login and [creds.get("login"), creds.get("password")] == login:
                with server.lock:
                    server.logins += 1
                    token = "chaos-session-%d-%s" % (server.logins, random.Random(t).getrandbits(64))
                    server.sessions[token] = time.time() + server.sync["session_ttl"]
                    server.sync_record({"kind": "login", "t": t, "status": 200})
                self._answer(200, json.dumps({"contact": {"id": 7, "name": login[0], "alias": login[0],
                                                          "email": "sync@example.com", "is_admin": False},
                                              "security": {"token": token}}).encode())
            else:
                with server.lock:
                    server.sync_record({"kind": "login", "t": t, "status": 401})
                self._answer(401, b'{"code":401,"message":"Invalid credentials"}')
            return
        if path != CENTREON + "/monitoring/resources/acknowledge":
            self._answer(404, b'{"code":404,"message":"not found"}')
            return
        auth = self.centreon_auth()
        with server.lock:
            forced = int(server.sync_control().get("centreon", 204))
        if auth is None:
            status = 401
        elif forced != 204:
            status = forced
        else:
            status = 204
        with server.lock:
            if status == 204 and acknowledged_resource(data) is not None:
                server.acknowledged.add(acknowledged_resource(data))
            server.sync_record({"kind": "centreon_ack", "t": t, "status": status, "auth": auth, "body": data,
                                "problems": acknowledge_problems(data)})
        if status == 204:
            self._answer(204, b"")
        elif status == 401:
            self._answer(401, b'{"code":401,"message":"Invalid credentials"}')
        else:
            self._answer(status, json.dumps({"code": status, "message": "mock told to answer %d" % status}).encode())

    def do_POST(self):
        length = self.headers.get("Content-Length")
        if length is None:
            self._answer(411, b'{"status":"invalid event","message":"length required"}')
            return
        body = self.rfile.read(int(length))
        t = time.time()
        if self.server.sync and self.path.startswith(CENTREON + "/"):
            self.centreon_post(t, self.path.split("?")[0], body)
            return
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


def resource_of(event):
    """(host_id, service_id) of an Events API event or its record (service_id 0: a host):
    custom_details, else the default dedup key HID_SID / HID_H; None when neither says."""
    d = ((event.get("payload") or {}).get("custom_details")) or {}
    h, s = d.get("host_id"), d.get("service_id")
    if h is None:
        h, s = event.get("host_id"), event.get("service_id")
    if h is None:
        key = event.get("dedup_key") or ""
        hid, _, sid = key.partition("_")
        if not (hid.isdigit() and (sid.isdigit() or sid == "H")):
            return None
        h, s = int(hid), 0 if sid == "H" else int(sid)
    try:
        return int(h), int(s or 0)
    except (TypeError, ValueError):
        return None


def acknowledged_resource(body):
    """(host_id, service_id) of an acknowledgement body's resources[0] (0: a host), or None."""
    res = (body or {}).get("resources") if isinstance(body, dict) else None
    r = res[0] if isinstance(res, list) and res and isinstance(res[0], dict) else {}
    if r.get("type") == "service" and isinstance(r.get("id"), int) \
            and isinstance((r.get("parent") or {}).get("id"), int):
        return r["parent"]["id"], r["id"]
    if r.get("type") == "host" and isinstance(r.get("id"), int):
        return r["id"], 0
    return None


def acknowledge_problems(body):
    """How a Centreon acknowledgement body differs from DESIGN §4.6's (one resource): []."""
    if not isinstance(body, dict):
        return ["not a JSON object"]
    problems = []
    ack = body.get("acknowledgement")
    want = {"comment", "is_notify_contacts", "is_persistent_comment", "is_sticky", "with_services"}
    if not isinstance(ack, dict) or set(ack) != want:
        problems.append("acknowledgement: keys %s" % sorted(ack or {}))
    else:
        if not isinstance(ack["comment"], str) or not ack["comment"]:
            problems.append("comment")
        if ack["is_persistent_comment"] is not True or ack["with_services"] is not False:
            problems.append("is_persistent_comment/with_services")
        if not isinstance(ack["is_sticky"], bool) or not isinstance(ack["is_notify_contacts"], bool):
            problems.append("is_sticky/is_notify_contacts")
    res = body.get("resources")
    if not isinstance(res, list) or len(res) != 1 or not isinstance(res[0], dict):
        problems.append("resources: not one resource")
    else:
        r = res[0]
        if r.get("type") == "service":
            if not isinstance(r.get("id"), int) or not isinstance((r.get("parent") or {}).get("id"), int):
                problems.append("service resource ids")
        elif r.get("type") == "host":
            if not isinstance(r.get("id"), int) or r.get("parent") is not None:
                problems.append("host resource")
        else:
            problems.append("resource type %r" % r.get("type"))
    if set(body) != {"acknowledgement", "resources"}:
        problems.append("keys %s" % sorted(body))
    return problems


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
    ap.add_argument("--sync", help="sync records (NDJSON): serve the REST and Centreon APIs too")
    ap.add_argument("--sync-control")
    ap.add_argument("--pd-api-token-file")
    ap.add_argument("--centreon-token-file")
    ap.add_argument("--centreon-login-file")
    ap.add_argument("--session-ttl", type=float, default=45.0)
    args = ap.parse_args()
    if not os.path.exists(args.control):
        write_atomic(args.control, '{"mode": "ok"}')
    sync = None
    if args.sync:
        if not args.sync_control or not args.pd_api_token_file or not (
                args.centreon_token_file or args.centreon_login_file):
            ap.error("--sync needs --sync-control, --pd-api-token-file and a Centreon token or login file")
        login = read_secret(args.centreon_login_file)
        sync = {"records": args.sync, "control": args.sync_control,
                "pd_token": read_secret(args.pd_api_token_file),
                "centreon_token": read_secret(args.centreon_token_file),
                "centreon_login": login.split(":", 1) if login else None, "session_ttl": args.session_ttl}
        if not os.path.exists(args.sync_control):
            write_atomic(args.sync_control, '{"ack_share": 0}')
    server = Server(("127.0.0.1", 0), args.records, args.control, sync)
    if sync:
        threading.Thread(target=server.responder, daemon=True).start()

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

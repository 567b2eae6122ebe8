//! From raw events (BBDO v2 or v3) to the normalised [`Event`] model (DESIGN §4.1).
//!
//! Outcomes for one NDJSON line: an [`Event`] the rules must see, an ignored event (an element
//! the rules do not use, a BAM status), or a [`Rejection`] (not JSON, or an alert-relevant event
//! that lacks what identifies it). Rejections of lines that look like statuses, acknowledgements
//! or downtimes say so, so that the daemon can log them loudly: those are lost alerts otherwise.

use crate::event::*;
use crate::raw::{RawCache, RawEvent};
use thiserror::Error;

/// NEB category.
const CATEGORY_NEB: i64 = 1;

/// Element ids of the NEB category that the daemon reads (Broker reference §2.1).
pub mod element {
    pub const ACKNOWLEDGEMENT_V2: i64 = 1;
    pub const DOWNTIME_V2: i64 = 5;
    pub const HOST_V2: i64 = 12;
    pub const HOST_STATUS_V2: i64 = 14;
    pub const SERVICE_V2: i64 = 23;
    pub const SERVICE_STATUS_V2: i64 = 24;
    pub const PB_SERVICE: i64 = 27;
    pub const PB_ADAPTIVE_SERVICE: i64 = 28;
    pub const PB_SERVICE_STATUS: i64 = 29;
    pub const PB_HOST: i64 = 30;
    pub const PB_ADAPTIVE_HOST: i64 = 31;
    pub const PB_HOST_STATUS: i64 = 32;
    pub const PB_DOWNTIME: i64 = 36;
    pub const PB_ACKNOWLEDGEMENT: i64 = 45;
    pub const PB_ADAPTIVE_SERVICE_STATUS: i64 = 55;
    pub const PB_ADAPTIVE_HOST_STATUS: i64 = 56;
}

/// v3 `ServiceStatus.type` of a Business Activity.
const SERVICE_TYPE_BA: i64 = 3;
const SERVICE_TYPE_META: i64 = 2;

/// Why an event was not handed to the rules although it was valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ignored {
    /// An element the rules do not use.
    Element { category: i64, element: i64 },
    /// A BAM business activity (`type` 3 or a `_Module_BAM_*` host).
    Bam,
}

/// The result of normalising one valid event.
// Events are the common case and are moved once into the rules: boxing them would cost an
// allocation per event for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Normalised {
    Event(Event),
    Ignored(Ignored),
}

/// What was wrong with a rejected line.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RejectReason {
    #[error("invalid JSON: {0}")]
    Json(String),
    #[error("line is not valid UTF-8")]
    Utf8,
    #[error("no category/element and no _type")]
    NoElement,
    #[error("missing or invalid host_id")]
    NoHostId,
    #[error("missing or invalid service_id")]
    NoServiceId,
    #[error("missing or invalid state")]
    NoState,
    #[error("downtime without id")]
    NoDowntimeId,
}

/// A rejected line: the reason, and what could be read of it for the operator.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{reason}")]
pub struct Rejection {
    pub reason: RejectReason,
    pub element: Option<i64>,
    pub host_id: Option<i64>,
    pub service_id: Option<i64>,
}

impl Rejection {
    /// The line looks like a status, acknowledgement or downtime: an alert may be lost.
    pub fn looks_like_alert(&self) -> bool {
        use element::*;
        matches!(
            self.element,
            Some(
                HOST_STATUS_V2
                    | SERVICE_STATUS_V2
                    | PB_HOST_STATUS
                    | PB_SERVICE_STATUS
                    | PB_ADAPTIVE_HOST_STATUS
                    | PB_ADAPTIVE_SERVICE_STATUS
                    | ACKNOWLEDGEMENT_V2
                    | PB_ACKNOWLEDGEMENT
                    | DOWNTIME_V2
                    | PB_DOWNTIME
            )
        )
    }
}

/// Normalise one NDJSON line. Never panics, whatever the bytes.
pub fn normalise_line(line: &[u8]) -> Result<Normalised, Rejection> {
    let text = std::str::from_utf8(line).map_err(|_| scan_rejection(line, RejectReason::Utf8))?;
    let raw: RawEvent = serde_json::from_str(text)
        .map_err(|e| scan_rejection(line, RejectReason::Json(e.to_string())))?;
    normalise(raw)
}

/// Normalise one parsed raw event.
pub fn normalise(mut raw: RawEvent) -> Result<Normalised, Rejection> {
    use element::*;
    let cache = raw.cache.take();
    let (category, element) = match (raw.category, raw.element, raw.type_id) {
        (Some(c), Some(e), _) => (c, e),
        (_, _, Some(t)) if t > 0 => (t >> 16, t & 0xffff),
        _ => return Err(rejection(&raw, None, RejectReason::NoElement)),
    };
    let ignored = Ok(Normalised::Ignored(Ignored::Element { category, element }));
    if category != CATEGORY_NEB {
        return ignored;
    }
    let Some(host_id) = raw.host_id.filter(|&h| h > 0) else {
        if is_known(element) {
            return Err(rejection(&raw, Some(element), RejectReason::NoHostId));
        }
        return ignored;
    };
    let (cache_notify, cache_max_attempts) = cache
        .as_ref()
        .map_or((None, None), |c| (c.notify, c.max_check_attempts));
    let head = Head {
        element,
        host_id: host_id as u64,
        service_id: raw.service_id.filter(|&s| s > 0).unwrap_or(0) as u64,
        context: context(cache),
        cache_notify,
        cache_max_attempts,
    };
    if head
        .context
        .host_name
        .as_deref()
        .is_some_and(|n| n.starts_with("_Module_BAM"))
    {
        return Ok(Normalised::Ignored(Ignored::Bam));
    }
    let result = match element {
        HOST_STATUS_V2 | SERVICE_STATUS_V2 | PB_HOST_STATUS | PB_SERVICE_STATUS => {
            status(&mut raw, head)
        }
        PB_ADAPTIVE_SERVICE_STATUS | PB_ADAPTIVE_HOST_STATUS => adaptive_status(&raw, head),
        ACKNOWLEDGEMENT_V2 | PB_ACKNOWLEDGEMENT => Ok(acknowledgement(&raw, head)),
        DOWNTIME_V2 | PB_DOWNTIME => downtime(&raw, head),
        HOST_V2 | PB_HOST | PB_ADAPTIVE_HOST | SERVICE_V2 | PB_SERVICE | PB_ADAPTIVE_SERVICE => {
            definition(&mut raw, head)
        }
        _ => return ignored,
    };
    result.map_err(|reason| rejection(&raw, Some(element), reason))
}

/// What every NEB event of a resource has, read once.
struct Head {
    element: i64,
    host_id: u64,
    /// 0 for a host.
    service_id: u64,
    context: Context,
    cache_notify: Option<bool>,
    cache_max_attempts: Option<i64>,
}

impl Head {
    /// The resource: the service when `is_service`, else its host.
    fn resource(&self, is_service: bool) -> Result<ResourceId, RejectReason> {
        match (is_service, self.service_id) {
            (true, 0) => Err(RejectReason::NoServiceId),
            (true, s) => Ok(ResourceId::service(self.host_id, s)),
            (false, _) => Ok(ResourceId::host(self.host_id)),
        }
    }
}

fn event(e: Event) -> Result<Normalised, RejectReason> {
    Ok(Normalised::Event(e))
}

/// A full host or service status (14, 24, 32, 29).
fn status(raw: &mut RawEvent, head: Head) -> Result<Normalised, RejectReason> {
    use element::*;
    let is_service = matches!(head.element, SERVICE_STATUS_V2 | PB_SERVICE_STATUS);
    let resource = head.resource(is_service)?;
    let v3 = matches!(head.element, PB_HOST_STATUS | PB_SERVICE_STATUS);
    if v3 && is_service && raw.kind == Some(SERVICE_TYPE_BA) {
        return Ok(Normalised::Ignored(Ignored::Bam));
    }
    let state = raw
        .state
        .and_then(state_code)
        .ok_or(RejectReason::NoState)?;
    let (output, long_output) = split_output(
        raw.output.take().unwrap_or_default(),
        raw.long_output.take().unwrap_or_default(),
    );
    event(Event::Status(Status {
        resource,
        bbdo: if v3 { Bbdo::V3 } else { Bbdo::V2 },
        state,
        hard: raw.state_type.is_none_or(|t| t == 1),
        last_hard_state: raw.last_hard_state.and_then(state_code),
        attempt: raw.check_attempt,
        max_attempts: raw
            .max_check_attempts
            .or(head.cache_max_attempts)
            .filter(|&m| m > 0),
        last_check: positive(raw.last_check),
        last_update: positive(raw.last_update),
        last_hard_state_change: positive(raw.last_hard_state_change),
        output,
        long_output,
        perfdata: raw.perfdata.take().unwrap_or_default(),
        ack: ack_of_status(raw.acknowledged, raw.acknowledgement_type),
        downtime_depth: raw.scheduled_downtime_depth.map(|d| d.max(0)),
        flapping: raw.flapping,
        notify: raw.notify.or(head.cache_notify),
        meta_service: v3 && raw.kind == Some(SERVICE_TYPE_META),
        context: head.context,
    }))
}

/// An adaptive status (55, 56): a patch, never a state.
fn adaptive_status(raw: &RawEvent, head: Head) -> Result<Normalised, RejectReason> {
    let is_service = head.element == element::PB_ADAPTIVE_SERVICE_STATUS;
    let resource = head.resource(is_service)?;
    if is_service && raw.kind == Some(SERVICE_TYPE_BA) {
        return Ok(Normalised::Ignored(Ignored::Bam));
    }
    event(Event::AdaptiveStatus(AdaptiveStatus {
        resource,
        downtime_depth: raw.scheduled_downtime_depth.map(|d| d.max(0)),
        ack: raw.acknowledgement_type.map(clamp_ack),
        notification_number: raw.notification_number,
        context: head.context,
    }))
}

/// An acknowledgement (1, 45).
fn acknowledgement(raw: &RawEvent, head: Head) -> Normalised {
    let resource = ResourceId::service(head.host_id, head.service_id);
    Normalised::Event(Event::Acknowledgement(Acknowledgement {
        resource,
        entry_time: positive(raw.entry_time),
        deletion_time: positive(raw.deletion_time),
        sticky: raw.sticky.unwrap_or(false),
        state: raw.state.and_then(state_code),
        context: head.context,
    }))
}

/// A downtime (5, 36), identified by id, entry and start times.
fn downtime(raw: &RawEvent, head: Head) -> Result<Normalised, RejectReason> {
    let id = if head.element == element::PB_DOWNTIME {
        raw.id.or(raw.internal_id)
    } else {
        raw.internal_id.or(raw.id)
    };
    let id = id.filter(|&i| i > 0).ok_or(RejectReason::NoDowntimeId)?;
    let ended = positive(raw.deletion_time).is_some()
        || positive(raw.actual_end_time).is_some()
        || raw.cancelled == Some(true);
    let started = positive(raw.actual_start_time).is_some() || raw.started == Some(true);
    event(Event::Downtime(Downtime {
        resource: ResourceId::service(head.host_id, head.service_id),
        id: id as u64,
        entry_time: positive(raw.entry_time),
        start_time: positive(raw.start_time),
        phase: if ended {
            DowntimePhase::Ended
        } else if started {
            DowntimePhase::Started
        } else {
            DowntimePhase::Scheduled
        },
        context: head.context,
    }))
}

/// A host or service definition, full (12, 23, 30, 27) or adaptive (31, 28).
fn definition(raw: &mut RawEvent, head: Head) -> Result<Normalised, RejectReason> {
    use element::*;
    let is_service = matches!(head.element, SERVICE_V2 | PB_SERVICE | PB_ADAPTIVE_SERVICE);
    let resource = head.resource(is_service)?;
    let adaptive = matches!(head.element, PB_ADAPTIVE_HOST | PB_ADAPTIVE_SERVICE);
    let (host_name, service_description) = if is_service {
        (raw.host_name.take(), raw.description.take())
    } else {
        (raw.name.take(), None)
    };
    event(Event::Definition(Definition {
        resource,
        adaptive,
        host_name: host_name.filter(|s| !s.is_empty()),
        service_description: service_description.filter(|s| !s.is_empty()),
        enabled: raw.enabled,
        notify: raw.notify,
        volatile: raw.is_volatile.or(raw.is_volatile_v3),
        max_attempts: raw.max_check_attempts.filter(|&m| m > 0),
        never_checked: !adaptive
            && (raw.checked == Some(false) || raw.state == Some(i64::from(PENDING))),
        context: head.context,
    }))
}

fn is_known(element: i64) -> bool {
    use element::*;
    matches!(
        element,
        ACKNOWLEDGEMENT_V2
            | DOWNTIME_V2
            | HOST_V2
            | HOST_STATUS_V2
            | SERVICE_V2
            | SERVICE_STATUS_V2
            | PB_SERVICE
            | PB_ADAPTIVE_SERVICE
            | PB_SERVICE_STATUS
            | PB_HOST
            | PB_ADAPTIVE_HOST
            | PB_HOST_STATUS
            | PB_DOWNTIME
            | PB_ACKNOWLEDGEMENT
            | PB_ADAPTIVE_SERVICE_STATUS
            | PB_ADAPTIVE_HOST_STATUS
    )
}

fn positive(t: Option<i64>) -> Option<i64> {
    t.filter(|&t| t > 0)
}

fn state_code(s: i64) -> Option<StateCode> {
    u8::try_from(s).ok().filter(|&s| s <= PENDING)
}

fn clamp_ack(a: i64) -> AckType {
    a.clamp(0, 2) as AckType
}

/// v3 carries only `acknowledgement_type`; v2 carries `acknowledged` and usually the type too.
fn ack_of_status(acknowledged: Option<bool>, ack_type: Option<i64>) -> Option<AckType> {
    match (acknowledged, ack_type.map(clamp_ack)) {
        (Some(false), _) => Some(0),
        (Some(true), t) => Some(t.unwrap_or(1).max(1)),
        (None, t) => t,
    }
}

/// First line of the output, and the long output: from v2's `"first\nlong\n"`, from v3's
/// `output` + `long_output`, and from the v3 host quirk (long output in `output`).
///
/// Works on the owned strings: the common cases (`"first\n"`, v3 without a long output)
/// allocate nothing.
fn split_output(mut output: String, long_output: String) -> (String, String) {
    truncate_end(&mut output, &['\n', '\r']);
    let rest = match output.find('\n') {
        Some(newline) => {
            let rest = output[newline + 1..].to_owned();
            output.truncate(newline);
            truncate_end(&mut output, &['\r']);
            rest
        }
        None => String::new(),
    };
    let mut long = if long_output.is_empty() {
        rest
    } else {
        long_output
    };
    truncate_end(&mut long, &['\n', '\r']);
    (output, long)
}

/// Remove the trailing characters in `chars`, in place.
fn truncate_end(s: &mut String, chars: &[char]) {
    let len = s.trim_end_matches(chars).len();
    s.truncate(len);
}

/// The resource's context from the shim's `_cache`, taken by value (no copies).
fn context(cache: Option<RawCache>) -> Context {
    let Some(c) = cache else {
        return Context::default();
    };
    let non_empty = |s: Option<String>| s.filter(|s| !s.is_empty());
    Context {
        host_name: non_empty(c.host_name),
        service_description: non_empty(c.service_description),
        hostgroups: c.hostgroups.unwrap_or_default(),
        servicegroups: c.servicegroups.unwrap_or_default(),
        host_severity: c.host_severity,
        service_severity: c.service_severity,
        notes_url: non_empty(c.notes_url),
        action_url: non_empty(c.action_url),
        poller: non_empty(c.poller),
    }
}

fn rejection(raw: &RawEvent, element: Option<i64>, reason: RejectReason) -> Rejection {
    Rejection {
        reason,
        element: element.or(raw.element),
        host_id: raw.host_id,
        service_id: raw.service_id,
    }
}

/// Best-effort read of the ids of a line that is not valid JSON, for the operator's log.
fn scan_rejection(line: &[u8], reason: RejectReason) -> Rejection {
    Rejection {
        reason,
        element: scan_int(line, b"\"element\""),
        host_id: scan_int(line, b"\"host_id\""),
        service_id: scan_int(line, b"\"service_id\""),
    }
}

fn scan_int(line: &[u8], key: &[u8]) -> Option<i64> {
    let pos = line.windows(key.len()).position(|w| w == key)?;
    let rest = line.get(pos + key.len()..)?;
    let rest = rest
        .iter()
        .position(|&b| !matches!(b, b' ' | b':' | b'\t'))
        .and_then(|start| rest.get(start..))?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == rest.len() {
        // Cut by the end of the line: maybe not the whole number.
        return None;
    }
    std::str::from_utf8(rest.get(..digits)?).ok()?.parse().ok()
}

//! What the client is given: the credentials, the resource, and the acknowledgement with its
//! request body (DESIGN §4.6). Plain data; nothing here talks to the network.

use crate::secret::Secret;
use serde_json::{json, Value};
use std::fmt;

/// A Centreon login and password (a login file: `login:password`).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    login: String,
    password: Secret,
}

impl Credentials {
    /// A login and its password.
    pub fn new(login: impl Into<String>, password: Secret) -> Credentials {
        Credentials {
            login: login.into(),
            password,
        }
    }

    /// The login (not a secret: shown in messages).
    pub fn login(&self) -> &str {
        &self.login
    }

    /// The password.
    pub fn password(&self) -> &Secret {
        &self.password
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.login, self.password)
    }
}

/// How the client authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CentreonAuth {
    /// An API token (`centreon_api_token_file`, Centreon ≥ 23.04): sent as is.
    Token(Secret),
    /// A login and password (`centreon_login_file`): `POST /login` gives a session token.
    Login(Credentials),
}

/// A monitored resource, as the spool knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// A host.
    Host {
        /// Centreon host id.
        host_id: u64,
    },
    /// A service of a host.
    Service {
        /// Centreon host id (the service's parent).
        host_id: u64,
        /// Centreon service id.
        service_id: u64,
    },
}

/// One acknowledgement to set in Centreon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acknowledgement {
    /// What to acknowledge.
    pub resource: Resource,
    /// The comment (`sync.comment` with `{who}` rendered).
    pub comment: String,
    /// `is_notify_contacts` (`sync.notify_contacts`).
    pub notify_contacts: bool,
    /// `is_sticky` (`sync.sticky`).
    pub sticky: bool,
}

impl Acknowledgement {
    /// The request body (DESIGN §4.6).
    pub fn to_body(&self) -> Value {
        let resource = match self.resource {
            Resource::Host { host_id } => json!({"type": "host", "id": host_id, "parent": null}),
            Resource::Service {
                host_id,
                service_id,
            } => json!({"type": "service", "id": service_id, "parent": {"id": host_id}}),
        };
        json!({
            "acknowledgement": {
                "comment": self.comment,
                "is_notify_contacts": self.notify_contacts,
                "is_persistent_comment": true,
                "is_sticky": self.sticky,
                "with_services": false,
            },
            "resources": [resource],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_design_4_6() {
        let svc = Acknowledgement {
            resource: Resource::Service {
                host_id: 14,
                service_id: 27,
            },
            comment: "Acknowledged in PagerDuty by Ann".into(),
            notify_contacts: false,
            sticky: true,
        };
        assert_eq!(
            svc.to_body(),
            json!({"acknowledgement":{"comment":"Acknowledged in PagerDuty by Ann",
                "is_notify_contacts":false,"is_persistent_comment":true,"is_sticky":true,
                "with_services":false},
                "resources":[{"type":"service","id":27,"parent":{"id":14}}]})
        );
        let host = Acknowledgement {
            resource: Resource::Host { host_id: 14 },
            ..svc
        };
        assert_eq!(
            host.to_body()["resources"],
            json!([{"type":"host","id":14,"parent":null}])
        );
    }

    #[test]
    fn credentials_are_masked() {
        let c = Credentials::new("api", Secret::new("pa:ss word 9876"));
        assert_eq!(format!("{c:?}"), "api:…9876");
        let auth = CentreonAuth::Login(c);
        assert!(!format!("{auth:?}").contains("ss word"));
    }
}

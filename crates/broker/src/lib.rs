//! Centreon Broker events as a Lua stream connector sees them.
pub mod perfdata;

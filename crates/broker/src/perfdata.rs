//! Nagios/Centreon perfdata parser (to be written).

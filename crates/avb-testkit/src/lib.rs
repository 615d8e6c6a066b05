//! avb-testkit

//! avb-api

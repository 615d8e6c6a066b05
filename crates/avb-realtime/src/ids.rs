//! Server-generated ids in OpenAI's style (`event_…`, `item_…`, `resp_…`, `sess_…`).

/// A new id with `prefix` and 24 hex characters of a UUIDv7 (time-ordered, unique).
pub fn new_id(prefix: &str) -> String {
    let u = uuid::Uuid::now_v7().simple().to_string();
    format!("{prefix}_{}", &u[8..])
}

#[cfg(test)]
mod tests {
    #[test]
    fn unique_and_prefixed() {
        let a = super::new_id("event");
        let b = super::new_id("event");
        assert!(a.starts_with("event_") && a.len() == "event_".len() + 24);
        assert_ne!(a, b);
    }
}

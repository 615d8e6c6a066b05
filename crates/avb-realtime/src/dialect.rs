//! Beta vs GA: chosen once per connection, it decides every server event's name and shape.

/// The dialect of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `OpenAI-Beta: realtime=v1` or the `openai-beta.realtime-v1` subprotocol.
    Beta,
    /// Everything else.
    Ga,
}

impl Dialect {
    /// Picks the dialect from the `OpenAI-Beta` header value and the offered subprotocols.
    pub fn detect(beta_header: Option<&str>, subprotocols: &[&str]) -> Self {
        let header = beta_header.is_some_and(|h| h.split(',').any(|v| v.trim() == "realtime=v1"));
        if header
            || subprotocols
                .iter()
                .any(|p| p.trim() == "openai-beta.realtime-v1")
        {
            Dialect::Beta
        } else {
            Dialect::Ga
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_beta_by_header_or_subprotocol() {
        assert_eq!(Dialect::detect(Some("realtime=v1"), &[]), Dialect::Beta);
        assert_eq!(
            Dialect::detect(Some("assistants=v2, realtime=v1"), &[]),
            Dialect::Beta
        );
        assert_eq!(
            Dialect::detect(None, &["realtime", "openai-beta.realtime-v1"]),
            Dialect::Beta
        );
        assert_eq!(
            Dialect::detect(None, &["realtime", "openai-insecure-api-key.x"]),
            Dialect::Ga
        );
        assert_eq!(Dialect::detect(Some("assistants=v2"), &[]), Dialect::Ga);
    }
}

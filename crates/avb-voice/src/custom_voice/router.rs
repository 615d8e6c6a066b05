//! One speech engine in front of two: `remote:<id>` voices go to the remote cloning API, all
//! others (stock voices and stock blends) to the local engine.

use super::REMOTE_PREFIX;
use crate::llm::EngineError;
use crate::tts::{PcmStream, TextToSpeech};
use std::sync::Arc;

/// Sends each voice to the engine that speaks it. Both engines must return PCM at the same
/// sample rate (the local Kokoro engine and [`super::RemoteCloneSpeech`] both make 24000 Hz):
/// [`TextToSpeech::sample_rate`] answers the local engine's.
pub struct VoiceRouter {
    local: Arc<dyn TextToSpeech>,
    remote: Option<Arc<dyn TextToSpeech>>,
}

impl VoiceRouter {
    /// A router over `local` and, when one is configured, `remote`.
    pub fn new(local: Arc<dyn TextToSpeech>, remote: Option<Arc<dyn TextToSpeech>>) -> Self {
        if let Some(r) = &remote
            && r.sample_rate() != local.sample_rate()
        {
            tracing::warn!(
                local = local.sample_rate(),
                remote = r.sample_rate(),
                "the remote voice engine's sample rate differs from the local one's"
            );
        }
        Self { local, remote }
    }
}

#[async_trait::async_trait]
impl TextToSpeech for VoiceRouter {
    async fn speak(&self, text: &str, voice: &str, speed: f64) -> Result<PcmStream, EngineError> {
        match voice.strip_prefix(REMOTE_PREFIX) {
            None => self.local.speak(text, voice, speed).await,
            Some(id) => match &self.remote {
                Some(remote) => remote.speak(text, id, speed).await,
                None => Err(EngineError::Rejected {
                    stage: "tts",
                    message: "no remote voice engine is configured".into(),
                }),
            },
        }
    }

    fn sample_rate(&self) -> u32 {
        self.local.sample_rate()
    }

    async fn voices(&self) -> Result<Vec<String>, EngineError> {
        self.local.voices().await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use std::sync::Mutex;

    /// An engine that answers its own name as the PCM and remembers the voices asked for.
    struct Named {
        name: &'static str,
        asked: Mutex<Vec<String>>,
    }

    impl Named {
        fn new(name: &'static str) -> Arc<Self> {
            Arc::new(Self {
                name,
                asked: Mutex::default(),
            })
        }
    }

    #[async_trait::async_trait]
    impl TextToSpeech for Named {
        async fn speak(&self, _: &str, voice: &str, _: f64) -> Result<PcmStream, EngineError> {
            self.asked.lock().unwrap().push(voice.to_string());
            let bytes = self.name.as_bytes().to_vec();
            Ok(futures::stream::once(async move { Ok(bytes) }).boxed())
        }
        fn sample_rate(&self) -> u32 {
            24_000
        }
        async fn voices(&self) -> Result<Vec<String>, EngineError> {
            Ok(vec![self.name.to_string()])
        }
    }

    async fn said(router: &VoiceRouter, voice: &str) -> Result<String, EngineError> {
        let mut s = router.speak("hi", voice, 1.0).await?;
        Ok(String::from_utf8(s.next().await.unwrap()?).unwrap())
    }

    #[tokio::test]
    async fn routes_by_prefix() {
        let (local, remote) = (Named::new("local"), Named::new("remote"));
        let router = VoiceRouter::new(local.clone(), Some(remote.clone()));
        assert_eq!(
            said(&router, "af_heart(0.5)+bf_emma(0.5)").await.unwrap(),
            "local"
        );
        assert_eq!(said(&router, "remote:abc123").await.unwrap(), "remote");
        assert_eq!(*remote.asked.lock().unwrap(), vec!["abc123"]);
        assert_eq!(
            *local.asked.lock().unwrap(),
            vec!["af_heart(0.5)+bf_emma(0.5)"]
        );
        assert_eq!(router.voices().await.unwrap(), vec!["local"]);

        let alone = VoiceRouter::new(local, None);
        assert_eq!(
            said(&alone, "remote:abc123").await,
            Err(EngineError::Rejected {
                stage: "tts",
                message: "no remote voice engine is configured".into()
            })
        );
    }
}

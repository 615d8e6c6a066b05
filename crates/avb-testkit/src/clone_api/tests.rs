//! The remote-clone client of avb-voice against the stand-in, and the stand-in's strictness.

use super::*;
use avb_voice::custom_voice::RemoteCloneSpeech;
use avb_voice::llm::EngineError;
use avb_voice::{RemoteCloneMaker, TextToSpeech, VoiceMaker, VoiceRouter};
use tokio::sync::mpsc::unbounded_channel;

/// Two seconds of a 16 kHz tone as a WAV file.
fn sample() -> Vec<u8> {
    let samples: Vec<i16> = (0..32_000)
        .map(|i| ((i % 40) * 400 - 8000) as i16)
        .collect();
    avb_voice::audio::wav(&samples, 16_000)
}

async fn pcm(
    engine: &dyn TextToSpeech,
    text: &str,
    voice: &str,
    speed: f64,
) -> Result<(usize, Vec<u8>), EngineError> {
    let mut stream = engine.speak(text, voice, speed).await?;
    let (mut chunks, mut bytes) = (0, Vec::new());
    while let Some(c) = stream.next().await {
        chunks += 1;
        bytes.extend(c?);
    }
    Ok((chunks, bytes))
}

#[tokio::test]
async fn makes_speaks_and_removes_a_remote_clone() {
    let api = spawn_clone_api("xi-key").await;
    let maker = RemoteCloneMaker::new(api.url(), "xi-key", "eleven_multilingual_v2").unwrap();
    let (tx, mut rx) = unbounded_channel();
    let made = maker.make("Brand voice", sample(), tx).await.unwrap();
    let held = api.voices();
    assert_eq!(held.len(), 1);
    assert_eq!((held[0].name.as_str(), held[0].files), ("Brand voice", 1));
    assert_eq!(made.engine_voice, format!("remote:{}", held[0].voice_id));
    assert_eq!(made.details["requires_verification"], false);
    assert_eq!(rx.recv().await.unwrap().fraction, 0.1);
    assert_eq!(rx.recv().await.unwrap().fraction, 1.0);

    // Through the router, as sessions will: the prefix is stripped, speed clamped to 0.7-1.2.
    let remote: Arc<dyn TextToSpeech> = Arc::new(maker.speech(Duration::from_secs(5)));
    let local: Arc<dyn TextToSpeech> =
        Arc::new(RemoteCloneSpeech::new(api.url(), "xi-key", "m", Duration::from_secs(5)).unwrap());
    let router = VoiceRouter::new(local, Some(remote));
    assert_eq!(router.sample_rate(), 24_000);
    let text = "Hello from the clone.";
    let (chunks, bytes) = pcm(&router, text, &made.engine_voice, 2.0).await.unwrap();
    assert!(chunks > 1, "streamed in pieces");
    let expected = (24_000.0 * speech_secs(text, 1.2)).round() as usize * 2;
    assert_eq!(bytes.len(), expected);
    let call = &api.speech_calls()[0];
    assert_eq!(call.voice_id, held[0].voice_id);
    assert_eq!(
        (call.output_format.as_str(), call.speed),
        ("pcm_24000", Some(1.2))
    );
    assert_eq!(call.model_id.as_deref(), Some("eleven_multilingual_v2"));

    maker.remove(&made.engine_voice).await.unwrap();
    assert!(api.voices().is_empty());
    maker.remove(&made.engine_voice).await.unwrap(); // already gone counts as removed
    let gone = pcm(&router, text, &made.engine_voice, 1.0).await;
    assert!(
        matches!(gone, Err(EngineError::Rejected { ref message, .. }) if message.contains("was not found")),
        "{gone:?}"
    );
    assert!(maker.remove("af_heart").await.is_err());
}

#[tokio::test]
async fn a_wrong_key_is_rejected() {
    let api = spawn_clone_api("xi-key").await;
    let maker = RemoteCloneMaker::new(api.url(), "wrong", "m").unwrap();
    let (tx, _rx) = unbounded_channel();
    let res = maker.make("x", sample(), tx).await;
    assert!(
        matches!(&res, Err(EngineError::Rejected { stage: "voice", message }) if message.contains("refused the API key")),
        "{res:?}"
    );
    assert!(api.voices().is_empty());
    let speech = RemoteCloneSpeech::new(api.url(), "wrong", "m", Duration::from_secs(5)).unwrap();
    let res = pcm(&speech, "hi", "abc", 1.0).await;
    assert!(
        matches!(&res, Err(EngineError::Rejected { stage: "tts", message }) if message.contains("refused the API key")),
        "{res:?}"
    );
}

#[tokio::test]
async fn the_stand_in_enforces_the_documented_shapes() {
    let api = spawn_clone_api("k").await;
    let http = reqwest::Client::new();
    let add = |form: reqwest::multipart::Form| {
        http.post(format!("{}/v1/voices/add", api.url()))
            .header("xi-api-key", "k")
            .multipart(form)
            .send()
    };
    let wav = || reqwest::multipart::Part::bytes(sample()).file_name("a.wav");
    let res = add(reqwest::multipart::Form::new().part("files", wav()))
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    assert_eq!(
        res.json::<Value>().await.unwrap()["detail"][0]["loc"],
        json!(["body", "name"])
    );
    let res = add(reqwest::multipart::Form::new().text("name", "n"))
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let text_file = reqwest::multipart::Part::bytes(b"hello".to_vec()).file_name("a.txt");
    let res = add(reqwest::multipart::Form::new()
        .text("name", "n")
        .part("files", text_file))
    .await
    .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(
        res.json::<Value>().await.unwrap()["detail"]["status"],
        "invalid_audio_file"
    );

    let res = http
        .post(format!("{}/v1/voices/add", api.url()))
        .multipart(
            reqwest::multipart::Form::new()
                .text("name", "n")
                .part("files", wav()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(
        res.json::<Value>().await.unwrap()["detail"]["status"],
        "invalid_api_key"
    );

    let id = add(reqwest::multipart::Form::new()
        .text("name", "n")
        .part("files", wav()))
    .await
    .unwrap()
    .json::<Value>()
    .await
    .unwrap()["voice_id"]
        .as_str()
        .unwrap()
        .to_string();
    let speak = |id: &str, format: &str, body: Value| {
        http.post(format!(
            "{}/v1/text-to-speech/{id}/stream?output_format={format}",
            api.url()
        ))
        .header("xi-api-key", "k")
        .json(&body)
        .send()
    };
    assert_eq!(
        speak(&id, "mp3_44100_128", json!({"text": "hi"}))
            .await
            .unwrap()
            .status(),
        422
    );
    assert_eq!(
        speak(&id, "pcm_24000", json!({"text": ""}))
            .await
            .unwrap()
            .status(),
        422
    );
    assert_eq!(
        speak(
            &id,
            "pcm_24000",
            json!({"text": "hi", "voice_settings": {"speed": 2.0}})
        )
        .await
        .unwrap()
        .status(),
        422
    );
    assert_eq!(
        speak("nope", "pcm_24000", json!({"text": "hi"}))
            .await
            .unwrap()
            .status(),
        404
    );
    let ok = speak(&id, "pcm_16000", json!({"text": "hi"}))
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(
        ok.bytes().await.unwrap().len(),
        (16_000.0 * speech_secs("hi", 1.0)).round() as usize * 2
    );
    let del = |id: &str| {
        http.delete(format!("{}/v1/voices/{id}", api.url()))
            .header("xi-api-key", "k")
            .send()
    };
    assert_eq!(del("nope").await.unwrap().status(), 404);
    assert_eq!(
        del(&id).await.unwrap().json::<Value>().await.unwrap(),
        json!({"status": "ok"})
    );
}

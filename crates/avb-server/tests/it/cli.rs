//! The `avb` binary: config handling, admin commands with --json, serve, audit verification.
#![allow(clippy::unwrap_used)]

use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Output, Stdio};

pub(crate) struct Env {
    pub(crate) dir: std::path::PathBuf,
}

impl Env {
    pub(crate) fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("avb-cli-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        Self { dir }
    }

    pub(crate) fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_avb"));
        c.current_dir(&self.dir).env("AVB_LOG__LEVEL", "warn");
        c
    }

    pub(crate) fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut child = self
            .cmd()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            input.write_all(s.as_bytes()).unwrap();
        }
        drop(input);
        child.wait_with_output().unwrap()
    }

    fn json(&self, args: &[&str], stdin: Option<&str>) -> Value {
        let out = self.run(args, stdin);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", String::from_utf8_lossy(&out.stdout)))
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn config_example_and_unknown_keys() {
    let env = Env::new();
    let out = env.run(&["config", "example"], None);
    assert!(out.status.success());
    let example = String::from_utf8(out.stdout).unwrap();
    assert!(example.contains("[server]") && example.contains("listen = \"127.0.0.1:8080\""));
    std::fs::write(env.dir.join("example.toml"), &example).unwrap();
    assert!(
        env.run(&["--config", "example.toml", "config", "show"], None)
            .status
            .success()
    );

    std::fs::write(
        env.dir.join("bad.toml"),
        "[server]\nlisten = \"127.0.0.1:1\"\nlisen = 2\n",
    )
    .unwrap();
    let out = env.run(&["--config", "bad.toml", "migrate"], None);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("lisen"), "{err}");

    let out = env
        .cmd()
        .args(["migrate"])
        .env("AVB_DATABSE__URL", "x")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("databse"));

    // Secrets never print.
    let out = env
        .cmd()
        .args(["config", "show"])
        .env("AVB_DATABASE__URL", "postgres://u:hunter2@h/db")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stdout).contains("hunter2"));
}

#[test]
fn operator_commands_then_serve_and_use_the_key() {
    let env = Env::new();
    let tenant = env.json(
        &[
            "admin",
            "--json",
            "tenant",
            "create",
            "--name",
            "Cli Co",
            "--email",
            "billing@cli.io",
            "--plan",
            "free",
        ],
        None,
    );
    let tid = tenant["id"].as_str().unwrap().to_string();
    assert_eq!(tenant["plan"], "free");
    let unknown_plan = env.run(
        &[
            "admin", "tenant", "create", "--name", "Y", "--email", "y@cli.io", "--plan", "pro",
        ],
        None,
    );
    assert!(!unknown_plan.status.success());
    assert!(
        String::from_utf8_lossy(&unknown_plan.stderr).contains("'pro' is not a plan on offer"),
        "{}",
        String::from_utf8_lossy(&unknown_plan.stderr)
    );
    let bad = env.run(
        &[
            "admin", "tenant", "create", "--name", "X", "--email", "nope",
        ],
        None,
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("billing_email"));

    let user = env.json(
        &[
            "admin",
            "--json",
            "user",
            "create",
            "--email",
            "ops@cli.io",
            "--name",
            "Ops",
            "--tenant",
            &tid,
            "--role",
            "tenant_admin",
            "--password-stdin",
        ],
        Some("Cli-Password-123\n"),
    );
    assert_eq!(user["role"], "tenant_admin");
    let weak = env.run(
        &[
            "admin",
            "user",
            "create",
            "--email",
            "weak@cli.io",
            "--name",
            "Weak",
            "--tenant",
            &tid,
            "--role",
            "viewer",
            "--password-stdin",
        ],
        Some("short\n"),
    );
    assert!(!weak.status.success());
    assert!(String::from_utf8_lossy(&weak.stderr).contains("password"));

    let key = env.json(
        &[
            "admin",
            "--json",
            "key",
            "create",
            "--tenant",
            &tid,
            "--name",
            "ci",
            "--scopes",
            "realtime,sessions",
        ],
        None,
    );
    let secret = key["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("avb_live_"));
    assert_eq!(key["scopes"], serde_json::json!(["realtime", "sessions"]));

    // serve on free ports, read where it listens, and drive it.
    let mut child = env
        .cmd()
        .args(["serve"])
        .env("AVB_SERVER__LISTEN", "127.0.0.1:0")
        .env("AVB_SERVER__METRICS_LISTEN", "127.0.0.1:0")
        .env("AVB_SERVER__TLS_LISTEN", "127.0.0.1:0")
        .arg("--tls-self-signed")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut base = String::new();
    let mut setup_url = String::new();
    let mut metrics = String::new();
    let mut tls = (String::new(), String::new());
    for line in lines.by_ref().take(10) {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("AgentVoiceBox listening on ") {
            base = rest.split_whitespace().next().unwrap().to_string();
        }
        if let Some(rest) = line.strip_prefix("Prometheus metrics on ") {
            metrics = rest.to_string();
        }
        if line.trim_start().contains("/setup?token=") {
            setup_url = line.trim().to_string();
        }
        if let Some(rest) = line.strip_prefix("TLS (https/wss) on ") {
            let (url, cert) = rest.split_once(" (certificate ").unwrap();
            tls = (url.to_string(), cert.trim_end_matches(')').to_string());
            break;
        }
    }
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    assert!(
        setup_url.contains("/setup?token="),
        "no admin yet, so a setup URL is printed"
    );

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let http = reqwest::Client::new();
        let me: Value = http
            .get(format!("{base}/api/v1/me"))
            .bearer_auth(&secret)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(me["tenant"]["name"], "Cli Co");
        let tokens: Value = http
            .post(format!("{base}/api/v1/auth/token"))
            .json(&serde_json::json!({"email": "ops@cli.io", "password": "Cli-Password-123"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let access = tokens["access_token"].as_str().unwrap();
        let res = http
            .post(format!("{base}/api/v1/invitations"))
            .bearer_auth(access)
            .json(&serde_json::json!({"email": "new@cli.io", "role": "viewer"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), reqwest::StatusCode::CREATED);
        let text = http
            .get(&metrics)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(text.contains("avb_http_requests_total"), "{text}");
    });
    // The official Python beta client always uses wss://; it trusts the self-signed certificate.
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/sdk/python_realtime.py"
    );
    let out = Command::new("python3")
        .args([script, &tls.0, &secret, "beta-tls"])
        .env("SSL_CERT_FILE", &tls.1)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "wss with the Python SDK: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (
            created["type"].as_str(),
            created["input_audio_format"].as_str()
        ),
        (Some("session.created"), Some("pcm16"))
    );

    // Stop gracefully while a realtime session is open: it is told and closed, then avb exits.
    let ws_url = format!("{}/v1/realtime?model=m", base.replace("http://", "ws://"));
    let (events, status) = rt.block_on(async {
        use futures::StreamExt;
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut req = ws_url.into_client_request().unwrap();
        req.headers_mut()
            .insert("authorization", format!("Bearer {secret}").parse().unwrap());
        let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
        let _created = ws.next().await;
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let mut events = Vec::new();
        while let Some(Ok(msg)) =
            tokio::time::timeout(std::time::Duration::from_secs(10), ws.next())
                .await
                .ok()
                .flatten()
        {
            match msg {
                tokio_tungstenite::tungstenite::Message::Text(t) => {
                    let v: Value = serde_json::from_str(t.as_str()).unwrap();
                    events.push(v["error"]["code"].as_str().unwrap_or_default().to_string());
                }
                tokio_tungstenite::tungstenite::Message::Close(f) => {
                    events.push(format!(
                        "close {}",
                        f.map(|f| u16::from(f.code)).unwrap_or(0)
                    ));
                    break;
                }
                _ => {}
            }
        }
        (events, child.wait().unwrap())
    });
    assert_eq!(
        events,
        vec!["session_closed".to_string(), "close 1000".to_string()]
    );
    assert!(
        status.success(),
        "serve exits cleanly on SIGTERM: {status:?}"
    );

    // The invitation mail is in the outbox.
    let mail = env.json(
        &["admin", "--json", "mail", "list", "--to", "new@cli.io"],
        None,
    );
    assert!(
        mail[0]["body"]
            .as_str()
            .unwrap()
            .contains("/invitations/accept?token=")
    );

    // The audit chain verifies, and a tampered row is caught with a non-zero exit.
    let ok = env.json(&["admin", "--json", "audit", "verify"], None);
    assert_eq!(ok["ok"], true);
    let db = env.dir.join("avb-data").join("avb.db");
    let status = Command::new("python3")
        .args(["-c", &format!("import sqlite3;c=sqlite3.connect('{}');c.execute(\"update audit_events set ip='1.2.3.4' where action='api_key.create'\");c.commit()", db.display())])
        .status()
        .unwrap();
    assert!(status.success());
    let out = env.run(&["admin", "--json", "audit", "verify"], None);
    assert_eq!(out.status.code(), Some(2));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(
        report["breaks"][0]["reason"],
        "row content does not match its hash"
    );
}

#[test]
fn worker_role_consumes_the_redis_queue_and_stops_on_sigterm() {
    let env = Env::new();
    let out = env.run(&["serve", "--role", "worker"], None);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("queue.backend"),
        "the in-process queue has no workers: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = env
        .cmd()
        .args(["serve", "--role", "worker"])
        .env("AVB_QUEUE__BACKEND", "redis")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("redis.url"));

    let mut child = env
        .cmd()
        .args(["serve", "--role", "worker"])
        .env("AVB_QUEUE__BACKEND", "redis")
        .env(
            "AVB_QUEUE__NAMESPACE",
            format!("avb:cli:{}", uuid::Uuid::now_v7().simple()),
        )
        .env("AVB_REDIS__URL", avb_testkit::redis_url())
        .env("AVB_SERVER__METRICS_LISTEN", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.contains("worker consuming"), "{first}");
    Command::new("kill")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(
        rest.iter().any(|l| l.contains("worker stopped")),
        "{rest:?}"
    );
}

/// Borrowed (name, value) pairs.
pub(crate) fn pairs<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    v.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// Starts `avb serve` on free ports with `vars`; returns the child and its base URL.
pub(crate) fn serve(env: &Env, vars: &[(&str, &str)]) -> (std::process::Child, String) {
    let mut cmd = env.cmd();
    cmd.args(["serve"])
        .env("AVB_SERVER__LISTEN", "127.0.0.1:0")
        .env("AVB_SERVER__METRICS_LISTEN", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        if let Some(rest) = line.unwrap().strip_prefix("AgentVoiceBox listening on ") {
            let base = rest.split_whitespace().next().unwrap().to_string();
            // Keep reading: a closed pipe would make the server's next line fail.
            std::thread::spawn(move || lines.for_each(drop));
            return (child, base);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("avb serve did not start");
}

/// Creates a tenant and a key with the realtime and sessions scopes through the CLI.
fn tenant_key(env: &Env, vars: &[(&str, &str)]) -> String {
    let run = |args: &[&str]| -> Value {
        let mut cmd = env.cmd();
        cmd.args(args);
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let tenant = run(&[
        "admin",
        "--json",
        "tenant",
        "create",
        "--name",
        "Crash Co",
        "--email",
        "ops@crash.io",
    ]);
    let tid = tenant["id"].as_str().unwrap().to_string();
    let key = run(&[
        "admin",
        "--json",
        "key",
        "create",
        "--tenant",
        &tid,
        "--name",
        "k",
        "--scopes",
        "realtime,sessions",
    ]);
    key["secret"].as_str().unwrap().to_string()
}

/// Opens a realtime session on `base` and returns the socket once it is created.
pub(crate) async fn open_realtime(
    base: &str,
    key: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = format!("{}/v1/realtime?model=m", base.replace("http://", "ws://"))
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {key}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let _created = ws.next().await;
    ws
}

/// Polls `base` until the tenant's only session is closed; returns its record and how long
/// it took.
async fn until_closed(base: &str, key: &str) -> (Value, std::time::Duration) {
    let started = std::time::Instant::now();
    let http = reqwest::Client::new();
    loop {
        let list: Value = http
            .get(format!("{base}/api/v1/sessions"))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let s = list["data"][0].clone();
        if s["status"] == "closed" {
            return (s, started.elapsed());
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "the crashed session is still {s}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// A replica killed with SIGKILL leaves its sessions "active": a surviving replica on the same
/// PostgreSQL closes them as `lost` once the heartbeats stop (bounded by lost_after_secs).
#[test]
fn a_surviving_replica_closes_the_sessions_of_a_killed_one() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (url, _) = rt
        .block_on(avb_testkit::fresh_database(avb_testkit::Db::Postgres))
        .unwrap();
    let env = Env::new();
    let db = [("AVB_DATABASE__URL", url.as_str())];
    let key = tenant_key(&env, &db);
    let (a_dir, b_dir) = (
        env.dir.join("a").display().to_string(),
        env.dir.join("b").display().to_string(),
    );
    let vars = |dir: &str| {
        [
            ("AVB_DATABASE__URL", url.clone()),
            ("AVB_REALTIME__LOST_AFTER_SECS", "4".to_string()),
            ("AVB_SERVER__DATA_DIR", dir.to_string()),
        ]
    };
    let (a_vars, b_vars) = (vars(&a_dir), vars(&b_dir));
    let (mut doomed, a) = serve(&env, &pairs(&a_vars));
    let (mut survivor, b) = serve(&env, &pairs(&b_vars));
    let (record, took) = rt.block_on(async {
        let _ws = open_realtime(&a, &key).await;
        doomed.kill().unwrap();
        doomed.wait().unwrap();
        until_closed(&b, &key).await
    });
    eprintln!("survivor closed the killed replica's session after {took:?}");
    assert_eq!(record["close_reason"], "lost", "{record}");
    assert!(record["ended_at"].is_string(), "{record}");
    survivor.kill().unwrap();
    let _ = survivor.wait();
}

/// A server killed with SIGKILL and started again on the same data directory closes what its
/// previous process left open, at start.
#[test]
fn a_restarted_server_closes_its_previous_sessions_at_start() {
    let env = Env::new();
    let key = tenant_key(&env, &[]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (mut first, base) = serve(&env, &[]);
    rt.block_on(async {
        let _ws = open_realtime(&base, &key).await;
        first.kill().unwrap();
        first.wait().unwrap();
    });
    let (mut again, base) = serve(&env, &[]);
    let (record, took) = rt.block_on(until_closed(&base, &key));
    eprintln!("the restarted server closed its previous session after {took:?}");
    assert_eq!(record["close_reason"], "lost", "{record}");
    again.kill().unwrap();
    let _ = again.wait();
}

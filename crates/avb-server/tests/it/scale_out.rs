//! Three `avb serve` processes (127.0.0.1, .2 and .3) on one PostgreSQL, one Redis (private to
//! this test, so it can be restarted) and, when the test command started it, Kafka: they behave
//! as one platform. Revocations reach the other two within a second (p50/p99 printed); an
//! ephemeral secret minted on A opens a session on B; closing a session on A ends the socket C
//! holds; suspending the tenant on A ends its sessions on B and C; the cluster-wide jobs have one
//! leader, another replica takes over within the lease when it is killed, and the survivors
//! close the killed replica's session; with Redis restarted revocations flow again; with Kafka
//! every platform event arrives, none twice but what the killed leader had in flight.
#![allow(clippy::unwrap_used)]

use crate::cli::{Env, open_realtime, pairs, serve};
use futures::StreamExt;
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A Redis server of this test's own on `port` (no persistence).
fn start_redis(port: u16) -> Child {
    let mut child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..100 {
        let ok = Command::new("redis-cli")
            .args(["-p", &port.to_string(), "ping"])
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"PONG"));
        if ok {
            return child;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("redis-server did not start on {port}");
}

fn psql(url: &str, sql: &str) -> Vec<String> {
    let out = Command::new("psql")
        .args([url, "-Atc", sql])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn cli(env: &Env, vars: &[(&str, &str)], args: &[&str], stdin: Option<&str>) -> Value {
    let mut cmd = env.cmd();
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    {
        use std::io::Write;
        let mut input = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            input.write_all(s.as_bytes()).unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

async fn status(http: &reqwest::Client, url: &str, token: &str) -> u16 {
    http.get(url)
        .bearer_auth(token)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// How long until `url` answers 401 to `token` (polled every 5 ms, up to 10 s).
async fn until_refused(
    http: &reqwest::Client,
    url: String,
    token: &str,
    since: Instant,
) -> Duration {
    loop {
        if status(http, &url, token).await == 401 {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < Duration::from_secs(10),
            "{url} still takes the key"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How long until the server ends `ws` (close frame, error or EOF), up to 15 s.
async fn until_ended(ws: &mut Ws, since: Instant) -> Duration {
    use tokio_tungstenite::tungstenite::Message;
    loop {
        let next = tokio::time::timeout(Duration::from_secs(15), ws.next())
            .await
            .expect("the socket was not ended");
        match next {
            None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return since.elapsed(),
            Some(Ok(_)) => {}
        }
    }
}

fn percentile(v: &[Duration], q: f64) -> Duration {
    let mut v = v.to_vec();
    v.sort();
    v[((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1]
}

#[test]
fn three_replicas_behave_as_one_platform() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (db_url, _) = rt
        .block_on(avb_testkit::fresh_database(avb_testkit::Db::Postgres))
        .unwrap();
    let redis_port = free_port();
    let mut redis = start_redis(redis_port);
    let env = Env::new();
    let _broker = crate::kafka::BROKER
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let kafka = std::env::var("TEST_KAFKA_BROKERS")
        .ok()
        .filter(|b| !b.is_empty());
    let topic = format!("avb.events.scale-{}", uuid::Uuid::now_v7().simple());
    let mut common: Vec<(&'static str, String)> = vec![
        ("AVB_DATABASE__URL", db_url.clone()),
        ("AVB_REDIS__URL", format!("redis://127.0.0.1:{redis_port}")),
        ("AVB_REALTIME__LOST_AFTER_SECS", "4".into()),
        ("AVB_JOBS__LEADER_LEASE_SECS", "3".into()),
        ("AVB_API_KEYS__CACHE_TTL_SECS", "3".into()),
    ];
    if let Some(b) = &kafka {
        common.push(("AVB_KAFKA__BROKERS", format!("[\"{b}\"]")));
        common.push(("AVB_KAFKA__TOPIC", topic.clone()));
        common.push(("AVB_KAFKA__PUBLISH_EVERY_MS", "100".into()));
    }
    let db = [("AVB_DATABASE__URL", db_url.as_str())];
    let tenant = cli(
        &env,
        &db,
        &[
            "admin",
            "--json",
            "tenant",
            "create",
            "--name",
            "Scale Co",
            "--email",
            "ops@scale.io",
        ],
        None,
    );
    let tid = tenant["id"].as_str().unwrap().to_string();
    cli(
        &env,
        &db,
        &[
            "admin",
            "--json",
            "user",
            "create",
            "--email",
            "owner@scale.io",
            "--name",
            "Owner",
            "--tenant",
            &tid,
            "--role",
            "tenant_owner",
            "--password-stdin",
        ],
        Some("Scale-Password-42\n"),
    );
    cli(
        &env,
        &db,
        &[
            "admin",
            "--json",
            "user",
            "create",
            "--email",
            "root@scale.io",
            "--name",
            "Root",
            "--saas-admin",
            "--password-stdin",
        ],
        Some("Scale-Password-42\n"),
    );

    let mut replicas: Vec<(Child, String)> = Vec::new();
    for (i, host) in ["127.0.0.1", "127.0.0.2", "127.0.0.3"].iter().enumerate() {
        let mut vars = common.clone();
        vars.push(("AVB_SERVER__LISTEN", format!("{host}:0")));
        vars.push((
            "AVB_SERVER__DATA_DIR",
            env.dir.join(format!("r{i}")).display().to_string(),
        ));
        replicas.push(serve(&env, &pairs(&vars)));
    }
    let bases: Vec<String> = replicas.iter().map(|r| r.1.clone()).collect();
    let (a, b, c) = (bases[0].clone(), bases[1].clone(), bases[2].clone());
    assert!(
        b.contains("127.0.0.2") && c.contains("127.0.0.3"),
        "{bases:?}"
    );

    rt.block_on(async {
        let http = reqwest::Client::new();
        let login = |base: String, email: &'static str| {
            let http = http.clone();
            async move {
                let t: Value = http
                    .post(format!("{base}/api/v1/auth/token"))
                    .json(&json!({"email": email, "password": "Scale-Password-42"}))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                t["access_token"].as_str().unwrap().to_string()
            }
        };
        let owner = login(a.clone(), "owner@scale.io").await;
        let root = login(a.clone(), "root@scale.io").await;
        // The owner's session from A works on B and C.
        for base in [&b, &c] {
            assert_eq!(
                status(&http, &format!("{base}/api/v1/me"), &owner).await,
                200
            );
        }
        let new_key = |name: String| {
            let (http, owner, a) = (http.clone(), owner.clone(), a.clone());
            async move {
                let k: Value = http
                    .post(format!("{a}/api/v1/api-keys"))
                    .bearer_auth(&owner)
                    .json(&json!({"name": name, "scopes": ["realtime", "sessions"]}))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                (
                    k["id"].as_str().unwrap().to_string(),
                    k["secret"].as_str().unwrap().to_string(),
                )
            }
        };

        // Revocation on A reaches B and C.
        let mut took = Vec::new();
        for i in 0..20 {
            let (id, secret) = new_key(format!("rev {i}")).await;
            for base in [&b, &c] {
                assert_eq!(
                    status(&http, &format!("{base}/api/v1/sessions"), &secret).await,
                    200
                );
            }
            let started = Instant::now();
            let res = http
                .post(format!("{a}/api/v1/api-keys/{id}/revoke"))
                .bearer_auth(&owner)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            let (tb, tc) = tokio::join!(
                until_refused(&http, format!("{b}/api/v1/sessions"), &secret, started),
                until_refused(&http, format!("{c}/api/v1/sessions"), &secret, started)
            );
            took.push(tb.max(tc));
        }
        let (p50, p99) = (percentile(&took, 0.5), percentile(&took, 0.99));
        eprintln!("revocation on A refused on B and C after: p50 {p50:?}, p99 {p99:?} (20 keys)");
        assert!(p99 < Duration::from_secs(1), "p99 {p99:?}");

        // An ephemeral secret minted on A opens a session on B.
        let (_, key) = new_key("live".into()).await;
        let minted: Value = http
            .post(format!("{a}/v1/realtime/client_secrets"))
            .bearer_auth(&key)
            .json(&json!({"session": {"type": "realtime"}}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let ek = minted["value"].as_str().unwrap().to_string();
        assert!(ek.starts_with("ek_"), "{minted}");
        let on_b = open_realtime(&b, &ek).await;
        drop(on_b);

        // Closing on A ends the socket C holds.
        let mut on_c = open_realtime(&c, &key).await;
        let list: Value = http
            .get(format!("{a}/api/v1/sessions?status=active"))
            .bearer_auth(&owner)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let active: Vec<&Value> = list["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["status"] == "active")
            .collect();
        assert_eq!(active.len(), 1, "{list}");
        let started = Instant::now();
        let res = http
            .post(format!(
                "{a}/api/v1/sessions/{}/close",
                active[0]["id"].as_str().unwrap()
            ))
            .bearer_auth(&owner)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let took = until_ended(&mut on_c, started).await;
        eprintln!("session closed on A: C's socket ended after {took:?}");

        // Suspending the tenant on A ends its sessions on B and C.
        let (mut s_b, mut s_c) = (open_realtime(&b, &key).await, open_realtime(&c, &key).await);
        let started = Instant::now();
        let res = http
            .post(format!("{a}/api/v1/admin/tenants/{tid}/suspend"))
            .bearer_auth(&root)
            .json(&json!({"reason": "scale test"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
        let (tb, tc) = tokio::join!(
            until_ended(&mut s_b, started),
            until_ended(&mut s_c, started)
        );
        eprintln!("tenant suspended on A: sessions on B and C ended after {tb:?} and {tc:?}");
        let res = http
            .post(format!("{a}/api/v1/admin/tenants/{tid}/reactivate"))
            .bearer_auth(&root)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    });

    // One leader for the cluster-wide jobs; the replicas in start order.
    let ids = psql(&db_url, "SELECT id FROM replicas ORDER BY started_at");
    assert_eq!(ids.len(), 3, "{ids:?}");
    let holder = || {
        psql(
            &db_url,
            "SELECT holder FROM leader_leases WHERE name = 'jobs'",
        )
        .pop()
        .unwrap_or_default()
    };
    let leader = holder();
    let li = ids
        .iter()
        .position(|id| *id == leader)
        .expect("a replica leads");

    rt.block_on(async {
        let http = reqwest::Client::new();
        let (_, key) = {
            let login: Value = http
                .post(format!("{a}/api/v1/auth/token"))
                .json(&json!({"email": "owner@scale.io", "password": "Scale-Password-42"}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let owner = login["access_token"].as_str().unwrap().to_string();
            let k: Value = http
                .post(format!("{a}/api/v1/api-keys"))
                .bearer_auth(&owner)
                .json(&json!({"name": "doomed", "scopes": ["realtime", "sessions"]}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            (owner, k["secret"].as_str().unwrap().to_string())
        };
        // The leader holds a live session when it is killed.
        let _doomed_ws = open_realtime(&bases[li], &key).await;
        let killed = Instant::now();
        let killed_at = chrono::Utc::now();
        replicas[li].0.kill().unwrap();
        replicas[li].0.wait().unwrap();
        let took_over = loop {
            let h = holder();
            if h != leader && ids.contains(&h) {
                break killed.elapsed();
            }
            assert!(
                killed.elapsed() < Duration::from_secs(15),
                "nobody took over the lease"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        eprintln!("leader killed: another replica took the 3 s lease after {took_over:?}");
        let survivor = &bases[(li + 1) % 3];
        let reconciled = loop {
            let list: Value = http
                .get(format!("{survivor}/api/v1/sessions"))
                .bearer_auth(&key)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let s = &list["data"][0];
            if s["status"] == "closed" {
                assert_eq!(s["close_reason"], "lost", "{s}");
                break killed.elapsed();
            }
            assert!(killed.elapsed() < Duration::from_secs(30), "{s}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        eprintln!("the killed replica's session closed by a survivor after {reconciled:?}");

        // Redis restarted: revocations flow again between the survivors.
        redis.kill().unwrap();
        redis.wait().unwrap();
        redis = start_redis(redis_port);
        let others: Vec<&String> = (0..3).filter(|i| *i != li).map(|i| &bases[i]).collect();
        let login: Value = http
            .post(format!("{}/api/v1/auth/token", others[0]))
            .json(&json!({"email": "owner@scale.io", "password": "Scale-Password-42"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let owner = login["access_token"].as_str().unwrap().to_string();
        // The subscribers reconnect within their 2 s retry.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let k: Value = http
            .post(format!("{}/api/v1/api-keys", others[0]))
            .bearer_auth(&owner)
            .json(&json!({"name": "after redis", "scopes": ["sessions"]}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let secret = k["secret"].as_str().unwrap().to_string();
        assert_eq!(
            status(&http, &format!("{}/api/v1/sessions", others[1]), &secret).await,
            200
        );
        let started = Instant::now();
        let res = http
            .post(format!(
                "{}/api/v1/api-keys/{}/revoke",
                others[0],
                k["id"].as_str().unwrap()
            ))
            .bearer_auth(&owner)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let took = until_refused(
            &http,
            format!("{}/api/v1/sessions", others[1]),
            &secret,
            started,
        )
        .await;
        eprintln!("after a Redis restart, a revocation reached the other survivor after {took:?}");
        assert!(took < Duration::from_secs(1), "{took:?}");

        // Kafka: every platform event once, although three replicas ran.
        if let Some(broker) = &kafka {
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let waiting = psql(
                    &db_url,
                    "SELECT count(*) FROM event_outbox WHERE published_at IS NULL",
                );
                if waiting == ["0"] {
                    break;
                }
                assert!(Instant::now() < deadline, "outbox still has {waiting:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let client = rskafka::client::ClientBuilder::new(vec![broker.clone()])
                .build()
                .await
                .unwrap();
            let mut ids = Vec::new();
            for p in 0..3 {
                let pc = client
                    .partition_client(
                        topic.clone(),
                        p,
                        rskafka::client::partition::UnknownTopicHandling::Retry,
                    )
                    .await
                    .unwrap();
                let (records, _) = pc.fetch_records(0, 1..10_000_000, 200).await.unwrap();
                for r in records {
                    ids.push(String::from_utf8(r.record.headers["event_id"].clone()).unwrap());
                }
            }
            let total = ids.len();
            ids.sort();
            let repeated: Vec<String> = ids
                .windows(2)
                .filter(|w| w[0] == w[1])
                .map(|w| w[0].clone())
                .collect();
            ids.dedup();
            eprintln!(
                "Kafka: {total} platform events from three replicas, {} distinct",
                ids.len()
            );
            assert!(total >= 20, "{total}");
            // Nothing lost: every event of the outbox reached Kafka.
            let outbox = psql(&db_url, "SELECT id FROM event_outbox ORDER BY id");
            let missing: Vec<&String> = outbox.iter().filter(|id| !ids.contains(id)).collect();
            assert!(missing.is_empty(), "not in Kafka: {missing:?}");
            // At least once: competing publishers never repeat an event (the rows are claimed),
            // but the leader killed above may have published a batch it had not yet marked,
            // which its successor publishes again. Only events written before the kill repeat.
            if !repeated.is_empty() {
                let list = repeated
                    .iter()
                    .map(|id| format!("'{id}'"))
                    .collect::<Vec<_>>()
                    .join(",");
                let later = psql(
                    &db_url,
                    &format!(
                        "SELECT count(*) FROM event_outbox WHERE id IN ({list}) AND created_at > '{}'",
                        killed_at.to_rfc3339()
                    ),
                );
                assert_eq!(
                    later,
                    ["0"],
                    "events written after the kill were published twice: {repeated:?}"
                );
                eprintln!(
                    "Kafka: {} event(s) published again after the leader was killed mid-publish",
                    repeated.len()
                );
            }
        }
    });
    for (mut child, _) in replicas {
        let _ = child.kill();
        let _ = child.wait();
    }
    let _ = redis.kill();
    let _ = redis.wait();
}

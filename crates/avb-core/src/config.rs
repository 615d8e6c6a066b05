//! Typed configuration: defaults < file < environment (`AVB_SECTION__KEY`). Unknown keys are
//! rejected; secrets are wrapped in [`Secret`] so they never print.

use crate::secret::Secret;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The commented example printed by `avb config example`.
pub const EXAMPLE: &str = include_str!("../config.example.toml");

/// All configuration.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub identity: IdentityConfig,
    pub keycloak: KeycloakConfig,
    pub oidc: OidcConfig,
    pub security: SecurityConfig,
    pub api_keys: ApiKeysConfig,
    pub redis: RedisConfig,
    pub smtp: SmtpConfig,
    pub policy: PolicyConfig,
    pub log: LogConfig,
    pub engines: EnginesConfig,
    pub realtime: RealtimeConfig,
    pub queue: QueueConfig,
    pub team: TeamConfig,
    pub webhooks: WebhooksConfig,
    pub monitoring: MonitoringConfig,
    pub audit: AuditConfig,
    pub lago: LagoConfig,
    pub billing: BillingConfig,
    pub stripe: StripeConfig,
    pub ovos: OvosConfig,
    pub solvers: SolversConfig,
    pub jobs: JobsConfig,
    pub kafka: KafkaConfig,
}

/// `[kafka]`: platform events (session started/closed, usage, API keys, tenants, members,
/// invoices) published from the transactional outbox to one topic, keyed by tenant, with
/// `tenant_id` in the payload and a header; at least once, with an event id to deduplicate.
/// No brokers (the default): no Kafka; the outbox only keeps a day of events.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// Bootstrap brokers, e.g. `["127.0.0.1:9092"]`.
    pub brokers: Vec<String>,
    /// The topic (created with `partitions` partitions when missing).
    pub topic: String,
    pub partitions: i32,
    /// Milliseconds between outbox scans.
    pub publish_every_ms: u64,
    /// Events per scan.
    pub batch: u64,
    /// Milliseconds a broker round trip may take before the scan gives up (the events stay
    /// in the outbox for the next one).
    pub timeout_ms: u64,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            brokers: Vec::new(),
            topic: "avb.events".into(),
            partitions: 3,
            publish_every_ms: 500,
            batch: 500,
            timeout_ms: 5000,
        }
    }
}

/// `[solvers]`: the knowledge sources a persona may consult before the LLM. WordNet reads the
/// Debian data files; the web solvers are off until their base URL is set (the public services
/// are `https://en.wikipedia.org`, `https://api.duckduckgo.com` and
/// `https://api.wolframalpha.com`; a proxy or mirror works as well).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SolversConfig {
    /// WordNet 3.0's data directory (Debian `wordnet-base`); WordNet is off without its files.
    pub wordnet_dir: String,
    /// Wikipedia's base URL (REST summaries under `/api/rest_v1/page/summary/`).
    pub wikipedia_url: Option<String>,
    /// DuckDuckGo's Instant Answer API base URL.
    pub duckduckgo_url: Option<String>,
    /// Wolfram Alpha's API base URL (the Spoken Results API under `/v1/spoken`).
    pub wolfram_url: Option<String>,
    /// Wolfram Alpha AppID (required with `wolfram_url`).
    pub wolfram_appid: Option<Secret>,
    /// How long one solver may take before the next (or the LLM) is asked.
    pub timeout_ms: u64,
}

impl Default for SolversConfig {
    fn default() -> Self {
        Self {
            wordnet_dir: "/usr/share/wordnet".into(),
            wikipedia_url: None,
            duckduckgo_url: None,
            wolfram_url: None,
            wolfram_appid: None,
            timeout_ms: 2000,
        }
    }
}

/// `[ovos]`: the OVOS messagebus the platform serves for ovos-core and its skills.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OvosConfig {
    /// Serve the bus (`avb serve` starts it on `bus_listen`).
    pub enabled: bool,
    /// Where the bus listens (loopback by default: OVOS components run beside the platform).
    pub bus_listen: String,
    /// The WebSocket path (OVOS's `websocket.route`).
    pub bus_route: String,
    /// Client id -> token; clients connect with `?client_id=<id>&token=<token>`, others are
    /// refused. ovos-core's route becomes `/core?client_id=ovos-core&token=...`.
    pub bus_tokens: std::collections::BTreeMap<String, Secret>,
    /// Largest frame accepted (bytes); a larger one disconnects its sender.
    pub max_frame_bytes: usize,
    /// Frames waiting for one client before it is dropped as a slow consumer.
    pub queue_depth: usize,
    /// Frames one client may send per second before it is dropped as a flood.
    pub max_messages_per_sec: u32,
    /// Seconds between latency probes through the bus.
    pub probe_interval_secs: u64,
    /// Probe p99 (ms) above which the bus counts as unhealthy.
    pub probe_alert_ms: f64,
    /// The client id ovos-core connects with (its absence is an alert).
    pub core_client_id: String,
    /// How long a voice turn waits for ovos-core (intent, skill words) before the LLM answers
    /// it instead; the miss is recorded against the Skill stage.
    pub turn_deadline_ms: u64,
    /// The wake-word sidecar (`scripts/ovos.sh wakeword`), e.g. `http://127.0.0.1:8085`;
    /// unset: wake words cannot be checked, tested or detected.
    pub wakeword_url: Option<String>,
    /// A command `avb serve` runs and keeps running (restarted with backoff when it exits),
    /// e.g. `["scripts/ovos.sh", "wakeword", "8085"]`; empty: the sidecar is run elsewhere.
    pub wakeword_command: Vec<String>,
    /// A command that runs ovos-core in the foreground, which `avb serve` starts once the bus
    /// listens and restarts when it exits (e.g. `["scripts/ovos.sh", "core"]`); it gets
    /// `OVOS_BUS_HOST`, `OVOS_BUS_PORT` and `OVOS_BUS_TOKEN` (a token made at start unless
    /// `bus_tokens` has one for `core_client_id`). Empty: ovos-core is run elsewhere.
    pub core_command: Vec<String>,
    /// An external OVOS messagebus to relay to instead of serving one (e.g.
    /// `ws://127.0.0.1:8181/core`, with `?client_id=&token=` when it needs them): the platform's
    /// clients then talk to the OVOS install already there; `bus_listen` is not bound.
    pub bus_url: Option<String>,
    /// Where ovos-core's skill packages are (its venv's site-packages, `scripts/ovos.sh site`):
    /// the skills' `settingsmeta.json` there makes their settings forms; unset: no forms.
    pub skills_dir: Option<std::path::PathBuf>,
}

impl Default for OvosConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            bus_listen: "127.0.0.1:8181".into(),
            bus_route: "/core".into(),
            bus_tokens: Default::default(),
            max_frame_bytes: 1 << 20,
            queue_depth: 1024,
            max_messages_per_sec: 2000,
            probe_interval_secs: 5,
            probe_alert_ms: 50.0,
            core_client_id: "ovos-core".into(),
            turn_deadline_ms: 2500,
            wakeword_url: None,
            wakeword_command: Vec::new(),
            core_command: Vec::new(),
            bus_url: None,
            skills_dir: None,
        }
    }
}

/// `[stripe]`: card payments straight through Stripe on the local ledger (when Lago is not
/// used). Cards are entered in Stripe Elements, loaded from Stripe's origin, and never reach
/// this platform; finalised invoices are charged off-session to the saved card.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StripeConfig {
    /// Secret API key (`sk_...`); with `publishable_key` it turns Stripe payments on.
    pub secret_key: Option<Secret>,
    /// Publishable key (`pk_...`) for Stripe.js in the browser.
    pub publishable_key: Option<String>,
    /// Signing secret of the webhook endpoint (`whsec_...`); events to
    /// `/api/v1/stripe/webhooks` are refused without a valid `Stripe-Signature`.
    pub webhook_secret: Option<Secret>,
    /// Stripe's API origin.
    pub api_url: String,
    /// Where Stripe.js is loaded from; its origin is the only one the payment page's CSP adds.
    pub js_url: String,
}

impl Default for StripeConfig {
    fn default() -> Self {
        Self {
            secret_key: None,
            publishable_key: None,
            webhook_secret: None,
            api_url: "https://api.stripe.com".into(),
            js_url: "https://js.stripe.com/v3/".into(),
        }
    }
}

/// `[billing]`: the local ledger's invoices.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BillingConfig {
    /// Who issues the invoices (printed on them).
    pub seller: String,
    /// Seconds between checks for ended billing periods.
    pub interval_secs: u64,
}

impl Default for BillingConfig {
    fn default() -> Self {
        Self {
            seller: "AgentVoiceBox".into(),
            interval_secs: 60,
        }
    }
}

/// `[jobs]`: periodic background jobs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobsConfig {
    /// Seconds a replica leads the cluster-wide jobs (alert evaluation, audit retention, Lago
    /// shipping) without renewing; when the leader dies another replica takes over within this.
    pub leader_lease_secs: u64,
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            leader_lease_secs: 30,
        }
    }
}

/// `[lago]`: usage shipped to Lago for billing.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LagoConfig {
    /// Lago's API URL (`https://api.getlago.com` or a self-hosted `<LAGO_API_URL>`); setting it
    /// with `api_key` turns shipping on.
    pub api_url: Option<String>,
    /// Lago API key (Bearer).
    pub api_key: Option<Secret>,
    /// A tenant's Lago subscription is `<prefix><tenant id>`.
    pub subscription_prefix: String,
    /// Seconds between shipments.
    pub interval_secs: u64,
    /// The organisation's HMAC signature token (Developers > Webhooks); webhooks to
    /// `/api/v1/lago/webhooks` are refused without a valid `X-Lago-Signature`.
    pub webhook_hmac_key: Option<Secret>,
    /// Seconds between reconciliations of metrics, plans, customers and subscriptions.
    pub sync_interval_secs: u64,
    /// Lago's RSA public key (PEM) for JWT-signed webhooks; unset, it is fetched once from
    /// Lago's `GET /webhooks/public_key`.
    pub webhook_public_key: Option<String>,
    /// The payment provider linked to customers in Lago (`stripe`, `adyen` or `gocardless`);
    /// with it, tenants add payment methods through Lago's checkout URL.
    pub payment_provider: Option<String>,
    /// The code of that provider's connection in Lago.
    pub payment_provider_code: Option<String>,
}

impl Default for LagoConfig {
    fn default() -> Self {
        Self {
            api_url: None,
            api_key: None,
            subscription_prefix: "sub_".into(),
            interval_secs: 10,
            webhook_hmac_key: None,
            sync_interval_secs: 300,
            webhook_public_key: None,
            payment_provider: None,
            payment_provider_code: None,
        }
    }
}

/// `[audit]`: how long audit rows stay in the database.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// Rows older than this many days move to compressed archive files (daily job, or
    /// `avb admin audit archive`); unset keeps every row in the database.
    pub retention_days: Option<u32>,
    /// Where archives are written (default `<data_dir>/audit-archive`).
    pub archive_dir: Option<PathBuf>,
}

/// `[monitoring]`: where the admin portal's request and stage figures come from.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MonitoringConfig {
    /// Prometheus server scraping every replica (e.g. `http://prometheus:9090`); unset: this
    /// process's own registry.
    pub prometheus_url: Option<String>,
    /// The window, in minutes, of the figures read from Prometheus.
    pub window_minutes: u32,
}

impl Default for MonitoringConfig {
    fn default() -> Self {
        Self {
            prometheus_url: None,
            window_minutes: 60,
        }
    }
}

/// `[webhooks]`: delivery of tenant events to their endpoints.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    /// Accept http:// and private or loopback endpoint URLs (for development and tests only).
    pub allow_private_urls: bool,
    /// Attempts before a delivery is marked failed (retries back off from 5 s to 6 h).
    pub max_attempts: u32,
    /// Seconds one attempt may take.
    pub timeout_secs: u64,
    /// Seconds between outbox scans.
    pub poll_secs: u64,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            allow_private_urls: false,
            max_attempts: 8,
            timeout_secs: 10,
            poll_secs: 2,
        }
    }
}

/// `[team]`: how many members a tenant may have.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TeamConfig {
    /// Members (plus pending invitations) a tenant may have when its plan is not listed below.
    pub max_members: u64,
    /// Limits by plan (`[team.plans] free = 3`).
    pub plans: std::collections::BTreeMap<String, u64>,
}

impl Default for TeamConfig {
    fn default() -> Self {
        Self {
            max_members: 100,
            plans: Default::default(),
        }
    }
}

impl TeamConfig {
    /// The member limit of `plan`.
    pub fn limit_for(&self, plan: &str) -> u64 {
        self.plans.get(plan).copied().unwrap_or(self.max_members)
    }
}

/// Where engine work runs (`[queue]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueBackend {
    /// Engine calls run in the process that holds the session.
    InProcess,
    /// Engine jobs go through a Redis stream to `avb serve --role worker` processes.
    Redis,
}

/// `[queue]`: the work queue for engine jobs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// `in_process` (default) or `redis` (needs `[redis] url`).
    pub backend: QueueBackend,
    /// Prefix of the Redis keys: `<namespace>:jobs`, `<namespace>:dead`, `<namespace>:reply:*`
    /// (deployments sharing one Redis use different namespaces).
    pub namespace: String,
    /// A job a worker took but did not finish for this long is claimed by another worker.
    pub claim_idle_ms: u64,
    /// Deliveries after which a job goes to the dead-letter stream.
    pub max_deliveries: u32,
    /// Seconds a session waits for a queued job's result.
    pub job_timeout_secs: u64,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            backend: QueueBackend::InProcess,
            namespace: "avb:work".into(),
            claim_idle_ms: 30_000,
            max_deliveries: 3,
            job_timeout_secs: 60,
        }
    }
}

/// `[engines]`: voice engines reached over OpenAI-compatible HTTP.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnginesConfig {
    /// Base URL of a `/chat/completions` server (OpenAI, Groq, Ollama, llama.cpp), e.g.
    /// `http://127.0.0.1:8081/v1`. Unset: responses fail with `engine_unavailable`.
    pub llm_url: Option<String>,
    /// API key for the LLM server.
    pub llm_api_key: Option<Secret>,
    /// Model name sent to the LLM server.
    pub llm_model: String,
    /// Seconds to wait for the LLM's first byte.
    pub llm_timeout_secs: u64,
    /// Base URL of an `/audio/transcriptions` server (OpenAI, Groq, faster-whisper-server).
    pub stt_url: Option<String>,
    /// API key for the STT server.
    pub stt_api_key: Option<Secret>,
    /// Model name for transcription.
    pub stt_model: String,
    /// Seconds a transcription may take.
    pub stt_timeout_secs: u64,
    /// Base URL of an `/audio/speech` server streaming raw PCM (OpenAI, Kokoro servers).
    pub tts_url: Option<String>,
    /// API key for the TTS server.
    pub tts_api_key: Option<Secret>,
    /// Model name for speech.
    pub tts_model: String,
    /// Sample rate of the PCM the TTS server returns.
    pub tts_sample_rate: u32,
    /// Seconds to wait for the TTS's first byte.
    pub tts_timeout_secs: u64,
    /// The slowest and fastest speech the TTS engine renders itself (fastkokoro: 1.0 and 2.0);
    /// speeds outside are rendered at the nearest of them and time-stretched by the platform.
    pub tts_speed_min: f64,
    /// See `tts_speed_min`.
    pub tts_speed_max: f64,
    /// Voice names the TTS engine does not know, mapped to ones it does (e.g. OpenAI's
    /// `alloy` to Kokoro's `af_alloy`); names not in the map pass through unchanged.
    pub tts_voice_map: std::collections::BTreeMap<String, String>,
    /// Whether tenants may point their own LLM (voice profiles) at plain http, loopback or
    /// private addresses. Off by default: such URLs reach inside the server's network.
    pub byok_allow_private_urls: bool,
    /// Base URL of the voice lab (`scripts/engines.sh run voicelab`), which makes custom voices
    /// as blends of the TTS engine's stock voices. Unset: that method is not offered.
    pub voice_fit_url: Option<String>,
    /// Seconds the voice lab may search for a blend (5-300).
    pub voice_fit_budget_secs: u32,
    /// Base URL of an ElevenLabs-compatible voice-cloning API (`/v1/voices/add`,
    /// `/v1/text-to-speech/{id}/stream`). Unset: cloning is not offered.
    pub clone_url: Option<String>,
    /// API key for the cloning API (`xi-api-key`).
    pub clone_api_key: Option<Secret>,
    /// Speech model the cloning API speaks cloned voices with.
    pub clone_model: String,
}

impl Default for EnginesConfig {
    fn default() -> Self {
        Self {
            llm_url: None,
            llm_api_key: None,
            llm_model: "default".into(),
            llm_timeout_secs: 30,
            byok_allow_private_urls: false,
            tts_voice_map: Default::default(),
            stt_url: None,
            stt_api_key: None,
            stt_model: "whisper-1".into(),
            stt_timeout_secs: 30,
            tts_url: None,
            tts_api_key: None,
            tts_model: "tts-1".into(),
            tts_sample_rate: 24_000,
            tts_timeout_secs: 30,
            tts_speed_min: 0.25,
            tts_speed_max: 4.0,
            voice_fit_url: None,
            voice_fit_budget_secs: 120,
            clone_url: None,
            clone_api_key: None,
            clone_model: "eleven_multilingual_v2".into(),
        }
    }
}

/// `[realtime]`: the `/v1/realtime` gateway.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RealtimeConfig {
    /// Longest a session may last, in seconds (then `session_expired` and close 1000).
    pub max_session_secs: u64,
    /// Largest client frame accepted, in bytes (audio appends may carry 15 MiB).
    pub max_frame_bytes: usize,
    /// Responses a tenant may start per minute (per process).
    pub requests_per_minute: u64,
    /// LLM tokens a tenant may use per minute (per process).
    pub tokens_per_minute: u64,
    /// Budgets by tenant plan (`[realtime.plans.pro]`); plans not listed get the two above.
    pub plans: std::collections::BTreeMap<String, PlanLimits>,
    /// Seconds without a heartbeat after which a replica is taken for dead and any live replica
    /// closes its sessions with reason `lost` (replicas beat every quarter of this).
    pub lost_after_secs: u64,
    /// Seconds between checks of a live session's plan allowance (the period's audio minutes);
    /// a session that used it up ends.
    pub allowance_check_secs: u64,
    /// Answer a voice turn speculatively while the VAD waits out its final silence (the
    /// answer's events are held until the turn ends and dropped if speech resumes): faster
    /// replies for some engine work wasted on pauses inside a sentence.
    pub speculative_responses: bool,
}

/// A plan's realtime budget per minute.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PlanLimits {
    /// Responses per minute.
    pub requests_per_minute: u64,
    /// LLM tokens per minute.
    pub tokens_per_minute: u64,
}

impl Default for RealtimeConfig {
    fn default() -> Self {
        Self {
            max_session_secs: 3600,
            max_frame_bytes: 20 * 1024 * 1024,
            requests_per_minute: 600,
            tokens_per_minute: 1_000_000,
            plans: Default::default(),
            lost_after_secs: 60,
            allowance_check_secs: 15,
            speculative_responses: true,
        }
    }
}

/// `[server]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// HTTP listener address.
    pub listen: String,
    /// Prometheus listener address.
    pub metrics_listen: String,
    /// Public base URL for links.
    pub public_url: Option<String>,
    /// Local state directory.
    pub data_dir: PathBuf,
    /// Largest request body in bytes.
    pub body_limit_bytes: usize,
    /// Address of the optional TLS listener (same routes; `wss://` for the JS SDK).
    pub tls_listen: Option<String>,
    /// PEM certificate chain for the TLS listener.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for the TLS listener.
    pub tls_key: Option<PathBuf>,
    /// Generate (once, under `data_dir/tls/`) a self-signed certificate for localhost.
    pub tls_self_signed: bool,
    /// Reverse proxies (addresses or CIDR ranges) whose `X-Forwarded-For` names the client;
    /// from any other peer the header is ignored.
    pub trusted_proxies: Vec<crate::identity::throttle::Cidr>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            metrics_listen: "127.0.0.1:9464".into(),
            public_url: None,
            data_dir: PathBuf::from("./avb-data"),
            body_limit_bytes: 1024 * 1024,
            tls_listen: None,
            tls_cert: None,
            tls_key: None,
            tls_self_signed: false,
            trusted_proxies: Vec::new(),
        }
    }
}

/// `[database]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// Connection URL; SQLite under `data_dir` when unset.
    pub url: Option<Secret>,
    /// Pool size.
    pub max_connections: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: None,
            max_connections: 16,
        }
    }
}

/// Which identity provider authenticates users.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum IdentityProvider {
    /// Built-in accounts.
    #[default]
    Local,
    /// Keycloak access tokens.
    Keycloak,
}

/// `[identity]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdentityConfig {
    pub provider: IdentityProvider,
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_secs: u64,
    pub lockout_threshold: i32,
    pub lockout_minutes: i64,
    pub issuer: String,
    pub audience: String,
    /// Seconds a verified login session is reused without a database look-up (revocations
    /// still apply at once).
    pub session_cache_secs: u64,
    /// Password login attempts allowed per minute from one client address (429 beyond).
    pub login_attempts_per_ip_per_minute: u64,
    /// Password login attempts allowed per minute from one /24 (IPv4) or /64 (IPv6) network.
    pub login_attempts_per_network_per_minute: u64,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        Self {
            provider: IdentityProvider::Local,
            access_token_ttl_secs: 900,
            refresh_token_ttl_secs: 30 * 24 * 3600,
            lockout_threshold: 5,
            lockout_minutes: 15,
            issuer: "agentvoicebox".into(),
            audience: "avb-api".into(),
            session_cache_secs: 10,
            login_attempts_per_ip_per_minute: 20,
            login_attempts_per_network_per_minute: 60,
        }
    }
}

/// `[keycloak]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeycloakConfig {
    pub issuer: Option<String>,
    pub jwks_url: Option<String>,
    pub audience: String,
    pub roles_claim: String,
    pub tenant_claim: String,
    pub email_claim: String,
    pub jwks_cache_secs: u64,
    /// Base URL of the Keycloak server for the Admin REST API (e.g. `https://sso.example.com`);
    /// unset: taken from `issuer` (`<base>/realms/<realm>`).
    pub admin_url: Option<String>,
    /// The realm the users live in; unset: taken from `issuer`.
    pub realm: Option<String>,
    /// Client id of a confidential client with a service account holding the `realm-management`
    /// roles `view-users`, `query-users`, `manage-users` and `view-events`. Setting it with
    /// `admin_client_secret` lets the admin portal list, disable and reset Keycloak users.
    pub admin_client_id: Option<String>,
    /// That client's secret.
    pub admin_client_secret: Option<Secret>,
    /// The user attribute holding the user's tenant id (the attribute mapped to `tenant_claim`).
    pub tenant_attribute: String,
}

impl Default for KeycloakConfig {
    fn default() -> Self {
        Self {
            issuer: None,
            jwks_url: None,
            audience: "avb-api".into(),
            roles_claim: "realm_access.roles".into(),
            tenant_claim: "tenant_id".into(),
            email_claim: "email".into(),
            jwks_cache_secs: 300,
            admin_url: None,
            realm: None,
            admin_client_id: None,
            admin_client_secret: None,
            tenant_attribute: "tenant_id".into(),
        }
    }
}

/// `[oidc]`: portal sign-in through an OpenID Connect provider (Keycloak or any other), with the
/// authorization code flow and PKCE. The verified e-mail must belong to an AgentVoiceBox user.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OidcConfig {
    /// The provider's issuer URL; setting it turns OIDC sign-in on.
    pub issuer: Option<String>,
    /// This portal's client id at the provider.
    pub client_id: String,
    /// The client secret (sent with HTTP Basic at the token endpoint).
    pub client_secret: Option<Secret>,
    /// Where the provider sends the browser back (default `<public_url>/auth/oidc/callback`).
    pub redirect_url: Option<String>,
    /// Scopes requested.
    pub scopes: String,
    /// The sign-in button's text.
    pub label: String,
}

impl Default for OidcConfig {
    fn default() -> Self {
        Self {
            issuer: None,
            client_id: "agentvoicebox-portal".into(),
            client_secret: None,
            redirect_url: None,
            scopes: "openid email profile offline_access".into(),
            label: "Continue with single sign-on".into(),
        }
    }
}

/// `[security]`
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityConfig {
    pub secret_key: Option<Secret>,
}

/// `[api_keys]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiKeysConfig {
    pub cache_ttl_secs: u64,
}

impl Default for ApiKeysConfig {
    fn default() -> Self {
        Self { cache_ttl_secs: 60 }
    }
}

/// `[redis]`
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RedisConfig {
    pub url: Option<Secret>,
}

/// `[smtp]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    pub host: Option<String>,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub from: String,
    pub starttls: bool,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            host: None,
            port: 587,
            username: None,
            password: None,
            from: "AgentVoiceBox <no-reply@localhost>".into(),
            starttls: true,
        }
    }
}

/// `[policy]`
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    pub file: Option<PathBuf>,
}

/// `[log]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: String,
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: "text".into(),
            level: "info".into(),
        }
    }
}

/// A configuration that could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {0}")]
pub struct ConfigError(pub String);

impl Config {
    /// Loads defaults, then `file`, then `AVB_*` environment variables.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_from(file, Env::prefixed("AVB_").split("__"))
    }

    /// Loads with an explicit environment provider (tests).
    pub fn load_from(file: Option<&Path>, env: Env) -> Result<Self, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(f) = file {
            if !f.exists() {
                return Err(ConfigError(format!(
                    "config file {} does not exist",
                    f.display()
                )));
            }
            fig = fig.merge(Toml::file(f));
        }
        let cfg: Config = fig
            .merge(env)
            .extract()
            .map_err(|e| ConfigError(describe(e)))?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.identity.provider == IdentityProvider::Keycloak && self.keycloak.issuer.is_none() {
            return Err(ConfigError(
                "keycloak.issuer is required when identity.provider = \"keycloak\"".into(),
            ));
        }
        if self.server.tls_cert.is_some() != self.server.tls_key.is_some() {
            return Err(ConfigError(
                "server.tls_cert and server.tls_key must be set together".into(),
            ));
        }
        if self.server.tls_self_signed && self.server.tls_cert.is_some() {
            return Err(ConfigError(
                "use either server.tls_self_signed or server.tls_cert/tls_key, not both".into(),
            ));
        }
        if self.queue.backend == QueueBackend::Redis && self.redis.url.is_none() {
            return Err(ConfigError(
                "queue.backend = \"redis\" needs redis.url (AVB_REDIS__URL)".into(),
            ));
        }
        if self.queue.max_deliveries == 0 || self.queue.job_timeout_secs == 0 {
            return Err(ConfigError(
                "queue.max_deliveries and queue.job_timeout_secs must be at least 1".into(),
            ));
        }
        if self.identity.login_attempts_per_ip_per_minute == 0
            || self.identity.login_attempts_per_network_per_minute == 0
        {
            return Err(ConfigError(
                "identity.login_attempts_per_ip_per_minute and login_attempts_per_network_per_minute must be at least 1".into(),
            ));
        }
        let (lo, hi) = (self.engines.tts_speed_min, self.engines.tts_speed_max);
        if !(lo > 0.0 && lo <= 1.0 && hi >= 1.0 && hi.is_finite()) {
            return Err(ConfigError(
                "engines.tts_speed_min must be in (0, 1] and engines.tts_speed_max at least 1"
                    .into(),
            ));
        }
        if !(5..=300).contains(&self.engines.voice_fit_budget_secs) {
            return Err(ConfigError(
                "engines.voice_fit_budget_secs must be 5 to 300".into(),
            ));
        }
        if self.engines.clone_url.is_some() && self.engines.clone_api_key.is_none() {
            return Err(ConfigError(
                "engines.clone_url needs engines.clone_api_key".into(),
            ));
        }
        if self.stripe.secret_key.is_some() != self.stripe.publishable_key.is_some() {
            return Err(ConfigError(
                "stripe.secret_key and stripe.publishable_key must be set together".into(),
            ));
        }
        if self.stripe.secret_key.is_some() && self.lago.api_url.is_some() {
            return Err(ConfigError(
                "billing is either on Lago (with lago.payment_provider) or on Stripe directly: set [lago] or [stripe], not both".into(),
            ));
        }
        if let Some(p) = &self.lago.payment_provider
            && !["stripe", "adyen", "gocardless"].contains(&p.as_str())
        {
            return Err(ConfigError(
                "lago.payment_provider must be stripe, adyen or gocardless".into(),
            ));
        }
        if !self.ovos.bus_route.starts_with('/') || self.ovos.bus_route.contains('?') {
            return Err(ConfigError(
                "ovos.bus_route must be a path such as /core".into(),
            ));
        }
        if let Some((id, _)) = self
            .ovos
            .bus_tokens
            .iter()
            .find(|(_, t)| t.expose().len() < 16)
        {
            return Err(ConfigError(format!(
                "ovos.bus_tokens.{id} must be at least 16 characters"
            )));
        }
        if self.ovos.queue_depth == 0
            || self.ovos.max_messages_per_sec == 0
            || self.ovos.max_frame_bytes < 1024
            || !(50..=30_000).contains(&self.ovos.turn_deadline_ms)
        {
            return Err(ConfigError(
                "ovos.queue_depth and max_messages_per_sec must be at least 1, max_frame_bytes at least 1024, turn_deadline_ms 50..30000".into(),
            ));
        }
        let topic_ok = !self.kafka.topic.is_empty()
            && self.kafka.topic.len() <= 249
            && self
                .kafka
                .topic
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        if !topic_ok
            || !(1..=1000).contains(&self.kafka.partitions)
            || self.kafka.batch == 0
            || self.kafka.publish_every_ms == 0
            || self.kafka.timeout_ms < 100
        {
            return Err(ConfigError(
                "kafka.topic must be 1-249 of letters, digits, '.', '_', '-'; partitions 1..1000; batch and publish_every_ms at least 1; timeout_ms at least 100".into(),
            ));
        }
        if self.server.body_limit_bytes < 1024 {
            return Err(ConfigError(
                "server.body_limit_bytes must be at least 1024".into(),
            ));
        }
        Ok(())
    }

    /// The database URL (SQLite under `data_dir` by default).
    pub fn database_url(&self) -> String {
        match &self.database.url {
            Some(u) => u.expose().to_string(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.server.data_dir.join("avb.db").display()
            ),
        }
    }

    /// Base URL for links in e-mails and the setup URL.
    pub fn public_url(&self) -> String {
        self.server
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.server.listen))
            .trim_end_matches('/')
            .to_string()
    }
}

fn describe(e: figment::Error) -> String {
    e.into_iter()
        .map(|e| {
            let path = e.path.join(".");
            let hint = if path.is_empty() {
                String::new()
            } else {
                format!(" (at {path})")
            };
            let source = e
                .metadata
                .as_ref()
                .map(|m| format!(" from {}", m.name))
                .unwrap_or_default();
            format!("{}{hint}{source}", e.kind)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closure error type
mod tests {
    use super::*;

    #[test]
    fn defaults_then_env() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("AVB_SERVER__LISTEN", "127.0.0.1:9999");
            jail.set_env("AVB_DATABASE__URL", "postgres://x@localhost/db");
            let c = Config::load(None).map_err(|e| e.0)?;
            assert_eq!(c.server.listen, "127.0.0.1:9999");
            assert_eq!(c.database_url(), "postgres://x@localhost/db");
            assert!(!format!("{c:?}").contains("postgres://x"));
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_name() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "avb.toml",
                "[server]\nlisten = \"127.0.0.1:1\"\nlisten_port = 3\n",
            )?;
            let err = Config::load(Some(Path::new("avb.toml")))
                .err()
                .map(|e| e.0)
                .unwrap_or_default();
            assert!(err.contains("listen_port"), "{err}");
            jail.set_env("AVB_BOGUS__KEY", "1");
            let err = Config::load(None).err().map(|e| e.0).unwrap_or_default();
            assert!(err.contains("bogus"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn file_is_overridden_by_env_and_example_parses() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("avb.toml", "[server]\nlisten = \"127.0.0.1:1\"\n")?;
            jail.set_env("AVB_SERVER__LISTEN", "127.0.0.1:2");
            let c = Config::load(Some(Path::new("avb.toml"))).map_err(|e| e.0)?;
            assert_eq!(c.server.listen, "127.0.0.1:2");
            jail.create_file("example.toml", EXAMPLE)?;
            jail.clear_env();
            let c = Config::load(Some(Path::new("example.toml"))).map_err(|e| e.0)?;
            assert_eq!(c.server.listen, "127.0.0.1:8080");
            Ok(())
        });
    }
}

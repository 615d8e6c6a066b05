//! `AppContext`: everything a request needs, built once at startup and passed explicitly.

use crate::config::{Config, IdentityProvider};
use crate::error::{CoreError, CoreResult};
use crate::identity::keycloak::KeycloakVerifier;
use crate::identity::keycloak_admin::KeycloakAdmin;
use crate::identity::session_cache::SessionCache;
use crate::mail::Mailer;
use crate::policy::PolicyEngine;
use crate::sealing::Sealer;
use crate::services::key_cache::KeyVerifier;
use crate::services::live::LiveSessions;
use crate::services::revocation::RevocationBus;
use crate::token::{JwtKeys, random_alnum};
use avb_storage::Store;
use avb_storage::repos::secrets;
use std::sync::Arc;
use std::time::Duration;

/// Shared application state.
#[derive(Clone)]
pub struct AppContext {
    /// The database.
    pub store: Store,
    /// Configuration as loaded.
    pub config: Arc<Config>,
    /// The authorisation policy.
    pub policy: Arc<PolicyEngine>,
    /// Local JWT signing keys.
    pub jwt: Arc<JwtKeys>,
    /// Keycloak token verifier, when configured.
    pub keycloak: Option<Arc<KeycloakVerifier>>,
    /// Keycloak's Admin REST API for the admin portal's user pages, when the provider is
    /// Keycloak and `keycloak.admin_client_id` and `admin_client_secret` are set.
    pub keycloak_admin: Option<Arc<KeycloakAdmin>>,
    /// Portal sign-in through an OpenID Connect provider, when `[oidc] issuer` is set.
    pub oidc: Option<Arc<crate::identity::oidc::OidcClient>>,
    /// API-key verification cache.
    pub keys: Arc<KeyVerifier>,
    /// Verified login sessions.
    pub sessions: Arc<SessionCache>,
    /// Realtime sessions this process holds open.
    pub live: Arc<LiveSessions>,
    /// Cross-replica revocations of keys and sessions.
    pub revocations: Arc<RevocationBus>,
    /// Outgoing mail.
    pub mailer: Arc<Mailer>,
    /// Redis client, when configured.
    pub redis: Option<redis::Client>,
    /// Seals tenant secrets at rest (BYOK engine keys).
    pub sealer: Arc<Sealer>,
    /// Password login attempts per client address and network.
    pub login_limiter: Arc<crate::identity::throttle::LoginLimiter>,
    /// This process's id among the replicas (heartbeats; the holder of its realtime sessions).
    pub replica_id: Arc<str>,
    /// This app's metrics source, uptime history, log ring and alert state.
    pub monitor: Arc<crate::monitoring::Monitor>,
    /// The TTS engine as the voice studio uses it (catalogue, previews).
    pub voice: Arc<crate::services::voices::VoiceStudio>,
    /// The OVOS messagebus, when `[ovos] enabled` (`avb serve` puts it on its listener).
    pub ovos_bus: Option<avb_ovos::Bus>,
    /// The Kafka producer of platform events (`[kafka] brokers`); `None`: no Kafka.
    pub kafka: Option<Arc<crate::services::events::Publisher>>,
    /// The token this process's bus probe connects with (made at start, never configured).
    pub ovos_probe_token: Arc<str>,
    /// The token the supervised ovos-core connects with (`[ovos] core_command`), unless
    /// `bus_tokens` names one for it.
    pub ovos_core_token: Arc<str>,
    /// The knowledge solvers `[solvers]` configures (a persona picks and orders them).
    pub solvers: avb_voice::solvers::Solvers,
    /// The wake-word sidecar, when `[ovos] wakeword_url` is set.
    pub wakeword: Option<avb_voice::wakeword::WakeWordClient>,
}

impl AppContext {
    /// Connects to the database, runs migrations and loads keys and policy.
    pub async fn init(config: Config) -> CoreResult<Self> {
        let url = config.database_url();
        if url.starts_with("sqlite:") {
            std::fs::create_dir_all(&config.server.data_dir).map_err(|e| {
                CoreError::Internal(format!(
                    "cannot create data dir {}: {e}",
                    config.server.data_dir.display()
                ))
            })?;
        }
        let store = Store::connect(&url, config.database.max_connections).await?;
        store.migrate().await?;
        Self::with_store(config, store).await
    }

    /// Builds the context on an already-migrated store.
    pub async fn with_store(config: Config, store: Store) -> CoreResult<Self> {
        let policy = PolicyEngine::load(config.policy.file.as_deref())?;
        let tx = store.platform_tx(true).await?;
        let signing =
            secrets::get_or_create(&tx, "jwt_ed25519_pkcs8", JwtKeys::generate_pkcs8).await?;
        let hmac_key = match &config.security.secret_key {
            Some(k) => k.expose().to_string(),
            None => secrets::get_or_create(&tx, "api_key_hmac", || random_alnum(64)).await?,
        };
        // With `security.secret_key` set, sealed values never share the database with their key.
        let sealing_secret = match &config.security.secret_key {
            Some(k) => k.expose().to_string(),
            None => secrets::get_or_create(&tx, "sealing_key", || random_alnum(64)).await?,
        };
        tx.commit().await?;
        let sealer = Sealer::from_secret(sealing_secret.as_bytes())?;
        let jwt =
            JwtKeys::from_pkcs8(&signing, &config.identity.issuer, &config.identity.audience)?;
        let oidc =
            crate::identity::oidc::OidcClient::from_config(&config.oidc, &config.public_url())?
                .map(Arc::new);
        let keycloak = match config.identity.provider {
            IdentityProvider::Keycloak => {
                Some(Arc::new(KeycloakVerifier::new(config.keycloak.clone())?))
            }
            IdentityProvider::Local => None,
        };
        let keycloak_admin = match config.identity.provider {
            IdentityProvider::Keycloak => {
                KeycloakAdmin::from_config(&config.keycloak)?.map(Arc::new)
            }
            IdentityProvider::Local => None,
        };
        let redis = match &config.redis.url {
            Some(u) => Some(
                redis::Client::open(u.expose())
                    .map_err(|e| CoreError::Internal(format!("redis url: {e}")))?,
            ),
            None => None,
        };
        let keys = Arc::new(KeyVerifier::new(
            hmac_key.into_bytes(),
            Duration::from_secs(config.api_keys.cache_ttl_secs),
        ));
        let sessions = Arc::new(SessionCache::new(Duration::from_secs(
            config.identity.session_cache_secs,
        )));
        let live = Arc::new(LiveSessions::default());
        let revocations = Arc::new(RevocationBus::new(
            redis.clone(),
            keys.clone(),
            sessions.clone(),
            live.clone(),
        ));
        let mailer = Mailer::new(&config.smtp)?;
        let config_engines = config.engines.clone();
        let ovos_probe_token: Arc<str> = {
            use rand::Rng;
            let bytes: [u8; 24] = rand::thread_rng().r#gen();
            hex::encode(bytes).into()
        };
        let ovos_core_token: Arc<str> = {
            use rand::Rng;
            let bytes: [u8; 24] = rand::thread_rng().r#gen();
            hex::encode(bytes).into()
        };
        let ovos_bus = config.ovos.enabled.then(|| {
            let mut tokens: std::collections::HashMap<String, String> = config
                .ovos
                .bus_tokens
                .iter()
                .map(|(id, t)| (id.clone(), t.expose().to_string()))
                .collect();
            tokens.insert("avb-probe".into(), ovos_probe_token.to_string());
            if !config.ovos.core_command.is_empty() {
                tokens
                    .entry(config.ovos.core_client_id.clone())
                    .or_insert_with(|| ovos_core_token.to_string());
            }
            avb_ovos::Bus::new(avb_ovos::BusSettings {
                tokens,
                max_frame_bytes: config.ovos.max_frame_bytes,
                queue_depth: config.ovos.queue_depth,
                max_messages_per_sec: config.ovos.max_messages_per_sec,
            })
        });
        let solvers = crate::services::solvers::build(&config.solvers);
        let wakeword = config.ovos.wakeword_url.as_deref().and_then(|u| {
            avb_voice::wakeword::WakeWordClient::new(u, std::time::Duration::from_secs(30))
                .map_err(
                    |e| tracing::error!(error = %e, "the wake-word sidecar client was not set up"),
                )
                .ok()
        });
        let kafka = crate::services::events::Publisher::new(&config.kafka);
        Ok(Self {
            ovos_bus,
            kafka,
            ovos_probe_token,
            ovos_core_token,
            solvers,
            wakeword,
            store,
            config: Arc::new(config),
            policy: Arc::new(policy),
            jwt: Arc::new(jwt),
            keycloak,
            keycloak_admin,
            oidc,
            keys,
            sessions,
            live,
            revocations,
            mailer: Arc::new(mailer),
            login_limiter: Arc::new(crate::identity::throttle::LoginLimiter::new(redis.clone())),
            redis,
            sealer: Arc::new(sealer),
            replica_id: uuid::Uuid::now_v7().to_string().into(),
            monitor: Arc::default(),
            voice: Arc::new(crate::services::voices::VoiceStudio::from_config(
                &config_engines,
            )),
        })
    }

    /// Probes Redis (when configured) with latency.
    pub async fn redis_ping(&self) -> Option<Result<Duration, String>> {
        let client = self.redis.as_ref()?;
        let start = std::time::Instant::now();
        let res = async {
            let mut c = client.get_multiplexed_async_connection().await?;
            redis::cmd("PING").query_async::<String>(&mut c).await
        }
        .await;
        Some(res.map(|_| start.elapsed()).map_err(|e| e.to_string()))
    }
}

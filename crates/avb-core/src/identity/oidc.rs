//! OpenID Connect sign-in for the portal (authorization code flow with PKCE, RFC 7636): the
//! provider's discovery document, the authorization URL, the code exchange with the client
//! secret, ID-token verification against the provider's JWKS (issuer, audience, expiry, nonce),
//! refresh, and RP-initiated logout.

use crate::config::OidcConfig;
use crate::error::{CoreError, CoreResult};
use crate::identity::jwks::Jwks;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::time::Duration;
use tokio::sync::OnceCell;

/// The parts of the discovery document we use.
#[derive(Debug, Clone, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    #[serde(default)]
    pub end_session_endpoint: Option<String>,
}

/// Tokens from the token endpoint.
#[derive(Debug, Clone, Deserialize)]
pub struct ProviderTokens {
    pub id_token: Option<String>,
    pub access_token: String,
    #[serde(default)]
    pub refresh_token: Option<String>,
}

/// Who the provider says signed in.
#[derive(Debug, Clone)]
pub struct VerifiedIdentity {
    pub subject: String,
    pub email: String,
    pub name: Option<String>,
}

/// The PKCE pair: the verifier kept server side, the S256 challenge sent to the provider.
pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

impl Pkce {
    /// A fresh random verifier (64 characters) and its challenge.
    pub fn new() -> Self {
        let verifier = crate::token::random_alnum(64);
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        Self {
            verifier,
            challenge,
        }
    }
}

impl Default for Pkce {
    fn default() -> Self {
        Self::new()
    }
}

/// A configured provider.
pub struct OidcClient {
    cfg: OidcConfig,
    issuer: String,
    redirect_url: String,
    http: reqwest::Client,
    discovery: OnceCell<(Discovery, Jwks)>,
}

impl OidcClient {
    /// The client for `[oidc]`, or `None` when no issuer is configured.
    pub fn from_config(cfg: &OidcConfig, public_url: &str) -> CoreResult<Option<Self>> {
        let Some(issuer) = cfg.issuer.clone() else {
            return Ok(None);
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| CoreError::Internal(e.to_string()))?;
        Ok(Some(Self {
            redirect_url: cfg
                .redirect_url
                .clone()
                .unwrap_or_else(|| format!("{public_url}/auth/oidc/callback")),
            issuer: issuer.trim_end_matches('/').to_string(),
            cfg: cfg.clone(),
            http,
            discovery: OnceCell::new(),
        }))
    }

    /// The button text of the login page.
    pub fn label(&self) -> &str {
        &self.cfg.label
    }

    async fn provider(&self) -> CoreResult<&(Discovery, Jwks)> {
        self.discovery
            .get_or_try_init(|| async {
                let url = format!("{}/.well-known/openid-configuration", self.issuer);
                let d: Discovery = self
                    .http
                    .get(&url)
                    .send()
                    .await
                    .and_then(|r| r.error_for_status())
                    .map_err(|e| CoreError::Internal(format!("oidc discovery: {e}")))?
                    .json()
                    .await
                    .map_err(|e| CoreError::Internal(format!("oidc discovery: {e}")))?;
                if d.issuer.trim_end_matches('/') != self.issuer {
                    return Err(CoreError::Internal(format!(
                        "oidc discovery names issuer {} instead of {}",
                        d.issuer, self.issuer
                    )));
                }
                let jwks = Jwks::new(
                    d.jwks_uri.clone(),
                    Duration::from_secs(300),
                    self.http.clone(),
                );
                Ok((d, jwks))
            })
            .await
    }

    /// Where to send the browser to sign in.
    pub async fn authorize_url(&self, state: &str, nonce: &str, pkce: &Pkce) -> CoreResult<String> {
        let (d, _) = self.provider().await?;
        let mut url = url::Url::parse(&d.authorization_endpoint)
            .map_err(|_| CoreError::Internal("oidc authorization endpoint is not a URL".into()))?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.cfg.client_id)
            .append_pair("redirect_uri", &self.redirect_url)
            .append_pair("scope", &self.cfg.scopes)
            .append_pair("state", state)
            .append_pair("nonce", nonce)
            .append_pair("code_challenge", &pkce.challenge)
            .append_pair("code_challenge_method", "S256");
        Ok(url.to_string())
    }

    async fn token_request(&self, form: &[(&str, &str)]) -> CoreResult<ProviderTokens> {
        let (d, _) = self.provider().await?;
        let mut req = self.http.post(&d.token_endpoint).form(form);
        req = match &self.cfg.client_secret {
            Some(secret) => req.basic_auth(&self.cfg.client_id, Some(secret.expose())),
            None => req,
        };
        let res = req
            .send()
            .await
            .map_err(|e| CoreError::Internal(format!("oidc token endpoint: {e}")))?;
        if !res.status().is_success() {
            return Err(CoreError::Unauthorized("the provider refused the grant"));
        }
        res.json()
            .await
            .map_err(|e| CoreError::Internal(format!("oidc token response: {e}")))
    }

    /// Exchanges an authorization code (with its PKCE verifier) for tokens.
    pub async fn exchange(&self, code: &str, verifier: &str) -> CoreResult<ProviderTokens> {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.redirect_url.as_str()),
            ("code_verifier", verifier),
        ];
        if self.cfg.client_secret.is_none() {
            form.push(("client_id", self.cfg.client_id.as_str()));
        }
        self.token_request(&form).await
    }

    /// Uses the provider's refresh token; fails when the provider ended the session.
    pub async fn refresh(&self, refresh_token: &str) -> CoreResult<ProviderTokens> {
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ];
        if self.cfg.client_secret.is_none() {
            form.push(("client_id", self.cfg.client_id.as_str()));
        }
        self.token_request(&form).await
    }

    /// Verifies an ID token: signature by the provider's key, issuer, audience (this client),
    /// expiry, and the nonce of this sign-in; the e-mail must be verified.
    pub async fn verify_id_token(
        &self,
        id_token: &str,
        nonce: &str,
    ) -> CoreResult<VerifiedIdentity> {
        let (d, jwks) = self.provider().await?;
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        v.set_issuer(&[d.issuer.as_str()]);
        v.set_audience(&[self.cfg.client_id.as_str()]);
        v.leeway = 30;
        let claims = jwks.verify(id_token, v).await?;
        let text = |k: &str| claims.get(k).and_then(|x| x.as_str()).map(str::to_string);
        if text("nonce").as_deref() != Some(nonce) {
            return Err(CoreError::Unauthorized(
                "the ID token is not for this sign-in",
            ));
        }
        let email = text("email").ok_or(CoreError::Unauthorized(
            "the provider did not share an e-mail address",
        ))?;
        if claims.get("email_verified").and_then(|x| x.as_bool()) != Some(true) {
            return Err(CoreError::Unauthorized(
                "the provider has not verified this e-mail address",
            ));
        }
        Ok(VerifiedIdentity {
            subject: text("sub").unwrap_or_default(),
            email,
            name: text("name"),
        })
    }

    /// Verifies a back-channel logout token (OpenID Connect Back-Channel Logout 1.0, section
    /// 2.6): signed by the provider, issued by it, for this client, carrying the
    /// back-channel-logout event and no nonce. Returns its subject and session id.
    pub async fn verify_logout_token(
        &self,
        token: &str,
    ) -> CoreResult<(Option<String>, Option<String>)> {
        let (d, jwks) = self.provider().await?;
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        v.set_issuer(&[d.issuer.as_str()]);
        v.set_audience(&[self.cfg.client_id.as_str()]);
        v.set_required_spec_claims(&["iss", "aud", "iat"]);
        v.leeway = 30;
        let claims = jwks.verify(token, v).await?;
        let event = claims
            .get("events")
            .and_then(|e| e.get("http://schemas.openid.net/event/backchannel-logout"));
        if event.is_none() || claims.get("nonce").is_some() {
            return Err(CoreError::Unauthorized("not a back-channel logout token"));
        }
        let text = |k: &str| claims.get(k).and_then(|x| x.as_str()).map(str::to_string);
        let (sub, sid) = (text("sub"), text("sid"));
        if sub.is_none() && sid.is_none() {
            return Err(CoreError::Unauthorized("the logout token names no one"));
        }
        Ok((sub, sid))
    }

    /// The provider's logout URL for this session, if it has one.
    pub async fn end_session_url(
        &self,
        id_token: &str,
        post_logout_redirect: &str,
    ) -> CoreResult<Option<String>> {
        let (d, _) = self.provider().await?;
        let Some(end) = &d.end_session_endpoint else {
            return Ok(None);
        };
        let mut url = url::Url::parse(end)
            .map_err(|_| CoreError::Internal("oidc end-session endpoint is not a URL".into()))?;
        url.query_pairs_mut()
            .append_pair("id_token_hint", id_token)
            .append_pair("post_logout_redirect_uri", post_logout_redirect)
            .append_pair("client_id", &self.cfg.client_id);
        Ok(Some(url.to_string()))
    }
}

//! Card payments straight through Stripe on the local ledger (B6.6, when `[stripe]` keys are
//! set and Lago is not): a Stripe customer per tenant, cards saved with a SetupIntent confirmed
//! by Stripe Elements in the browser (card details go to Stripe only), finalised invoices
//! charged off-session to the default card (one idempotency key per attempt), and Stripe's
//! `payment_intent.*` events (signature-verified, deduplicated) keeping invoices in step.
//! Requests are form-encoded with Bearer auth, as Stripe's API takes them; no redirects.

use crate::audit;
use crate::context::AppContext;
use crate::error::{CoreError, CoreResult};
use crate::scope::Scope;
use crate::services::projects::tenant_of;
use avb_domain::{Permission, TenantId, ValidationError};
use avb_storage::repos::{
    audit as audit_repo, invoices as invoice_repo, payments as pay_repo, tenants,
};
use serde::Serialize;
use serde_json::Value;
use std::time::Duration;
use uuid::Uuid;

/// Whether Stripe payments are configured (and billing is on the local ledger).
pub fn enabled(ctx: &AppContext) -> bool {
    ctx.config.stripe.secret_key.is_some()
        && ctx.config.stripe.publishable_key.is_some()
        && crate::services::billing_provider::name(ctx) == "local"
}

/// The origin (`scheme://host[:port]`) Stripe.js loads from; the payment page's CSP adds it.
pub fn js_origin(ctx: &AppContext) -> Option<String> {
    let u = reqwest::Url::parse(&ctx.config.stripe.js_url).ok()?;
    let origin = u.origin();
    origin.is_tuple().then(|| origin.ascii_serialization())
}

/// A saved card as the payment page lists it (no number beyond the last four digits).
#[derive(Debug, Clone, Serialize)]
pub struct Card {
    pub id: String,
    pub brand: String,
    pub last4: String,
    pub expires: String,
    pub default: bool,
}

/// What the payment page needs: Stripe.js settings, a fresh SetupIntent and the saved cards.
#[derive(Debug, Clone, Serialize)]
pub struct PaymentSetup {
    pub publishable_key: String,
    pub js_url: String,
    pub client_secret: String,
    pub cards: Vec<Card>,
}

struct Stripe {
    base: String,
    key: String,
    http: reqwest::Client,
}

impl Stripe {
    fn from_config(ctx: &AppContext) -> CoreResult<Self> {
        if !enabled(ctx) {
            return Err(CoreError::Conflict(
                "card payments through Stripe are not configured ([stripe])".into(),
            ));
        }
        let key = ctx
            .config
            .stripe
            .secret_key
            .as_ref()
            .map(|k| k.expose().to_string())
            .unwrap_or_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| CoreError::Internal(e.to_string()))?;
        Ok(Self {
            base: ctx.config.stripe.api_url.trim_end_matches('/').to_string(),
            key,
            http,
        })
    }

    /// Sends a request; the JSON body on success, else Stripe's `error` object as `Err(status,
    /// error)` so callers can tell a declined card (402) from a broken request.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        form: &[(&str, String)],
        idempotency_key: Option<&str>,
    ) -> CoreResult<Result<Value, (u16, Value)>> {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(&self.key);
        if method == reqwest::Method::GET {
            req = req.query(form);
        } else {
            req = req.form(form);
        }
        if let Some(k) = idempotency_key {
            req = req.header("Idempotency-Key", k);
        }
        let res = req
            .send()
            .await
            .map_err(|e| CoreError::Unavailable(format!("Stripe could not be reached: {e}")))?;
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            Ok(Ok(body))
        } else {
            Ok(Err((status.as_u16(), body["error"].clone())))
        }
    }

    /// [`Self::call`] where any Stripe error is a failure of ours.
    async fn ok(
        &self,
        method: reqwest::Method,
        path: &str,
        form: &[(&str, String)],
    ) -> CoreResult<Value> {
        match self.call(method.clone(), path, form, None).await? {
            Ok(v) => Ok(v),
            Err((status, e)) => Err(CoreError::Internal(format!(
                "Stripe answered {status} to {method} {path}: {}",
                e["message"].as_str().unwrap_or("no message")
            ))),
        }
    }
}

/// The tenant's Stripe customer, made on first use (named and e-mailed as the tenant, with the
/// tenant id in its metadata).
async fn customer(ctx: &AppContext, stripe: &Stripe, tenant: TenantId) -> CoreResult<String> {
    let tx = ctx.store.tenant_tx(tenant, false).await?;
    let known = pay_repo::account(&tx, "stripe").await?;
    let t = tenants::get(&tx, tenant).await?;
    tx.commit().await?;
    if let Some(id) = known {
        return Ok(id);
    }
    let c = stripe
        .ok(
            reqwest::Method::POST,
            "/v1/customers",
            &[
                ("name", t.name.clone()),
                ("email", t.billing_email.clone()),
                ("metadata[tenant_id]", tenant.as_uuid().to_string()),
            ],
        )
        .await?;
    let id = c["id"]
        .as_str()
        .filter(|id| id.starts_with("cus_"))
        .ok_or_else(|| CoreError::Internal("Stripe returned no customer id".into()))?
        .to_string();
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    if let Some(existing) = pay_repo::account(&tx, "stripe").await? {
        // Another request made one at the same time; keep the first.
        return Ok(existing);
    }
    pay_repo::set_account(&tx, "stripe", &id).await?;
    tx.commit().await?;
    Ok(id)
}

async fn cards(stripe: &Stripe, customer: &str) -> CoreResult<Vec<Card>> {
    let c = stripe
        .ok(
            reqwest::Method::GET,
            &format!("/v1/customers/{customer}"),
            &[],
        )
        .await?;
    let default = c["invoice_settings"]["default_payment_method"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let list = stripe
        .ok(
            reqwest::Method::GET,
            &format!("/v1/customers/{customer}/payment_methods"),
            &[("type", "card".into()), ("limit", "20".into())],
        )
        .await?;
    Ok(list["data"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|pm| {
            let id = pm["id"].as_str()?.to_string();
            let card = &pm["card"];
            Some(Card {
                default: id == default,
                id,
                brand: card["brand"].as_str().unwrap_or("card").to_string(),
                last4: card["last4"].as_str().unwrap_or("????").to_string(),
                expires: format!(
                    "{:02}/{}",
                    card["exp_month"].as_u64().unwrap_or(0),
                    card["exp_year"].as_u64().unwrap_or(0)
                ),
            })
        })
        .collect())
}

/// A fresh SetupIntent for adding a card, with the cards already saved (requires
/// `billing:manage`).
pub async fn setup(ctx: &AppContext, scope: &Scope) -> CoreResult<PaymentSetup> {
    let tenant = tenant_of(scope, Permission::BillingManage)?;
    ctx.policy
        .authorize(scope, Permission::BillingManage, Some(tenant))?;
    let stripe = Stripe::from_config(ctx)?;
    let customer = customer(ctx, &stripe, tenant).await?;
    let si = stripe
        .ok(
            reqwest::Method::POST,
            "/v1/setup_intents",
            &[
                ("customer", customer.clone()),
                ("usage", "off_session".into()),
                ("payment_method_types[]", "card".into()),
                ("metadata[tenant_id]", tenant.as_uuid().to_string()),
            ],
        )
        .await?;
    let client_secret = si["client_secret"]
        .as_str()
        .ok_or_else(|| CoreError::Internal("Stripe returned no client secret".into()))?
        .to_string();
    Ok(PaymentSetup {
        publishable_key: ctx
            .config
            .stripe
            .publishable_key
            .clone()
            .unwrap_or_default(),
        js_url: ctx.config.stripe.js_url.clone(),
        client_secret,
        cards: cards(&stripe, &customer).await?,
    })
}

/// Finishes adding a card after Stripe.js returns from confirming `setup_intent`: the intent
/// must belong to the tenant's customer and have succeeded; its card becomes the default one
/// invoices are charged to (requires `billing:manage`; audited).
pub async fn card_added(ctx: &AppContext, scope: &Scope, setup_intent: &str) -> CoreResult<Card> {
    let tenant = tenant_of(scope, Permission::BillingManage)?;
    ctx.policy
        .authorize(scope, Permission::BillingManage, Some(tenant))?;
    if !setup_intent.starts_with("seti_")
        || setup_intent.len() > 100
        || !setup_intent
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(ValidationError::new("setup_intent", "is not a SetupIntent id").into());
    }
    let stripe = Stripe::from_config(ctx)?;
    let customer = customer(ctx, &stripe, tenant).await?;
    let si = match stripe
        .call(
            reqwest::Method::GET,
            &format!("/v1/setup_intents/{setup_intent}"),
            &[],
            None,
        )
        .await?
    {
        Ok(si) => si,
        Err((404, _)) => return Err(CoreError::NotFound),
        Err((s, e)) => {
            return Err(CoreError::Internal(format!(
                "Stripe answered {s}: {}",
                e["message"].as_str().unwrap_or("no message")
            )));
        }
    };
    // Another tenant's intent is as good as missing.
    if si["customer"].as_str() != Some(customer.as_str()) {
        return Err(CoreError::NotFound);
    }
    if si["status"] != "succeeded" {
        return Err(CoreError::Conflict(format!(
            "the card was not saved (Stripe says {}); try again",
            si["status"].as_str().unwrap_or("unknown")
        )));
    }
    let pm = si["payment_method"]
        .as_str()
        .ok_or_else(|| CoreError::Internal("the SetupIntent has no payment method".into()))?
        .to_string();
    stripe
        .ok(
            reqwest::Method::POST,
            &format!("/v1/customers/{customer}"),
            &[("invoice_settings[default_payment_method]", pm.clone())],
        )
        .await?;
    let card = cards(&stripe, &customer)
        .await?
        .into_iter()
        .find(|c| c.id == pm)
        .ok_or(CoreError::NotFound)?;
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    audit_repo::append(
        &tx,
        audit::entry(
            scope,
            Some(tenant),
            "payment_method.add",
            "payment_method",
            &pm,
            serde_json::json!({"brand": card.brand, "last4": card.last4}),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(card)
}

/// Removes a saved card from the tenant's Stripe customer (requires `billing:manage`; audited).
pub async fn remove_card(ctx: &AppContext, scope: &Scope, card: &str) -> CoreResult<()> {
    let tenant = tenant_of(scope, Permission::BillingManage)?;
    ctx.policy
        .authorize(scope, Permission::BillingManage, Some(tenant))?;
    let stripe = Stripe::from_config(ctx)?;
    let customer = customer(ctx, &stripe, tenant).await?;
    let Some(c) = cards(&stripe, &customer)
        .await?
        .into_iter()
        .find(|c| c.id == card)
    else {
        return Err(CoreError::NotFound);
    };
    stripe
        .ok(
            reqwest::Method::POST,
            &format!("/v1/payment_methods/{card}/detach"),
            &[],
        )
        .await?;
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    audit_repo::append(
        &tx,
        audit::entry(
            scope,
            Some(tenant),
            "payment_method.remove",
            "payment_method",
            card,
            serde_json::json!({"brand": c.brand, "last4": c.last4}),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Charges an unpaid local invoice to the tenant's default card, off-session, and records the
/// outcome (paid, or failed with Stripe's reason). Does nothing when Stripe is off, the tenant
/// has no default card or nothing is due. `attempt` makes the idempotency key, so a repeated
/// call for the same attempt charges once.
pub async fn charge_invoice(
    ctx: &AppContext,
    tenant: TenantId,
    invoice: Uuid,
    attempt: u32,
) -> CoreResult<Option<String>> {
    if !enabled(ctx) {
        return Ok(None);
    }
    let stripe = Stripe::from_config(ctx)?;
    let tx = ctx.store.tenant_tx(tenant, false).await?;
    let inv = invoice_repo::get(&tx, invoice).await?;
    let customer = pay_repo::account(&tx, "stripe").await?;
    tx.commit().await?;
    if inv.status != "finalized" || inv.payment_status == "paid" || inv.total_minor <= 0 {
        return Ok(None);
    }
    let Some(customer) = customer else {
        return Ok(None);
    };
    let c = stripe
        .ok(
            reqwest::Method::GET,
            &format!("/v1/customers/{customer}"),
            &[],
        )
        .await?;
    let Some(pm) = c["invoice_settings"]["default_payment_method"].as_str() else {
        return Ok(None);
    };
    let key = format!("avb-invoice-{invoice}-{attempt}");
    let outcome = stripe
        .call(
            reqwest::Method::POST,
            "/v1/payment_intents",
            &[
                ("amount", inv.total_minor.to_string()),
                ("currency", inv.currency.to_ascii_lowercase()),
                ("customer", customer.clone()),
                ("payment_method", pm.to_string()),
                ("off_session", "true".into()),
                ("confirm", "true".into()),
                ("description", format!("Invoice {}", inv.number)),
                ("metadata[invoice_id]", invoice.to_string()),
                ("metadata[tenant_id]", tenant.as_uuid().to_string()),
            ],
            Some(&key),
        )
        .await?;
    let (status, reference, error) = match outcome {
        Ok(pi) if pi["status"] == "succeeded" => ("paid", pi["id"].clone(), String::new()),
        Ok(pi) => (
            "pending",
            pi["id"].clone(),
            format!(
                "the card needs the customer's action (Stripe: {})",
                pi["status"].as_str().unwrap_or("unknown")
            ),
        ),
        Err((402, e)) => (
            "failed",
            e["payment_intent"]["id"].clone(),
            e["message"]
                .as_str()
                .unwrap_or("the card was declined")
                .to_string(),
        ),
        Err((s, e)) => {
            return Err(CoreError::Internal(format!(
                "Stripe answered {s} to a charge: {}",
                e["message"].as_str().unwrap_or("no message")
            )));
        }
    };
    let reference = reference.as_str().map(str::to_string);
    apply_outcome(ctx, tenant, invoice, status, reference.as_deref(), &error).await?;
    Ok(Some(status.to_string()))
}

/// Sets the invoice's payment status from a Stripe outcome and records the attempt (a voided or
/// already-paid invoice keeps its state).
async fn apply_outcome(
    ctx: &AppContext,
    tenant: TenantId,
    invoice: Uuid,
    status: &str,
    reference: Option<&str>,
    error: &str,
) -> CoreResult<()> {
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    let inv = invoice_repo::get(&tx, invoice).await?;
    if inv.status == "voided" || inv.payment_status == "paid" {
        return Ok(());
    }
    let inv = invoice_repo::set_payment(&tx, inv, status, error).await?;
    crate::services::payments::record(&tx, &inv, "stripe", reference, error).await?;
    if status == "failed" {
        crate::services::webhooks::emit(
            &tx,
            "invoice.payment_failed",
            serde_json::json!({"id": inv.id, "number": inv.number, "error": error}),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// What became of a Stripe event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    Applied,
    Duplicate,
    Ignored,
}

/// Whether `header` (`Stripe-Signature: t=<unix>,v1=<hex>`) signs `body` under `secret`
/// within five minutes of `now` (Stripe's scheme: HMAC-SHA256 of `"<t>.<body>"`).
pub fn verify_signature(secret: &str, header: &str, body: &[u8], now: i64) -> bool {
    let mut t = None;
    let mut sigs = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => sigs.extend(hex::decode(v).ok()),
            _ => {}
        }
    }
    let Some(t) = t else { return false };
    if (now - t).abs() > 300 {
        return false;
    }
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let mut msg = format!("{t}.").into_bytes();
    msg.extend_from_slice(body);
    sigs.iter()
        .any(|s| ring::hmac::verify(&key, &msg, s).is_ok())
}

/// Stripe's `Stripe-Signature` header for `body` at `t` (for the tests' event sender).
pub fn sign(secret: &str, body: &[u8], t: i64) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let mut msg = format!("{t}.").into_bytes();
    msg.extend_from_slice(body);
    format!("t={t},v1={}", hex::encode(ring::hmac::sign(&key, &msg)))
}

/// Verifies, deduplicates (on the event id) and applies one Stripe event:
/// `payment_intent.succeeded` marks the invoice paid, `payment_intent.payment_failed` failed
/// with Stripe's reason. Other events are acknowledged.
pub async fn receive(
    ctx: &AppContext,
    signature: Option<&str>,
    body: &[u8],
) -> CoreResult<Received> {
    let Some(secret) = &ctx.config.stripe.webhook_secret else {
        return Err(CoreError::Unauthorized(
            "Stripe events are not configured (stripe.webhook_secret)",
        ));
    };
    let now = chrono::Utc::now().timestamp();
    if !signature.is_some_and(|s| verify_signature(secret.expose(), s, body, now)) {
        return Err(CoreError::Unauthorized(
            "the Stripe-Signature does not match (or is older than five minutes)",
        ));
    }
    let event: Value =
        serde_json::from_slice(body).map_err(|_| ValidationError::new("body", "is not JSON"))?;
    let id = event["id"]
        .as_str()
        .filter(|id| id.starts_with("evt_") && id.len() <= 200)
        .ok_or_else(|| ValidationError::new("id", "is not a Stripe event id"))?;
    let kind = event["type"].as_str().unwrap_or_default();
    let key = format!("stripe:{id}");
    {
        let tx = ctx.store.platform_tx(false).await?;
        let seen = invoice_repo::webhook_seen(&tx, &key).await?;
        tx.commit().await?;
        if seen {
            return Ok(Received::Duplicate);
        }
    }
    let pi = &event["data"]["object"];
    let outcome = match kind {
        "payment_intent.succeeded" | "payment_intent.payment_failed" => {
            let (Some(invoice), Some(customer)) = (
                pi["metadata"]["invoice_id"]
                    .as_str()
                    .and_then(|s| s.parse::<Uuid>().ok()),
                pi["customer"].as_str(),
            ) else {
                return Ok(Received::Ignored);
            };
            // The tenant comes from our own customer record, never from the event's metadata.
            let tx = ctx.store.platform_tx(false).await?;
            let tenant = pay_repo::tenant_of_account(&tx, "stripe", customer).await?;
            tx.commit().await?;
            let Some(tenant) = tenant else {
                return Ok(Received::Ignored);
            };
            let (status, error) = if kind == "payment_intent.succeeded" {
                ("paid", String::new())
            } else {
                (
                    "failed",
                    pi["last_payment_error"]["message"]
                        .as_str()
                        .unwrap_or("the payment failed (Stripe)")
                        .to_string(),
                )
            };
            match apply_outcome(
                ctx,
                TenantId(tenant),
                invoice,
                status,
                pi["id"].as_str(),
                &error,
            )
            .await
            {
                Err(CoreError::NotFound) => Received::Ignored,
                r => r.map(|()| Received::Applied)?,
            }
        }
        _ => Received::Ignored,
    };
    let tx = ctx.store.platform_tx(true).await?;
    invoice_repo::first_webhook(&tx, &key, kind).await?;
    tx.commit().await?;
    Ok(outcome)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_only_for_the_same_secret_body_and_a_recent_time() {
        let h = sign("whsec_a", b"{}", 1_000);
        assert!(verify_signature("whsec_a", &h, b"{}", 1_100));
        assert!(!verify_signature("whsec_b", &h, b"{}", 1_100));
        assert!(!verify_signature("whsec_a", &h, b"{ }", 1_100));
        assert!(!verify_signature("whsec_a", &h, b"{}", 1_400));
        assert!(!verify_signature("whsec_a", "v1=00", b"{}", 1_000));
    }
}

//! Lago's webhooks (spec/integrations.md A.9): verified as HMAC (`X-Lago-Signature` = base64 of
//! HMAC-SHA256 of the raw body with the organisation's HMAC key, compared in constant time) or
//! as JWT (RS256 with Lago's public key, `iss` = Lago's API URL, `data` = the raw body),
//! deduplicated on `X-Lago-Unique-Key` (a retried webhook changes nothing twice), and applied
//! to our mirror of Lago's invoices: created, payment status, failures, voids. Lago is the
//! source of truth for amounts and payment status; pages read the mirror, never Lago.

use crate::context::AppContext;
use crate::error::{CoreError, CoreResult};
use avb_domain::TenantId;
use avb_storage::repos::invoices::{self as repo, NewInvoice};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

/// What became of a webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    Applied,
    /// Seen before (same unique key): nothing changed.
    Duplicate,
    /// Not about invoices; acknowledged.
    Ignored,
}

/// Whether `signature` is Lago's HMAC of `body` under `key`.
pub fn verify(key: &str, body: &[u8], signature: &str) -> bool {
    let Ok(sig) = B64.decode(signature.trim()) else {
        return false;
    };
    let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key.as_bytes());
    ring::hmac::verify(&k, body, &sig).is_ok()
}

/// Whether `token` is Lago's RS256 JWT of `body`: signed by the key in `public_pem`, issued
/// by `issuer` (Lago's API URL; unchecked when empty) and carrying the raw body as `data`.
pub fn verify_jwt(public_pem: &str, issuer: &str, body: &[u8], token: &str) -> bool {
    let Ok(key) = jsonwebtoken::DecodingKey::from_rsa_pem(public_pem.as_bytes()) else {
        return false;
    };
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    // Lago's webhook JWTs carry no expiry; `data` is compared with the body instead.
    v.validate_exp = false;
    v.required_spec_claims.clear();
    if !issuer.is_empty() {
        v.set_issuer(&[issuer.trim_end_matches('/'), issuer]);
    }
    let Ok(t) = jsonwebtoken::decode::<Value>(token.trim(), &key, &v) else {
        return false;
    };
    t.claims["data"].as_str().map(str::as_bytes) == Some(body)
}

/// Lago's signature of `body` under `key` (for the tests' webhook sender).
pub fn sign(key: &str, body: &[u8]) -> String {
    let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key.as_bytes());
    B64.encode(ring::hmac::sign(&k, body).as_ref())
}

/// Verifies, deduplicates and applies one webhook.
pub async fn receive(
    ctx: &AppContext,
    algorithm: Option<&str>,
    signature: Option<&str>,
    unique_key: Option<&str>,
    body: &[u8],
) -> CoreResult<Received> {
    match algorithm.map(str::to_ascii_lowercase).as_deref() {
        Some("hmac") => {
            let Some(key) = &ctx.config.lago.webhook_hmac_key else {
                return Err(CoreError::Unauthorized(
                    "HMAC-signed Lago webhooks are not configured (lago.webhook_hmac_key)",
                ));
            };
            if !signature.is_some_and(|s| verify(key.expose(), body, s)) {
                return Err(CoreError::Unauthorized(
                    "the X-Lago-Signature does not match",
                ));
            }
        }
        Some("jwt") => {
            let pem = crate::services::lago_sync::webhook_public_key(ctx).await?;
            let issuer = ctx.config.lago.api_url.as_deref().unwrap_or_default();
            if !signature.is_some_and(|s| verify_jwt(&pem, issuer, body, s)) {
                return Err(CoreError::Unauthorized(
                    "the X-Lago-Signature JWT does not verify against Lago's public key",
                ));
            }
        }
        _ => {
            return Err(CoreError::Unauthorized(
                "X-Lago-Signature-Algorithm must be hmac or jwt",
            ));
        }
    }
    let unique = unique_key
        .filter(|k| !k.is_empty() && k.len() <= 200)
        .ok_or_else(|| avb_domain::ValidationError::new("X-Lago-Unique-Key", "is required"))?;
    let payload: Value = serde_json::from_slice(body)
        .map_err(|_| avb_domain::ValidationError::new("body", "is not JSON"))?;
    let kind = payload["webhook_type"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    {
        let tx = ctx.store.platform_tx(false).await?;
        let seen = avb_storage::repos::invoices::webhook_seen(&tx, unique).await?;
        tx.commit().await?;
        if seen {
            return Ok(Received::Duplicate);
        }
    }
    let outcome = if kind.starts_with("invoice.") {
        apply_invoice(ctx, &kind, &payload["invoice"]).await?;
        Received::Applied
    } else {
        Received::Ignored
    };
    let tx = ctx.store.platform_tx(true).await?;
    repo::first_webhook(&tx, unique, &kind).await?;
    tx.commit().await?;
    Ok(outcome)
}

fn day(v: &Value) -> Option<DateTime<Utc>> {
    let s = v.as_str()?;
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.to_utc())
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc())
        })
}

/// Creates or updates the mirror of one Lago invoice.
async fn apply_invoice(ctx: &AppContext, kind: &str, inv: &Value) -> CoreResult<()> {
    let bad =
        |what: &str| avb_domain::ValidationError::new("invoice", format!("{what} is missing"));
    let lago_id = inv["lago_id"].as_str().ok_or_else(|| bad("lago_id"))?;
    let tenant: TenantId = inv["customer"]["external_id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("customer.external_id (a tenant id)"))?;
    let payment = match inv["payment_status"].as_str() {
        Some("succeeded") => "paid",
        Some("failed") => "failed",
        _ => "pending",
    };
    let payment = if kind == "invoice.payment_failure" {
        "failed"
    } else {
        payment
    };
    let voided = kind == "invoice.voided" || inv["status"] == "voided";
    let existing = {
        let tx = ctx.store.platform_tx(false).await?;
        let m = repo::find_external(&tx, lago_id).await?;
        tx.commit().await?;
        m
    };
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    let m = match existing {
        Some(m) => m,
        None => {
            if inv["status"] == "draft" {
                return Ok(());
            }
            let issued = day(&inv["issuing_date"]).unwrap_or_else(Utc::now);
            let total = inv["total_amount_cents"].as_i64().unwrap_or(0);
            let number = inv["number"].as_str().unwrap_or(lago_id).to_string();
            let line = avb_domain::pricing::InvoiceLine {
                kind: avb_domain::pricing::LineKind::Subscription,
                description: format!("Lago invoice {number}"),
                metric: None,
                quantity: rust_decimal::Decimal::ONE,
                amount_minor: total,
            };
            repo::insert(
                &tx,
                NewInvoice {
                    number,
                    kind: "period".into(),
                    currency: inv["currency"].as_str().unwrap_or("USD").to_string(),
                    period_start: day(&inv["from_datetime"]).unwrap_or(issued),
                    period_end: day(&inv["to_datetime"]).unwrap_or(issued),
                    plan_code: inv["plan_code"].as_str().unwrap_or_default().to_string(),
                    lines: serde_json::to_string(&[line]).unwrap_or_default(),
                    subtotal_minor: total,
                    credits_minor: 0,
                    total_minor: total,
                    provider: "lago".into(),
                    external_id: Some(lago_id.to_string()),
                },
            )
            .await?
        }
    };
    let m = if voided && m.status != "voided" {
        repo::void(&tx, m, "voided in Lago").await?
    } else {
        m
    };
    if m.status != "voided" && m.payment_status != payment {
        let note = if payment == "failed" {
            inv["error_details"]
                .as_str()
                .unwrap_or("the payment failed (Lago)")
                .to_string()
        } else {
            String::new()
        };
        let m = repo::set_payment(&tx, m, payment, &note).await?;
        if payment != "pending" {
            crate::services::payments::record(&tx, &m, "lago", Some(lago_id), &note).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

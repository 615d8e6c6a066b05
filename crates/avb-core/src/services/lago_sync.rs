//! Keeps Lago in step with our billing when `[lago]` is configured: the five billable metrics,
//! every plan (its current version, with charges), a customer per tenant (external id = tenant
//! id) and a subscription per tenant (external id = `<prefix><tenant id>`) on the tenant's plan.
//! Every call is an upsert, so the reconcile job repairs whatever a failed hook left behind and
//! running it twice changes nothing. Payloads follow Lago's API (spec/integrations.md A.2-A.5):
//! root-wrapped bodies, Bearer auth, charges by the metric's Lago id.

use crate::context::AppContext;
use crate::error::{CoreError, CoreResult};
use avb_domain::TenantId;
use avb_domain::pricing::{ChargeModel, Interval, METRICS, PlanTerms};
use avb_storage::repos::{plans as plan_repo, subscriptions as sub_repo, tenants};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;

/// What one reconciliation did.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct SyncReport {
    pub metrics: usize,
    pub plans: usize,
    pub customers: usize,
    /// Subscriptions created or moved to another plan.
    pub subscriptions_changed: usize,
}

/// A thin client of the Lago endpoints this module uses; no redirects are followed.
struct Lago {
    base: String,
    key: String,
    http: reqwest::Client,
}

impl Lago {
    fn from_config(ctx: &AppContext) -> CoreResult<Option<Self>> {
        let cfg = &ctx.config.lago;
        let (Some(url), Some(key)) = (&cfg.api_url, &cfg.api_key) else {
            return Ok(None);
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| CoreError::Internal(e.to_string()))?;
        Ok(Some(Self {
            base: format!("{}/api/v1", url.trim_end_matches('/')),
            key: key.expose().to_string(),
            http,
        }))
    }

    /// Sends a request; `Ok(None)` for a 404, the JSON body otherwise; other failures say
    /// Lago's status and error.
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> CoreResult<Option<Value>> {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(&self.key);
        if let Some(b) = body {
            req = req.json(b);
        }
        let res = req
            .send()
            .await
            .map_err(|e| CoreError::Unavailable(format!("Lago could not be reached: {e}")))?;
        let status = res.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let text = res.text().await.unwrap_or_default();
        // Lago refusing a request for a reason of its own (not voidable, an amount above what
        // is left) is a conflict the caller can read, not a failure of ours.
        if status == reqwest::StatusCode::UNPROCESSABLE_ENTITY
            || status == reqwest::StatusCode::METHOD_NOT_ALLOWED
        {
            let why: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            let detail = if why["error_details"].is_null() {
                why["code"].to_string()
            } else {
                why["error_details"].to_string()
            };
            return Err(CoreError::Conflict(format!("Lago refused it: {detail}")));
        }
        if !status.is_success() {
            return Err(CoreError::Internal(format!(
                "Lago answered {status} to {method} {path}: {text}"
            )));
        }
        Ok(Some(serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    async fn upsert_metric(&self, code: &str) -> CoreResult<String> {
        let body = json!({"billable_metric": {
            "name": code.replace('_', " "),
            "code": code,
            "description": format!("AgentVoiceBox usage: {code}"),
            "aggregation_type": "sum_agg",
            "field_name": "value",
            "recurring": false,
        }});
        let found = self
            .send(
                reqwest::Method::GET,
                &format!("/billable_metrics/{code}"),
                None,
            )
            .await?;
        let saved = match found {
            Some(_) => {
                self.send(
                    reqwest::Method::PUT,
                    &format!("/billable_metrics/{code}"),
                    Some(&body),
                )
                .await?
            }
            None => {
                self.create_or_update(
                    "/billable_metrics",
                    &format!("/billable_metrics/{code}"),
                    &body,
                )
                .await?
            }
        };
        saved
            .as_ref()
            .and_then(|v| v["billable_metric"]["lago_id"].as_str())
            .map(str::to_string)
            .ok_or_else(|| CoreError::Internal(format!("Lago returned no id for metric {code}")))
    }

    async fn upsert_plan(
        &self,
        terms: &PlanTerms,
        metric_ids: &HashMap<String, String>,
    ) -> CoreResult<()> {
        let body = json!({"plan": plan_body(terms, metric_ids)?});
        let path = format!("/plans/{}", terms.code);
        match self.send(reqwest::Method::GET, &path, None).await? {
            Some(_) => self.send(reqwest::Method::PUT, &path, Some(&body)).await?,
            None => self.create_or_update("/plans", &path, &body).await?,
        };
        Ok(())
    }

    /// POSTs to `create`; when another writer created it meanwhile (Lago's 422
    /// `value_already_exist`), PUTs to `update` instead.
    async fn create_or_update(
        &self,
        create: &str,
        update: &str,
        body: &Value,
    ) -> CoreResult<Option<Value>> {
        match self.send(reqwest::Method::POST, create, Some(body)).await {
            Err(CoreError::Conflict(m)) if m.contains("value_already_exist") => {
                self.send(reqwest::Method::PUT, update, Some(body)).await
            }
            other => other,
        }
    }
}

/// Lago's plan body for our terms.
fn plan_body(terms: &PlanTerms, metric_ids: &HashMap<String, String>) -> CoreResult<Value> {
    let charges = terms
        .charges
        .iter()
        .map(|c| {
            let id = metric_ids.get(&c.metric).ok_or_else(|| {
                CoreError::Internal(format!("metric {} is not in Lago", c.metric))
            })?;
            let (model, properties) = match &c.model {
                ChargeModel::Standard { amount } => ("standard", json!({"amount": amount.to_string()})),
                ChargeModel::Graduated { graduated_ranges } => (
                    "graduated",
                    json!({"graduated_ranges": graduated_ranges.iter().map(|r| json!({
                        "from_value": r.from_value,
                        "to_value": r.to_value,
                        "per_unit_amount": r.per_unit_amount.to_string(),
                        "flat_amount": r.flat_amount.to_string(),
                    })).collect::<Vec<_>>()}),
                ),
                ChargeModel::Package {
                    amount,
                    package_size,
                    free_units,
                } => (
                    "package",
                    json!({"amount": amount.to_string(), "package_size": package_size, "free_units": free_units}),
                ),
            };
            Ok(json!({
                "billable_metric_id": id,
                "charge_model": model,
                "pay_in_advance": false,
                "invoiceable": true,
                "properties": properties,
            }))
        })
        .collect::<CoreResult<Vec<_>>>()?;
    Ok(json!({
        "name": terms.name,
        "code": terms.code,
        "description": terms.description,
        "interval": match terms.interval {
            Interval::Monthly => "monthly",
            Interval::Yearly => "yearly",
        },
        "amount_cents": avb_domain::pricing::round_to_minor(terms.amount, &terms.currency),
        "amount_currency": terms.currency.code(),
        "pay_in_advance": false,
        "charges": charges,
    }))
}

/// The external id of `tenant`'s Lago subscription.
pub fn subscription_id(ctx: &AppContext, tenant: TenantId) -> String {
    format!(
        "{}{}",
        ctx.config.lago.subscription_prefix,
        tenant.as_uuid()
    )
}

/// Brings Lago in step with our metrics, plans, customers and subscriptions (no-op without
/// `[lago]`). Idempotent.
pub async fn reconcile(ctx: &AppContext) -> CoreResult<SyncReport> {
    let Some(lago) = Lago::from_config(ctx)? else {
        return Ok(SyncReport::default());
    };
    crate::services::plans::ensure_default(ctx).await?;
    let mut report = SyncReport::default();
    let mut metric_ids = HashMap::new();
    for m in METRICS {
        metric_ids.insert(m.to_string(), lago.upsert_metric(m).await?);
        report.metrics += 1;
    }
    let tx = ctx.store.platform_tx(false).await?;
    let plans = plan_repo::all(&tx).await?;
    let mut codes = HashMap::new();
    for p in &plans {
        let terms = crate::services::plans::terms_at(&tx, p.id, p.current_version).await?;
        lago.upsert_plan(&terms, &metric_ids).await?;
        codes.insert(p.id, p.code.clone());
        report.plans += 1;
    }
    let subs = sub_repo::all_active(&tx).await?;
    tx.commit().await?;
    // Tenants in parallel, a few at a time: a slow Lago costs round trips, not their sum.
    use futures::StreamExt;
    let results: Vec<CoreResult<bool>> = futures::stream::iter(subs)
        .map(|s| sync_tenant(ctx, &lago, s, &codes))
        .buffer_unordered(TENANTS_AT_ONCE)
        .collect()
        .await;
    for r in results {
        report.customers += 1;
        if r? {
            report.subscriptions_changed += 1;
        }
    }
    Ok(report)
}

/// Tenants synced at once.
const TENANTS_AT_ONCE: usize = 8;

/// Upserts one tenant's customer and puts its subscription on its plan (a scheduled
/// downgrade as Lago's next plan); true when the subscription was created or changed.
async fn sync_tenant(
    ctx: &AppContext,
    lago: &Lago,
    s: avb_storage::entities::subscription::Model,
    codes: &HashMap<uuid::Uuid, String>,
) -> CoreResult<bool> {
    let tenant = TenantId(s.tenant_id);
    let tx = ctx.store.tenant_tx(tenant, false).await?;
    let t = tenants::get(&tx, tenant).await?;
    let terms = crate::services::subscriptions::terms_of(&tx, &s).await?;
    tx.commit().await?;
    let mut customer = json!({"customer": {
        "external_id": tenant.as_uuid().to_string(),
        "name": t.name,
        "email": t.billing_email,
        "currency": terms.currency.code(),
        "timezone": t.timezone,
    }});
    if let Some(provider) = &ctx.config.lago.payment_provider {
        // Lago makes the customer at the provider and collects invoices through it.
        customer["customer"]["billing_configuration"] = json!({
            "payment_provider": provider,
            "payment_provider_code": ctx.config.lago.payment_provider_code,
            "sync_with_provider": true,
        });
    }
    lago.send(reqwest::Method::POST, "/customers", Some(&customer))
        .await?;
    let Some(code) = codes.get(&s.plan_id) else {
        return Ok(false);
    };
    let external = subscription_id(ctx, tenant);
    let current = lago
        .send(
            reqwest::Method::GET,
            &format!("/subscriptions/{external}"),
            None,
        )
        .await?;
    let on_plan = current
        .as_ref()
        .and_then(|v| v["subscription"]["plan_code"].as_str())
        .map(str::to_string);
    // A scheduled downgrade shows as `next_plan_code` on Lago's side: already in step.
    let next = current
        .as_ref()
        .and_then(|v| v["subscription"]["next_plan_code"].as_str())
        .map(str::to_string);
    let want = s
        .pending_plan_id
        .and_then(|p| codes.get(&p).cloned())
        .unwrap_or_else(|| code.clone());
    if on_plan.as_deref() == Some(code.as_str())
        && (s.pending_plan_id.is_none() || next.as_deref() == Some(want.as_str()))
    {
        return Ok(false);
    }
    // Create, or change plan (an upgrade applies now, a downgrade at the period end).
    let body = json!({"subscription": {
        "external_customer_id": tenant.as_uuid().to_string(),
        "plan_code": want,
        "external_id": external,
        "name": format!("{} ({})", t.name, want),
        "billing_time": "calendar",
    }});
    lago.send(reqwest::Method::POST, "/subscriptions", Some(&body))
        .await?;
    Ok(true)
}

/// Runs a reconciliation in the background after a change (the periodic job repairs a
/// failure); nothing waits on Lago.
pub fn nudge(ctx: &AppContext) {
    if ctx.config.lago.api_url.is_none() {
        return;
    }
    let ctx = ctx.clone();
    tokio::spawn(async move {
        if let Err(e) = reconcile(&ctx).await {
            tracing::warn!(error = %e, "Lago reconciliation failed; the job retries");
        }
    });
}

/// The URL of Lago's hosted customer portal for `tenant` (payment methods, invoices); card
/// details go to the payment provider through it, never through us.
pub async fn portal_url(ctx: &AppContext, tenant: TenantId) -> CoreResult<String> {
    let lago = Lago::from_config(ctx)?
        .ok_or_else(|| CoreError::Conflict("billing is not on Lago".into()))?;
    let v = lago
        .send(
            reqwest::Method::GET,
            &format!("/customers/{}/portal_url", tenant.as_uuid()),
            None,
        )
        .await?
        .ok_or_else(|| {
            CoreError::Conflict("Lago does not know this customer yet; retry in a minute".into())
        })?;
    v["customer"]["portal_url"]
        .as_str()
        .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
        .map(str::to_string)
        .ok_or_else(|| CoreError::Internal("Lago returned no portal URL".into()))
}

/// A fresh checkout link of the payment provider Lago linked to `tenant`'s customer, where a
/// payment method is added (card details go to the provider, never through us).
pub async fn checkout_url(ctx: &AppContext, tenant: TenantId) -> CoreResult<String> {
    let lago = Lago::from_config(ctx)?
        .ok_or_else(|| CoreError::Conflict("billing is not on Lago".into()))?;
    if ctx.config.lago.payment_provider.is_none() {
        return Err(CoreError::Conflict(
            "no payment provider is linked in Lago (lago.payment_provider)".into(),
        ));
    }
    let v = lago
        .send(
            reqwest::Method::POST,
            &format!("/customers/{}/checkout_url", tenant.as_uuid()),
            None,
        )
        .await?
        .ok_or_else(|| {
            CoreError::Conflict("Lago does not know this customer yet; retry in a minute".into())
        })?;
    v["customer"]["checkout_url"]
        .as_str()
        .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
        .map(str::to_string)
        .ok_or_else(|| CoreError::Internal("Lago returned no checkout URL".into()))
}

/// Issues a Lago credit note of `amount_cents` on a Lago invoice, credited to the customer's
/// balance (Lago applies it to the next invoices). Lago wants the amount per fee, so it is
/// spread over the invoice's fees in order; Lago refuses more than an invoice's fees allow.
pub(crate) async fn credit_note(
    ctx: &AppContext,
    lago_id: &str,
    amount_cents: i64,
    description: &str,
) -> CoreResult<String> {
    let lago = Lago::from_config(ctx)?
        .ok_or_else(|| CoreError::Conflict("billing is not on Lago".into()))?;
    let invoice = lago
        .send(reqwest::Method::GET, &format!("/invoices/{lago_id}"), None)
        .await?
        .ok_or(CoreError::NotFound)?;
    let fees = invoice["invoice"]["fees"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let items = spread_over_fees(&fees, amount_cents);
    if items.is_empty() {
        return Err(CoreError::Conflict(
            "the Lago invoice has no fees to credit".into(),
        ));
    }
    let body = json!({"credit_note": {
        "invoice_id": lago_id,
        "reason": "other",
        "description": description,
        "credit_amount_cents": amount_cents,
        "refund_amount_cents": 0,
        "items": items,
    }});
    let v = lago
        .send(reqwest::Method::POST, "/credit_notes", Some(&body))
        .await?
        .ok_or(CoreError::NotFound)?;
    Ok(v["credit_note"]["lago_id"]
        .as_str()
        .unwrap_or_default()
        .to_string())
}

/// Credit-note items taking `amount` from the fees in order, each up to what the fee can still
/// be credited (Lago's `creditable_amount_cents`: its amount less earlier credit notes; the
/// fee's `amount_cents` when absent); what the fees cannot hold lands on the last one (for Lago
/// to refuse).
fn spread_over_fees(fees: &[Value], amount: i64) -> Vec<Value> {
    let mut left = amount;
    let mut items = Vec::new();
    for (i, fee) in fees.iter().enumerate() {
        let cents = fee["creditable_amount_cents"]
            .as_i64()
            .or_else(|| fee["amount_cents"].as_i64());
        let (Some(id), Some(cents)) = (fee["lago_id"].as_str(), cents) else {
            continue;
        };
        let take = if i + 1 == fees.len() {
            left
        } else {
            left.min(cents)
        };
        if take > 0 {
            items.push(json!({"fee_id": id, "amount_cents": take}));
            left -= take;
        }
    }
    items
}

/// Lago's RSA public key (PEM) for JWT-signed webhooks: the configured one, or fetched from
/// `GET /webhooks/public_key` (the base64 of the PEM) and kept per Lago for the process.
pub(crate) async fn webhook_public_key(ctx: &AppContext) -> CoreResult<String> {
    use base64::Engine;
    static FETCHED: std::sync::LazyLock<std::sync::Mutex<HashMap<String, String>>> =
        std::sync::LazyLock::new(Default::default);
    if let Some(pem) = &ctx.config.lago.webhook_public_key {
        return Ok(pem.clone());
    }
    let lago = Lago::from_config(ctx)?.ok_or(CoreError::Unauthorized(
        "JWT-signed Lago webhooks need [lago] api_url and api_key, or lago.webhook_public_key",
    ))?;
    if let Some(pem) = FETCHED.lock().ok().and_then(|m| m.get(&lago.base).cloned()) {
        return Ok(pem);
    }
    let res = lago
        .http
        .get(format!("{}/webhooks/public_key", lago.base))
        .bearer_auth(&lago.key)
        .send()
        .await
        .map_err(|e| CoreError::Unavailable(format!("Lago could not be reached: {e}")))?;
    if !res.status().is_success() {
        return Err(CoreError::Unavailable(format!(
            "Lago answered {} for its webhook public key",
            res.status()
        )));
    }
    let text = res.text().await.unwrap_or_default();
    let pem = base64::engine::general_purpose::STANDARD
        .decode(text.trim().trim_matches('"'))
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .filter(|p| p.contains("PUBLIC KEY"))
        .ok_or_else(|| {
            CoreError::Internal("Lago's webhook public key is not a base64 PEM".into())
        })?;
    if let Ok(mut m) = FETCHED.lock() {
        m.insert(lago.base.clone(), pem.clone());
    }
    Ok(pem)
}

/// The URL of Lago's own PDF of an invoice (`POST /invoices/{id}/download`); `None` while Lago
/// still generates it.
pub(crate) async fn invoice_file_url(
    ctx: &AppContext,
    lago_id: &str,
) -> CoreResult<Option<String>> {
    let lago = Lago::from_config(ctx)?
        .ok_or_else(|| CoreError::Conflict("billing is not on Lago".into()))?;
    let v = lago
        .send(
            reqwest::Method::POST,
            &format!("/invoices/{lago_id}/download"),
            None,
        )
        .await?
        .ok_or(CoreError::NotFound)?;
    Ok(v["invoice"]["file_url"]
        .as_str()
        .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
        .map(str::to_string))
}

/// Asks Lago to collect a failed or pending invoice's payment again.
pub(crate) async fn retry_payment(ctx: &AppContext, lago_id: &str) -> CoreResult<()> {
    let lago = Lago::from_config(ctx)?
        .ok_or_else(|| CoreError::Conflict("billing is not on Lago".into()))?;
    lago.send(
        reqwest::Method::POST,
        &format!("/invoices/{lago_id}/retry_payment"),
        None,
    )
    .await?
    .ok_or(CoreError::NotFound)?;
    Ok(())
}

/// Voids an invoice in Lago (finalised and not paid, as Lago requires).
pub(crate) async fn void_invoice(ctx: &AppContext, lago_id: &str) -> CoreResult<()> {
    let lago = Lago::from_config(ctx)?
        .ok_or_else(|| CoreError::Conflict("billing is not on Lago".into()))?;
    lago.send(
        reqwest::Method::POST,
        &format!("/invoices/{lago_id}/void"),
        None,
    )
    .await?
    .ok_or(CoreError::NotFound)?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn plans_become_lagos_body_with_metric_ids_and_cents() {
        let terms: PlanTerms = serde_json::from_value(json!({
            "code": "pro", "name": "Pro", "currency": "EUR", "interval": "yearly", "amount": "199.5",
            "charges": [
                {"metric": "api_requests", "charge_model": "package", "amount": "1", "package_size": 1000, "free_units": 100},
                {"metric": "llm_tokens_output", "charge_model": "graduated", "graduated_ranges": [
                    {"from_value": 0, "to_value": 10, "per_unit_amount": "0", "flat_amount": "0"},
                    {"from_value": 11, "to_value": null, "per_unit_amount": "0.5", "flat_amount": "2"}]}]
        }))
        .unwrap();
        let ids: HashMap<String, String> = [
            ("api_requests".to_string(), "bm_1".to_string()),
            ("llm_tokens_output".to_string(), "bm_2".to_string()),
        ]
        .into();
        let b = plan_body(&terms, &ids).unwrap();
        assert_eq!(b["amount_cents"], 19950);
        assert_eq!(b["amount_currency"], "EUR");
        assert_eq!(b["interval"], "yearly");
        assert_eq!(b["charges"][0]["billable_metric_id"], "bm_1");
        assert_eq!(b["charges"][0]["properties"]["package_size"], 1000);
        assert_eq!(b["charges"][1]["charge_model"], "graduated");
        assert_eq!(
            b["charges"][1]["properties"]["graduated_ranges"][1]["to_value"],
            Value::Null
        );
        assert!(plan_body(&terms, &HashMap::new()).is_err());
    }
}

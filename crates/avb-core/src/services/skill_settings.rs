//! Skill settings (O2): a form built from the skill's `settingsmeta.json` (read from the
//! package under `[ovos] skills_dir`), values kept in our database and applied to ovos-core
//! with `mycroft.skills.settings.changed`, confirmed by ovos-core's
//! `ovos.skills.settings_changed`. One ovos-core serves every tenant and keeps one settings
//! file per skill, so the SaaS admin may change any skill's settings; a tenant admin only
//! those of a catalogue skill marked per-tenant safe (its settings change nothing another
//! tenant hears).

use crate::context::AppContext;
use crate::error::{CoreError, CoreResult};
use crate::scope::Scope;
use crate::services::projects::tenant_of;
use crate::services::skills::{CATALOGUE, CatalogueSkill, core_bus};
use avb_domain::{Permission, ValidationError};
use avb_storage::repos::{audit as audit_repo, ovos as ovos_repo};
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::path::Path;
use std::time::Duration;

/// How long ovos-core has to confirm a change.
const APPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// One field of a skill's settings form.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct SettingsField {
    pub name: String,
    /// `checkbox`, `text`, `password`, `email`, `number` or `select`.
    pub kind: String,
    pub label: String,
    /// The skill's default, as its metadata gives it.
    pub default: Value,
    /// `select` only.
    pub options: Vec<SelectOption>,
}

/// One choice of a `select` field.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct SelectOption {
    pub label: String,
    pub value: String,
}

/// A titled group of fields.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct SettingsSection {
    pub name: String,
    pub fields: Vec<SettingsField>,
}

/// A skill's settings form with the values in force.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SkillSettings {
    pub skill_id: String,
    pub name: String,
    /// Tenant admins may change these settings (they change nothing another tenant hears).
    pub tenant_configurable: bool,
    pub sections: Vec<SettingsSection>,
    /// Field name -> value: what was saved, else the skill's default.
    #[schema(value_type = Object)]
    pub values: Map<String, Value>,
    /// Why the form is not available (no `skills_dir`, no metadata file).
    pub problem: Option<String>,
}

/// Parses `settingsmeta.json` (`skillMetadata.sections[].fields[]`); `label` fields are
/// text for the reader and are left out.
pub fn parse_meta(text: &str) -> Result<Vec<SettingsSection>, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let sections = v["skillMetadata"]["sections"]
        .as_array()
        .ok_or("no skillMetadata.sections")?;
    let mut out = Vec::new();
    for s in sections {
        let mut fields = Vec::new();
        for f in s["fields"].as_array().into_iter().flatten() {
            let (Some(name), Some(kind)) = (f["name"].as_str(), f["type"].as_str()) else {
                continue;
            };
            let raw = match &f["value"] {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            let default = match kind {
                "checkbox" => Value::Bool(raw == "true"),
                "number" => raw
                    .parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                    .map_or(Value::Null, Value::Number),
                "text" | "password" | "email" | "select" => Value::String(raw),
                _ => continue,
            };
            let options = f["options"]
                .as_str()
                .unwrap_or_default()
                .split(';')
                .filter(|o| !o.is_empty())
                .map(|o| {
                    let (label, value) = o.split_once('|').unwrap_or((o, o));
                    SelectOption {
                        label: label.to_string(),
                        value: value.to_string(),
                    }
                })
                .collect();
            fields.push(SettingsField {
                name: name.to_string(),
                kind: kind.to_string(),
                label: f["label"].as_str().unwrap_or(name).to_string(),
                default,
                options,
            });
        }
        out.push(SettingsSection {
            name: s["name"].as_str().unwrap_or("Settings").to_string(),
            fields,
        });
    }
    Ok(out)
}

/// Checks `input` against the form: only its fields, each of its type; returns the values
/// to store (fields not given keep `current`).
pub fn validate(
    sections: &[SettingsSection],
    current: &Map<String, Value>,
    input: &Map<String, Value>,
) -> Result<Map<String, Value>, ValidationError> {
    let fields: Vec<&SettingsField> = sections.iter().flat_map(|s| &s.fields).collect();
    let mut out = current.clone();
    for (name, value) in input {
        let field = fields
            .iter()
            .find(|f| &f.name == name)
            .ok_or_else(|| ValidationError::new(name, "is not a setting of this skill"))?;
        let ok = match (field.kind.as_str(), value) {
            ("checkbox", Value::Bool(_)) => true,
            ("number", Value::Number(n)) => n.as_f64().is_some_and(f64::is_finite),
            ("text" | "password", Value::String(s)) => s.chars().count() <= 500,
            ("email", Value::String(s)) => {
                s.is_empty()
                    || (s.len() <= 254
                        && s.split_once('@')
                            .is_some_and(|(a, b)| !a.is_empty() && b.contains('.')))
            }
            ("select", Value::String(s)) => field.options.iter().any(|o| &o.value == s),
            _ => false,
        };
        if !ok {
            let want = match field.kind.as_str() {
                "checkbox" => "must be true or false".to_string(),
                "number" => "must be a number".to_string(),
                "email" => "must be an e-mail address".to_string(),
                "select" => format!(
                    "must be one of {}",
                    field
                        .options
                        .iter()
                        .map(|o| o.value.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                _ => "must be text of at most 500 characters".to_string(),
            };
            return Err(ValidationError::new(name, want));
        }
        out.insert(name.clone(), value.clone());
    }
    Ok(out)
}

fn skill(skill_id: &str) -> CoreResult<CatalogueSkill> {
    CATALOGUE
        .iter()
        .find(|c| c.skill_id == skill_id)
        .copied()
        .ok_or(CoreError::NotFound)
}

/// Platform admins may see and change any skill's settings; tenants only a per-tenant-safe
/// skill's (`projects:view` to see, `settings:manage` to change).
fn authorize(ctx: &AppContext, scope: &Scope, s: &CatalogueSkill, change: bool) -> CoreResult<()> {
    if scope.has(Permission::PlatformTenants) {
        ctx.policy
            .authorize(scope, Permission::PlatformTenants, None)?;
        return Ok(());
    }
    let need = if change {
        Permission::SettingsManage
    } else {
        Permission::ProjectsView
    };
    let tenant = tenant_of(scope, need)?;
    ctx.policy.authorize(scope, need, Some(tenant))?;
    if !s.tenant_configurable {
        return Err(CoreError::Forbidden(Permission::PlatformTenants));
    }
    Ok(())
}

fn read_meta(dir: Option<&Path>, s: &CatalogueSkill) -> Result<Vec<SettingsSection>, String> {
    let dir = dir.ok_or("the skills' packages are not known here ([ovos] skills_dir)")?;
    let path = dir
        .join(s.package.replace('-', "_"))
        .join("settingsmeta.json");
    match std::fs::read_to_string(&path) {
        Ok(text) => parse_meta(&text).map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

async fn stored(ctx: &AppContext, skill_id: &str) -> CoreResult<Map<String, Value>> {
    let tx = ctx.store.platform_tx(false).await?;
    let row = ovos_repo::skill_settings(&tx, skill_id).await?;
    tx.commit().await?;
    Ok(row
        .and_then(|t| serde_json::from_str::<Map<String, Value>>(&t).ok())
        .unwrap_or_default())
}

fn view(
    s: &CatalogueSkill,
    meta: Result<Vec<SettingsSection>, String>,
    saved: Map<String, Value>,
) -> SkillSettings {
    let (sections, problem) = match meta {
        Ok(m) => (m, None),
        Err(e) => (Vec::new(), Some(e)),
    };
    let mut values = Map::new();
    for f in sections.iter().flat_map(|s| &s.fields) {
        let v = saved
            .get(&f.name)
            .cloned()
            .unwrap_or_else(|| f.default.clone());
        values.insert(f.name.clone(), v);
    }
    SkillSettings {
        skill_id: s.skill_id.to_string(),
        name: s.name.to_string(),
        tenant_configurable: s.tenant_configurable,
        sections,
        values,
        problem,
    }
}

/// A skill's settings form and values (404 for a skill not in the catalogue).
pub async fn get(ctx: &AppContext, scope: &Scope, skill_id: &str) -> CoreResult<SkillSettings> {
    let s = skill(skill_id)?;
    authorize(ctx, scope, &s, false)?;
    let meta = read_meta(ctx.config.ovos.skills_dir.as_deref(), &s);
    Ok(view(&s, meta, stored(ctx, skill_id).await?))
}

/// Validates `input`, applies it to ovos-core (which must confirm within 10 s; 409 when it
/// is not connected or does not) and then stores and audits it. Nothing is stored when
/// ovos-core did not take it.
pub async fn save(
    ctx: &AppContext,
    scope: &Scope,
    skill_id: &str,
    input: Map<String, Value>,
) -> CoreResult<SkillSettings> {
    let s = skill(skill_id)?;
    authorize(ctx, scope, &s, true)?;
    let meta = read_meta(ctx.config.ovos.skills_dir.as_deref(), &s).map_err(CoreError::Conflict)?;
    if meta.iter().all(|m| m.fields.is_empty()) {
        return Err(ValidationError::new("settings", "this skill has no settings").into());
    }
    let before = view(&s, Ok(meta.clone()), stored(ctx, skill_id).await?).values;
    let after = validate(&meta, &before, &input)?;
    let bus = core_bus(ctx).map_err(CoreError::Conflict)?;
    apply(bus, skill_id, &after)
        .await
        .map_err(CoreError::Conflict)?;
    let tx = ctx.store.platform_tx(true).await?;
    ovos_repo::put_skill_settings(
        &tx,
        skill_id,
        &Value::Object(after.clone()).to_string(),
        &scope.actor().label(),
    )
    .await?;
    audit_repo::append(
        &tx,
        crate::audit::entry(
            scope,
            scope.tenant(),
            "ovos.skill.settings.update",
            "ovos_skill",
            skill_id,
            json!({"before": before, "after": after}),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(view(&s, Ok(meta), after))
}

/// Sends the settings and waits for ovos-core's `ovos.skills.settings_changed` for the skill.
async fn apply(
    bus: &avb_ovos::Bus,
    skill_id: &str,
    values: &Map<String, Value>,
) -> Result<(), String> {
    let mut me = bus.attach("avb-skill-settings");
    me.send(&avb_ovos::message(
        "mycroft.skills.settings.changed",
        json!({ skill_id: values }),
        json!({"source": "avb-skill-settings", "destination": ["skills"]}),
    ))
    .map_err(|e| e.to_string())?;
    tokio::time::timeout(APPLY_TIMEOUT, async {
        while let Some(frame) = me.recv().await {
            let v: Value = serde_json::from_str(&frame).unwrap_or_default();
            if v["type"] == "ovos.skills.settings_changed" && v["data"]["skill_id"] == skill_id {
                return Ok(());
            }
        }
        Err("the bus closed".to_string())
    })
    .await
    .map_err(|_| format!("ovos-core did not confirm the new settings of {skill_id} within 10 s"))?
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const DATE_TIME: &str = r#"{"skillMetadata": {"sections": [{"name": "Display", "fields": [
        {"name": "show_time", "type": "checkbox", "label": "Show digital clock when idle", "value": "false"},
        {"type": "label", "label": "Just text"},
        {"name": "units", "type": "select", "label": "Units", "value": "metric", "options": "Metric|metric;Imperial|imperial"},
        {"name": "volume", "type": "number", "label": "Volume", "value": "5"}]}]}}"#;

    #[test]
    fn settingsmeta_becomes_a_form_with_typed_defaults() {
        let m = parse_meta(DATE_TIME).unwrap();
        assert_eq!(m.len(), 1);
        let f = &m[0].fields;
        assert_eq!(f.len(), 3, "the label field is left out");
        assert_eq!(f[0].default, Value::Bool(false));
        assert_eq!(f[1].options[1].value, "imperial");
        assert_eq!(f[2].default, json!(5.0));
        assert!(parse_meta("{}").is_err());
    }

    #[test]
    fn values_must_be_fields_of_their_type() {
        let m = parse_meta(DATE_TIME).unwrap();
        let cur = Map::new();
        let ok = |v: Value| validate(&m, &cur, v.as_object().unwrap());
        assert_eq!(ok(json!({"show_time": true})).unwrap()["show_time"], true);
        assert!(ok(json!({"show_time": "yes"})).is_err());
        assert!(ok(json!({"units": "furlongs"})).is_err());
        assert!(ok(json!({"volume": 7})).is_ok());
        let e = ok(json!({"rm_rf": true})).unwrap_err();
        assert!(e.to_string().contains("not a setting"), "{e}");
    }
}

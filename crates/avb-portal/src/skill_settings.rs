//! A skill's settings form, built from its `settingsmeta.json`: the SaaS admin's at
//! `/admin/ovos/skills/{skill_id}/settings` (any catalogue skill), a tenant admin's at
//! `/voice/skills/{skill_id}/settings` (only skills marked per-tenant safe). Saving applies the
//! values to ovos-core, which must confirm them; each change is audited.

use crate::PortalState;
use crate::chrome::Chrome;
use crate::error::{PageError, render};
use crate::extract::{CsrfForm, Visitor, has_csrf};
use askama::Template;
use avb_core::CoreError;
use avb_core::services::skill_settings::{self, SettingsField, SkillSettings};
use avb_domain::Permission;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::HashMap;

#[derive(Template)]
#[template(path = "skill_settings.html")]
struct SettingsPage {
    chrome: Chrome,
    /// Where the form posts and where "back" goes.
    action: String,
    back: &'static str,
    can_change: bool,
    s: SkillSettings,
    error: Option<String>,
}

impl SettingsPage {
    /// The value in force for `f`, as the form shows it.
    fn shown(&self, f: &SettingsField) -> String {
        match self.s.values.get(&f.name) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(v) => v.to_string(),
        }
    }

    fn checked(&self, f: &SettingsField) -> bool {
        self.s.values.get(&f.name) == Some(&Value::Bool(true))
    }
}

/// Which face of the portal shows the form.
#[derive(Clone, Copy)]
enum Face {
    Admin,
    Tenant,
}

impl Face {
    fn nav(self) -> &'static str {
        match self {
            Face::Admin => "/admin/ovos",
            Face::Tenant => "/voice/skills",
        }
    }

    fn action(self, skill_id: &str) -> String {
        format!(
            "{}/skills/{skill_id}/settings",
            self.nav().trim_end_matches("/skills")
        )
    }

    fn can_change(self, v: &Visitor) -> bool {
        match self {
            Face::Admin => v.scope.has(Permission::PlatformTenants),
            Face::Tenant => v.scope.has(Permission::SettingsManage) && v.impersonating.is_none(),
        }
    }
}

/// `?done=`.
#[derive(Debug, Default, Deserialize)]
pub struct DoneQuery {
    #[serde(default)]
    done: String,
}

async fn page(
    state: &PortalState,
    v: &Visitor,
    face: Face,
    skill_id: &str,
    done: Option<&str>,
    error: Option<String>,
    status: StatusCode,
) -> Result<Response, PageError> {
    if matches!(face, Face::Admin) && !v.scope.has(Permission::PlatformTenants) {
        return Err(PageError::Forbidden(Permission::PlatformTenants));
    }
    let s = skill_settings::get(&state.ctx, &v.scope, skill_id).await?;
    let page = SettingsPage {
        chrome: v.chrome(face.nav(), done),
        action: face.action(skill_id),
        back: face.nav(),
        can_change: face.can_change(v),
        s,
        error,
    };
    Ok(render(&page, status))
}

/// `GET /admin/ovos/skills/{skill_id}/settings`.
pub async fn admin_show(
    State(state): State<PortalState>,
    Path(skill_id): Path<String>,
    v: Visitor,
    Query(q): Query<DoneQuery>,
) -> Result<Response, PageError> {
    page(
        &state,
        &v,
        Face::Admin,
        &skill_id,
        Some(&q.done),
        None,
        StatusCode::OK,
    )
    .await
}

/// `GET /voice/skills/{skill_id}/settings`.
pub async fn tenant_show(
    State(state): State<PortalState>,
    Path(skill_id): Path<String>,
    v: Visitor,
    Query(q): Query<DoneQuery>,
) -> Result<Response, PageError> {
    page(
        &state,
        &v,
        Face::Tenant,
        &skill_id,
        Some(&q.done),
        None,
        StatusCode::OK,
    )
    .await
}

/// The posted form: the skill's fields by name (an unticked checkbox is absent).
#[derive(Debug, Deserialize)]
pub struct SettingsForm {
    #[serde(default)]
    csrf: String,
    #[serde(flatten)]
    fields: HashMap<String, String>,
}
has_csrf!(SettingsForm);

/// The form's strings as typed values, field by field of the skill's form.
fn values(s: &SkillSettings, form: &HashMap<String, String>) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    for f in s.sections.iter().flat_map(|x| &x.fields) {
        let given = form.get(&f.name);
        let v = match f.kind.as_str() {
            "checkbox" => Value::Bool(given.is_some()),
            "number" => {
                let Some(text) = given else { continue };
                let n: f64 = text
                    .trim()
                    .parse()
                    .map_err(|_| format!("{}: must be a number", f.label))?;
                serde_json::Number::from_f64(n)
                    .map(Value::Number)
                    .ok_or_else(|| format!("{}: must be a finite number", f.label))?
            }
            // A password left empty keeps the one in force (the form never shows it).
            "password" if given.is_none_or(|t| t.is_empty()) => continue,
            _ => match given {
                Some(t) => Value::String(t.clone()),
                None => continue,
            },
        };
        out.insert(f.name.clone(), v);
    }
    Ok(out)
}

async fn save(
    state: &PortalState,
    v: &Visitor,
    face: Face,
    skill_id: &str,
    form: &HashMap<String, String>,
) -> Result<Response, PageError> {
    let s = skill_settings::get(&state.ctx, &v.scope, skill_id).await?;
    let outcome = match values(&s, form) {
        Ok(input) => skill_settings::save(&state.ctx, &v.scope, skill_id, input).await,
        Err(e) => {
            return page(
                state,
                v,
                face,
                skill_id,
                None,
                Some(e),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    let (error, status) = match outcome {
        Ok(_) => {
            let to = format!("{}?done=skill_settings_saved", face.action(skill_id));
            return Ok(Redirect::to(&to).into_response());
        }
        Err(CoreError::Validation(e)) => (
            format!("{}: {}", e.field, e.message),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        Err(CoreError::Conflict(why)) => {
            (format!("Nothing was changed: {why}."), StatusCode::CONFLICT)
        }
        Err(e) => return Err(e.into()),
    };
    page(state, v, face, skill_id, None, Some(error), status).await
}

/// `POST /admin/ovos/skills/{skill_id}/settings` (requires `platform:tenants`).
pub async fn admin_save(
    State(state): State<PortalState>,
    Path(skill_id): Path<String>,
    CsrfForm(v, f): CsrfForm<SettingsForm>,
) -> Result<Response, PageError> {
    if !v.scope.has(Permission::PlatformTenants) {
        return Err(PageError::Forbidden(Permission::PlatformTenants));
    }
    save(&state, &v, Face::Admin, &skill_id, &f.fields).await
}

/// `POST /voice/skills/{skill_id}/settings` (requires `settings:manage`; per-tenant-safe
/// skills only).
pub async fn tenant_save(
    State(state): State<PortalState>,
    Path(skill_id): Path<String>,
    CsrfForm(v, f): CsrfForm<SettingsForm>,
) -> Result<Response, PageError> {
    save(&state, &v, Face::Tenant, &skill_id, &f.fields).await
}

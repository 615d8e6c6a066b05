//! `/voice/custom` (requires `projects:view`; changes require `settings:manage`): custom
//! voices. Upload a sample (checked at once, each problem with guidance), follow the job that
//! makes the voice (the table polls itself while one runs), then on the voice's page hear it
//! say any text, rename it, make it the default, or delete it.

use crate::PortalState;
use crate::chrome::Chrome;
use crate::error::{PageError, render};
use crate::extract::{CsrfForm, CsrfOnly, Require, Visitor, has_csrf, perm};
use askama::Template;
use avb_core::CoreError;
use avb_core::services::custom_voices::{self, CustomVoiceView, MAX_SAMPLE_BYTES, MethodView};
use avb_domain::Permission;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

const BASE: &str = "/voice/custom";
const PAGE_SIZE: u64 = 25;

/// One voice as the table shows it.
pub struct VoiceRow {
    pub v: CustomVoiceView,
    pub percent: u32,
    pub similarity: String,
    pub best_stock: String,
    pub created: String,
}

impl VoiceRow {
    fn new(v: CustomVoiceView) -> Self {
        let pct = |x: Option<f64>| x.map(|s| format!("{:.0}%", s * 100.0)).unwrap_or_default();
        Self {
            percent: (v.progress * 100.0).round() as u32,
            similarity: pct(v.similarity),
            best_stock: match (&v.best_stock_voice, v.best_stock_similarity) {
                (Some(name), Some(s)) => format!("{name} {:.0}%", s * 100.0),
                _ => String::new(),
            },
            created: v.created_at.format("%Y-%m-%d %H:%M").to_string(),
            v,
        }
    }

    fn pending(&self) -> bool {
        matches!(self.v.status.as_str(), "queued" | "making")
    }
}

#[derive(Template)]
#[template(path = "voice/_custom_table.html")]
struct VoicesTable {
    rows: Vec<VoiceRow>,
    next: Option<String>,
    /// Set while a job runs: the table polls itself.
    live_url: Option<String>,
}

#[derive(Template)]
#[template(path = "voice/custom.html")]
struct CustomPage {
    chrome: Chrome,
    can_edit: bool,
    methods: Vec<MethodView>,
    any_method: bool,
    table: VoicesTable,
    max_mb: usize,
    name: String,
    method: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "voice/custom_detail.html")]
struct DetailPage {
    chrome: Chrome,
    can_edit: bool,
    row: VoiceRow,
    is_default: bool,
    text: String,
    preview_src: Option<String>,
    name: String,
    error: Option<String>,
}

/// `?after=&done=`.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    after: String,
    #[serde(default)]
    done: String,
}

async fn table(state: &PortalState, v: &Visitor, after: &str) -> Result<VoicesTable, PageError> {
    let after_id = after.parse().ok();
    let listed = custom_voices::list(
        &state.ctx,
        &v.scope,
        avb_core::PageRequest {
            limit: PAGE_SIZE,
            after: after_id,
        },
    )
    .await?;
    let rows: Vec<VoiceRow> = listed.items.into_iter().map(VoiceRow::new).collect();
    let live = rows.iter().any(VoiceRow::pending);
    Ok(VoicesTable {
        live_url: live.then(|| match after_id {
            Some(a) => format!("{BASE}/table?after={a}"),
            None => format!("{BASE}/table"),
        }),
        next: listed.next.map(|id| format!("{BASE}?after={id}")),
        rows,
    })
}

async fn list_page(
    state: &PortalState,
    v: &Visitor,
    q: &ListQuery,
    refused: Option<(String, String, String)>,
) -> Result<Response, PageError> {
    let methods = custom_voices::methods(&state.ctx, &v.scope)?;
    let table = table(state, v, &q.after).await?;
    let (name, method, error, status) = match refused {
        Some((n, m, e)) => (n, m, Some(e), StatusCode::UNPROCESSABLE_ENTITY),
        None => (String::new(), String::new(), None, StatusCode::OK),
    };
    let page = CustomPage {
        chrome: v.chrome(BASE, Some(&q.done)),
        can_edit: v.scope.has(Permission::SettingsManage),
        any_method: methods.iter().any(|m| m.available),
        method: if method.is_empty() {
            methods
                .iter()
                .find(|m| m.available)
                .map(|m| m.method.clone())
                .unwrap_or_default()
        } else {
            method
        },
        methods,
        table,
        max_mb: MAX_SAMPLE_BYTES / (1024 * 1024),
        name,
        error,
    };
    Ok(render(&page, status))
}

/// `GET /voice/custom` (requires `projects:view`).
pub async fn list(
    State(state): State<PortalState>,
    v: Require<perm::ProjectsView>,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    list_page(&state, &v, &q, None).await
}

/// `GET /voice/custom/table` (requires `projects:view`): the table alone, polled every 2 s
/// while a voice is being made.
pub async fn live_table(
    State(state): State<PortalState>,
    v: Require<perm::ProjectsView>,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    let t = table(&state, &v, &q.after).await?;
    Ok(render(&t, StatusCode::OK))
}

/// Reads the upload form: (file, name, method, csrf), or what to tell the user.
async fn read_form(
    form: Result<Multipart, MultipartRejection>,
) -> Result<(Vec<u8>, String, String, String), String> {
    let too_large = || {
        format!(
            "file: is too large; the limit is {} MB",
            MAX_SAMPLE_BYTES / (1024 * 1024)
        )
    };
    let mut form = form.map_err(|_| "file: send the form as multipart/form-data".to_string())?;
    let (mut file, mut name, mut method, mut csrf) =
        (Vec::new(), String::new(), String::new(), String::new());
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_large()),
            Err(e) => {
                return Err(format!(
                    "file: the upload could not be read ({})",
                    e.body_text()
                ));
            }
        };
        let field_name = field.name().unwrap_or_default().to_string();
        if field_name == "file" {
            file = match field.bytes().await {
                Ok(b) => b.to_vec(),
                Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_large()),
                Err(e) => {
                    return Err(format!(
                        "file: the upload could not be read ({})",
                        e.body_text()
                    ));
                }
            };
        } else {
            let text = field.text().await.unwrap_or_default();
            match field_name.as_str() {
                "name" => name = text,
                "method" => method = text,
                "csrf" => csrf = text,
                _ => {}
            }
        }
    }
    Ok((file, name, method, csrf))
}

/// `POST /voice/custom` (requires `settings:manage`): checks the sample and queues the voice.
pub async fn create(
    State(state): State<PortalState>,
    v: Visitor,
    form: Result<Multipart, MultipartRejection>,
) -> Result<Response, PageError> {
    let q = ListQuery::default();
    let (file, name, method, csrf) = match read_form(form).await {
        Ok(f) => f,
        Err(e) => return list_page(&state, &v, &q, Some((String::new(), String::new(), e))).await,
    };
    v.check_form(&csrf)?;
    if !v.scope.has(Permission::SettingsManage) {
        return Err(PageError::Forbidden(Permission::SettingsManage));
    }
    match custom_voices::create(&state.ctx, &v.scope, &name, &method, &file).await {
        Ok(_) => Ok(Redirect::to(&format!("{BASE}?done=custom_voice_queued")).into_response()),
        Err(CoreError::Validation(e)) => {
            let msg = format!("{}: {}", e.field, e.message);
            list_page(&state, &v, &q, Some((name, method, msg))).await
        }
        Err(CoreError::LimitReached(m) | CoreError::Conflict(m)) => {
            list_page(&state, &v, &q, Some((name, method, m))).await
        }
        Err(e) => Err(e.into()),
    }
}

/// `?text=` of the preview on a voice's page, and `?done=`.
#[derive(Debug, Default, Deserialize)]
pub struct DetailQuery {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    done: String,
}

async fn detail_page(
    state: &PortalState,
    v: &Visitor,
    id: &str,
    q: &DetailQuery,
    refused: Option<(String, String)>,
) -> Result<Response, PageError> {
    let voice = custom_voices::get(&state.ctx, &v.scope, id)
        .await
        .map_err(PageError::or_not_found("custom voice"))?;
    let profile = avb_core::services::voice_profiles::get(&state.ctx, &v.scope, None).await?;
    let text = q.text.clone().unwrap_or_default();
    let preview_src = (voice.is_ready() && q.text.is_some()).then(|| {
        format!(
            "/voice/preview?voice={}&text={}",
            voice.id,
            crate::sessions::urlencode(&text)
        )
    });
    let (name, error, status) = match refused {
        Some((n, e)) if n.is_empty() => (voice.name.clone(), Some(e), StatusCode::CONFLICT),
        Some((n, e)) => (n, Some(e), StatusCode::UNPROCESSABLE_ENTITY),
        None => (voice.name.clone(), None, StatusCode::OK),
    };
    let page = DetailPage {
        chrome: v.chrome(BASE, Some(&q.done)),
        can_edit: v.scope.has(Permission::SettingsManage),
        is_default: profile.voice.as_deref() == Some(voice.id.as_str()),
        row: VoiceRow::new(voice),
        text,
        preview_src,
        name,
        error,
    };
    Ok(render(&page, status))
}

/// `GET /voice/custom/{id}` (requires `projects:view`): the voice, its job, and a preview of
/// the typed text.
pub async fn detail(
    State(state): State<PortalState>,
    v: Require<perm::ProjectsView>,
    Path(id): Path<String>,
    Query(q): Query<DetailQuery>,
) -> Result<Response, PageError> {
    detail_page(&state, &v, &id, &q, None).await
}

/// The rename form.
#[derive(Debug, Deserialize)]
pub struct RenameForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    csrf: String,
}
has_csrf!(RenameForm);

fn done(id: &str, code: &str) -> Response {
    Redirect::to(&format!("{BASE}/{id}?done={code}")).into_response()
}

/// `POST /voice/custom/{id}/rename` (requires `settings:manage`).
pub async fn rename(
    State(state): State<PortalState>,
    Path(id): Path<String>,
    CsrfForm(v, f): CsrfForm<RenameForm>,
) -> Result<Response, PageError> {
    match custom_voices::rename(&state.ctx, &v.scope, &id, &f.name).await {
        Ok(voice) => Ok(done(&voice.id, "custom_voice_renamed")),
        Err(CoreError::Validation(e)) => {
            let msg = format!("{}: {}", e.field, e.message);
            detail_page(
                &state,
                &v,
                &id,
                &DetailQuery::default(),
                Some((f.name, msg)),
            )
            .await
        }
        Err(e) => Err(PageError::or_not_found("custom voice")(e)),
    }
}

/// `POST /voice/custom/{id}/default` (requires `settings:manage`): the tenant's default voice.
pub async fn make_default(
    State(state): State<PortalState>,
    Path(id): Path<String>,
    CsrfForm(v, _): CsrfForm<CsrfOnly>,
) -> Result<Response, PageError> {
    match custom_voices::set_default(&state.ctx, &v.scope, &id).await {
        Ok(()) => Ok(done(&id, "custom_voice_default")),
        Err(CoreError::Conflict(m)) => {
            let name = String::new();
            detail_page(&state, &v, &id, &DetailQuery::default(), Some((name, m))).await
        }
        Err(e) => Err(PageError::or_not_found("custom voice")(e)),
    }
}

/// `POST /voice/custom/{id}/delete` (requires `settings:manage`; the form asks for
/// confirmation first). A voice in use is refused with where it is used.
pub async fn delete(
    State(state): State<PortalState>,
    Path(id): Path<String>,
    CsrfForm(v, _): CsrfForm<CsrfOnly>,
) -> Result<Response, PageError> {
    match custom_voices::delete(&state.ctx, &v.scope, &id).await {
        Ok(()) => Ok(Redirect::to(&format!("{BASE}?done=custom_voice_deleted")).into_response()),
        Err(CoreError::Conflict(m)) => {
            detail_page(
                &state,
                &v,
                &id,
                &DetailQuery::default(),
                Some((String::new(), m)),
            )
            .await
        }
        Err(e) => Err(PageError::or_not_found("custom voice")(e)),
    }
}

//! The shell around every signed-in page: navigation by role, who is signed in, toasts.

use crate::visitor::Visitor;
use avb_core::Scope;
use avb_domain::Permission;

/// One navigation entry: a link, or a disabled item naming the permission it needs.
pub struct NavItem {
    pub label: &'static str,
    pub href: &'static str,
    pub icon: &'static str,
    pub current: bool,
    /// The permission the visitor lacks for this page (`None`: the link works).
    pub needs: Option<&'static str>,
    /// The heading of the group this entry opens (the first entry of a group carries it).
    pub group_start: Option<&'static str>,
}

/// The portal's pages in navigation order: label, path, icon, and the permission that opens it
/// (`None`: everyone signed in).
const NAV: &[(&str, &str, &str, Option<Permission>)] = &[
    ("Dashboard", "/dashboard", "◧", None),
    ("Sessions", "/sessions", "☏", Some(Permission::SessionsView)),
    ("Projects", "/projects", "▤", Some(Permission::ProjectsView)),
    ("API keys", "/api-keys", "⚷", Some(Permission::ApiKeysView)),
    ("Usage", "/usage", "▥", Some(Permission::UsageView)),
    ("Billing", "/billing", "¤", Some(Permission::BillingView)),
    // The "Voice agent" group (see GROUPS).
    ("Voice", "/voice", "♪", Some(Permission::ProjectsView)),
    (
        "Playground",
        "/voice/playground",
        "▶",
        Some(Permission::RealtimeConnect),
    ),
    (
        "Speech to text",
        "/voice/stt",
        "✎",
        Some(Permission::ProjectsView),
    ),
    (
        "Language model",
        "/voice/llm",
        "✦",
        Some(Permission::ProjectsView),
    ),
    (
        "Personas",
        "/voice/personas",
        "☻",
        Some(Permission::ProjectsView),
    ),
    (
        "Custom voices",
        "/voice/custom",
        "♫",
        Some(Permission::ProjectsView),
    ),
    (
        "Skills",
        "/voice/skills",
        "⚡",
        Some(Permission::ProjectsView),
    ),
    (
        "Intents",
        "/voice/intents",
        "◎",
        Some(Permission::UsageView),
    ),
    (
        "Wake words",
        "/voice/wake-words",
        "◌",
        Some(Permission::ProjectsView),
    ),
    ("Team", "/team", "☺", Some(Permission::TeamView)),
    (
        "Settings",
        "/settings",
        "⚙",
        Some(Permission::SettingsManage),
    ),
    ("Account", "/account", "◉", None),
];

/// Where a navigation group starts: the href of its first entry and its heading. The group runs
/// until the next group starts.
const GROUPS: &[(&str, &str)] = &[("/voice", "Voice agent"), ("/team", "Workspace")];

/// The SaaS admin's pages.
const ADMIN_NAV: &[(&str, &str, &str, Option<Permission>)] = &[
    ("Overview", "/admin", "◧", Some(Permission::PlatformTenants)),
    (
        "Tenants",
        "/admin/tenants",
        "▤",
        Some(Permission::PlatformTenants),
    ),
    (
        "Billing",
        "/admin/billing",
        "¤",
        Some(Permission::PlatformTenants),
    ),
    (
        "Plans",
        "/admin/plans",
        "▦",
        Some(Permission::PlatformTenants),
    ),
    (
        "Users",
        "/admin/users",
        "☺",
        Some(Permission::PlatformUsers),
    ),
    (
        "Audit",
        "/admin/audit",
        "☰",
        Some(Permission::PlatformAudit),
    ),
    (
        "Monitoring",
        "/admin/monitoring",
        "♥",
        Some(Permission::PlatformTenants),
    ),
    (
        "Voice pipeline",
        "/admin/pipeline",
        "⇶",
        Some(Permission::PlatformTenants),
    ),
    (
        "OVOS bus",
        "/admin/ovos",
        "⇄",
        Some(Permission::PlatformTenants),
    ),
    ("Account", "/account", "◉", None),
];

/// What every signed-in page's shell shows: navigation, the logout form's token, who is signed
/// in, and a toast after a completed action.
pub struct Chrome {
    pub nav: Vec<NavItem>,
    pub csrf: String,
    pub who: String,
    pub toast: Option<&'static str>,
    /// The tenant a SaaS admin is viewing read-only (shown in a banner with a way out).
    pub impersonating: Option<String>,
}

/// The message of a `?done=<code>` toast; unknown codes show nothing (no reflected text).
fn toast_message(code: &str) -> Option<&'static str> {
    Some(match code {
        "project_created" => "Project created.",
        "key_revoked" => "Key revoked.",
        "session_ended" => "Session ended.",
        "invited" => "Invitation sent.",
        "role_changed" => "Role changed.",
        "member_removed" => "Member removed.",
        "invitation_revoked" => "Invitation revoked.",
        "settings_saved" => "Settings saved.",
        "voice_saved" => "Voice settings saved. New sessions use them now.",
        "ovos_saved" => "Skill settings saved. New sessions use them.",
        "totp_keycloak" => "Keycloak will ask you to set up an authenticator at your next sign-in.",
        "skill_settings_saved" => "Settings saved and applied to ovos-core.",
        "skill_installing" => "Installing the skill; its progress shows below.",
        "wake_word_added" => "Wake word added. It listens from the next voice turn.",
        "wake_word_saved" => "Wake word saved. The change applies from the next voice turn.",
        "wake_word_deleted" => "Wake word deleted.",
        "wake_event_marked" => "Event marked.",
        "skill_enabled" => "Skill turned on for your team.",
        "skill_disabled" => "Skill turned off for your team.",
        "tenant_created" => "Tenant created. The owner was sent an invitation.",
        "plan_created" => "Plan created. Tenants can choose it now.",
        "plan_updated" => {
            "Saved as a new version. New subscriptions get it; subscribers keep theirs."
        }
        "plan_deprecated" => "Plan deprecated. It is no longer offered; its subscribers keep it.",
        "plan_reactivated" => "The plan is offered again.",
        "invoice_payment" => "Payment status recorded.",
        "payment_retried" => "A new payment attempt was made; its outcome shows on the invoice.",
        "bus_restarted" => "The bus was restarted; clients reconnect by themselves.",
        "card_saved" => "Card saved; invoices are charged to it.",
        "card_removed" => "Card removed.",
        "invoice_voided" => "Invoice voided. The tenant was told by mail and webhook.",
        "credit_granted" => "Credit granted. It is applied to the tenant's next invoices.",
        "plan_upgraded" => "Plan upgraded. The prorated difference is on a new invoice below.",
        "plan_scheduled" => "The plan change is scheduled for the end of this billing period.",
        "plan_unchanged" => "You are already on this plan.",
        "plan_change_cancelled" => "The scheduled plan change is cancelled.",
        "custom_voice_queued" => {
            "Sample accepted. The voice is being made; this page shows its progress."
        }
        "custom_voice_renamed" => "Voice renamed.",
        "custom_voice_default" => "This voice is now the default. New sessions use it now.",
        "custom_voice_deleted" => "Voice deleted.",
        "password_changed" => "Password changed. Your other sessions were signed out.",
        "totp_enabled" => "Two-factor authentication is on.",
        "totp_disabled" => "Two-factor authentication is off.",
        "sessions_ended" => "Your other sessions were signed out.",
        "webhook_created" => "Webhook endpoint added.",
        "webhook_deleted" => "Webhook endpoint removed.",
        "suspended" => "Tenant suspended: its keys and live sessions stopped.",
        "reactivated" => "Tenant reactivated: its keys work again.",
        "user_disabled" => "User disabled and signed out everywhere.",
        "user_enabled" => "User enabled.",
        "reset_sent" => "Password reset e-mail queued.",
        "rule_created" => "Alert rule added.",
        "rule_deleted" => "Alert rule deleted.",
        "persona_created" => "Persona created as a draft. Publish it so sessions can use it.",
        "persona_saved" => "Draft saved. Sessions use the published version until you publish.",
        "persona_published" => "Published: new sessions use this version.",
        "persona_rolled_back" => "Rolled back: new sessions use the chosen version.",
        "persona_archived" => "Persona archived: new sessions no longer use it.",
        "persona_deleted" => {
            "Persona deleted. Projects that used it fall back to the tenant default."
        }
        "persona_default" => "Tenant default persona set.",
        "persona_project_default" => "Project default persona changed.",
        "llm_key_removed" => "Provider key removed.",
        _ => return None,
    })
}

impl Visitor {
    /// The shell of the page at `current`, with the toast for `done` if any.
    pub fn chrome(&self, current: &str, done: Option<&str>) -> Chrome {
        Chrome {
            nav: nav(&self.scope, current),
            csrf: self.csrf.clone(),
            who: self.scope.actor().label(),
            toast: done.and_then(toast_message),
            impersonating: self.impersonating.clone(),
        }
    }
}

pub(crate) fn nav(scope: &Scope, current: &str) -> Vec<NavItem> {
    let table = if scope.is_saas_admin() && scope.tenant().is_none() {
        ADMIN_NAV
    } else {
        NAV
    };
    table
        .iter()
        .map(|(label, href, icon, perm)| NavItem {
            label,
            href,
            icon,
            current: *href == current,
            needs: perm.filter(|p| !scope.has(*p)).map(|p| p.as_str()),
            group_start: GROUPS
                .iter()
                .find(|(first, _)| first == href)
                .map(|(_, heading)| *heading),
        })
        .collect()
}

// Local OpenID Connect provider for the portal's OIDC login tests.
//
// Built on panva's `oidc-provider` (version pinned in package.json). Start with
//   node tests/oidc/provider.mjs
// Env:
//   OIDC_PORT                       listen port (127.0.0.1 only); issuer = http://127.0.0.1:$OIDC_PORT
//   OIDC_CLIENT_ID, OIDC_CLIENT_SECRET
//   OIDC_REDIRECT_URI               registered redirect_uri (exact match)
//   OIDC_POST_LOGOUT_REDIRECT_URI   registered post_logout_redirect_uri (exact match)
//   OIDC_USERS                      JSON array: [{"sub","email","password","name"[,"email_verified"]}]
//
// Prints exactly one line `ready <issuer>` on stdout once listening (library notices go to stderr).
// Exits 0 on SIGTERM / SIGINT. State (sessions, codes, tokens) is in memory and lost on exit.
//
// Interactions are served by this script (no devInteractions):
//   GET  /interaction/:uid         login form (#username, #password) or, for a consent prompt,
//                                  an automatic grant of everything requested (303, no consent page)
//   POST /interaction/:uid/login   form fields `username` (email) + `password`; on success the login
//                                  and a Grant for all requested scopes/claims are recorded (303);
//                                  on failure the form is re-rendered (200) with <p id="error">.
//   GET  /interaction/:uid/abort   ends the interaction with error=access_denied.
// RP-initiated logout: GET /session/end?... answers 303 -> /session/end/auto?xsrf=… which performs
// the library's confirm step ("logout=yes") and 303s to post_logout_redirect_uri (?state=…). The
// library's own confirm endpoint (POST /session/end/confirm, form xsrf + logout=yes) still works.

import * as crypto from 'node:crypto';
import * as http from 'node:http';

import Provider from 'oidc-provider';

// oidc-provider prints NOTICEs with console.info (stdout); keep stdout for the `ready` line only.
console.info = (...args) => console.error(...args);

function requireEnv(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`provider.mjs: missing env ${name}`);
    process.exit(2);
  }
  return v;
}

const PORT = Number.parseInt(requireEnv('OIDC_PORT'), 10);
const HOST = '127.0.0.1';
const ISSUER = `http://${HOST}:${PORT}`;
const CLIENT_ID = requireEnv('OIDC_CLIENT_ID');
const CLIENT_SECRET = requireEnv('OIDC_CLIENT_SECRET');
const REDIRECT_URI = requireEnv('OIDC_REDIRECT_URI');
const POST_LOGOUT_REDIRECT_URI = requireEnv('OIDC_POST_LOGOUT_REDIRECT_URI');

let USERS;
try {
  USERS = JSON.parse(requireEnv('OIDC_USERS'));
  if (!Array.isArray(USERS) || USERS.length === 0) throw new Error('must be a non-empty array');
  for (const u of USERS) {
    if (!u.sub || !u.email || typeof u.password !== 'string') {
      throw new Error('each user needs sub, email, password');
    }
  }
} catch (err) {
  console.error(`provider.mjs: bad OIDC_USERS: ${err.message}`);
  process.exit(2);
}

const findUserBySub = (sub) => USERS.find((u) => u.sub === sub);
const findUserByLogin = (login) => {
  const l = String(login || '').trim().toLowerCase();
  return USERS.find((u) => u.email.toLowerCase() === l || u.sub === l);
};
const passwordMatches = (user, password) => {
  const a = crypto.createHash('sha256').update(user.password).digest();
  const b = crypto.createHash('sha256').update(String(password ?? '')).digest();
  return crypto.timingSafeEqual(a, b);
};

// Signing key generated at start (RS256), published at the jwks_uri.
const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingJwk = {
  ...privateKey.export({ format: 'jwk' }),
  kid: crypto.randomBytes(8).toString('hex'),
  alg: 'RS256',
  use: 'sig',
};

const SCOPES = ['openid', 'email', 'profile', 'offline_access'];

const configuration = {
  clients: [
    {
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      redirect_uris: [REDIRECT_URI],
      post_logout_redirect_uris: [POST_LOGOUT_REDIRECT_URI],
      response_types: ['code'],
      grant_types: ['authorization_code', 'refresh_token'],
      // registered as client_secret_basic; oidc-provider 9 accepts client_secret_post for it as well
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
      application_type: 'web',
    },
  ],
  jwks: { keys: [signingJwk] },
  cookies: {
    keys: [crypto.randomBytes(32).toString('base64url')],
    // plain http on 127.0.0.1: never mark cookies Secure
    long: { httpOnly: true, sameSite: 'lax', secure: false },
    short: { httpOnly: true, sameSite: 'lax', secure: false },
  },
  scopes: SCOPES,
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
  },
  // put scope-granted claims (email, email_verified, name) into the ID token too, not only userinfo
  conformIdTokenClaims: false,
  async findAccount(ctx, sub) {
    const user = findUserBySub(sub);
    if (!user) return undefined;
    return {
      accountId: user.sub,
      async claims() {
        return {
          sub: user.sub,
          email: user.email,
          email_verified: user.email_verified ?? true,
          name: user.name ?? user.email,
        };
      },
    };
  },
  pkce: { required: () => true }, // only S256 is supported by oidc-provider 9
  // refresh token for every code exchange by a client allowed to use refresh_token
  // (no dependence on offline_access surviving the "prompt=consent" rule)
  async issueRefreshToken(ctx, client) {
    return client.grantTypeAllowed('refresh_token');
  },
  features: {
    devInteractions: { enabled: false },
    rpInitiatedLogout: {
      enabled: true,
      // only seen if the 303 rewrite below is bypassed; submit the form with logout=yes
      async logoutSource(ctx, form) {
        ctx.body = `<!DOCTYPE html><html><head><title>Sign out</title></head><body>${form}
<button type="submit" form="op.logoutForm" name="logout" value="yes">Sign out</button></body></html>`;
      },
      async postLogoutSuccessSource(ctx) {
        ctx.body = '<!DOCTYPE html><html><head><title>Signed out</title></head><body><p id="signed-out">Signed out.</p></body></html>';
      },
    },
    revocation: { enabled: true },
    userinfo: { enabled: true },
  },
  interactions: {
    url: (ctx, interaction) => `/interaction/${interaction.uid}`,
  },
  ttl: {
    AccessToken: 3600,
    AuthorizationCode: 60,
    IdToken: 3600,
    RefreshToken: 14 * 24 * 3600,
    Interaction: 3600,
    Session: 14 * 24 * 3600,
    Grant: 14 * 24 * 3600,
  },
  async renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = `<!DOCTYPE html><html><head><title>OIDC error</title></head><body><h1>error</h1>${
      Object.entries(out).map(([k, v]) => `<p id="${esc(k)}">${esc(k)}: ${esc(v)}</p>`).join('')
    }</body></html>`;
  },
};

function esc(s) {
  return String(s ?? '').replace(/[&<>"']/g, (c) => ({
    '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
  })[c]);
}

const provider = new Provider(ISSUER, configuration);
provider.proxy = false;

provider.on('server_error', (ctx, err) => console.error('server_error', err));

// --- RP-initiated logout without a confirmation page -------------------------------------------
// GET/POST /session/end renders (library) a confirm form or an auto-submit form carrying `xsrf`.
// Replace that HTML with 303 -> /session/end/auto?xsrf=…; that GET is turned into the library's
// POST /session/end/confirm (xsrf + logout=yes), which ends the session and 303s to the
// registered post_logout_redirect_uri (with state) or to /session/end/success.
provider.use(async (ctx, next) => {
  if (ctx.method === 'GET' && ctx.path === '/session/end/auto') {
    const xsrf = String(ctx.query.xsrf || '');
    // drain the (empty) GET body so oidc-provider takes the pre-parsed body below
    for await (const _ of ctx.req) { /* empty */ }
    ctx.req.headers['content-type'] = 'application/x-www-form-urlencoded';
    ctx.req.headers['content-length'] = '0';
    ctx.req.body = { xsrf, logout: 'yes' };
    ctx.method = 'POST';
    ctx.path = '/session/end/confirm';
    return next();
  }
  await next();
  if ((ctx.method === 'GET' || ctx.method === 'POST') && ctx.path === '/session/end'
      && ctx.status === 200 && typeof ctx.body === 'string') {
    const m = /name="xsrf" value="([0-9a-f]+)"/.exec(ctx.body);
    if (m) {
      ctx.status = 303;
      ctx.redirect(`/session/end/auto?xsrf=${m[1]}`);
    }
  }
});

// --- interactions (login page + automatic consent) ---------------------------------------------
function loginPage(uid, details, { error, username } = {}) {
  const clientId = details.params.client_id;
  return `<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>Sign in</title></head>
<body>
  <h1>Sign in to ${esc(clientId)}</h1>
  ${error ? `<p id="error" class="error">${esc(error)}</p>` : ''}
  <form id="login-form" method="post" action="/interaction/${esc(uid)}/login" autocomplete="off">
    <label for="username">Email</label>
    <input id="username" name="username" type="email" required autofocus value="${esc(username)}">
    <label for="password">Password</label>
    <input id="password" name="password" type="password" required>
    <button id="submit" type="submit">Sign in</button>
  </form>
  <a id="abort" href="/interaction/${esc(uid)}/abort">Cancel</a>
</body>
</html>`;
}

function sendHtml(res, status, html) {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.end(html);
}

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const c of req) {
    size += c.length;
    if (size > 64 * 1024) throw new Error('body too large');
    chunks.push(c);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

// claims named in a `claims` request parameter (OIDC Core 5.5)
function requestedClaims(params) {
  if (!params.claims) return [];
  try {
    const c = typeof params.claims === 'string' ? JSON.parse(params.claims) : params.claims;
    return [...new Set([...Object.keys(c.id_token || {}), ...Object.keys(c.userinfo || {})])];
  } catch {
    return [];
  }
}

// Grant everything that was asked for (no consent screen).
async function autoGrant(details, accountId) {
  const { prompt, params } = details;
  let grant;
  if (details.grantId) {
    grant = await provider.Grant.find(details.grantId);
  }
  if (!grant) {
    grant = new provider.Grant({ accountId, clientId: params.client_id });
  }
  const scopes = String(params.scope || '').split(' ').filter((s) => SCOPES.includes(s));
  if (scopes.length) grant.addOIDCScope(scopes.join(' '));
  const d = prompt?.details || {};
  if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
  const claims = [...requestedClaims(params), ...(d.missingOIDCClaims || [])];
  if (claims.length) grant.addOIDCClaims(claims);
  if (d.missingResourceScopes) {
    for (const [indicator, s] of Object.entries(d.missingResourceScopes)) {
      grant.addResourceScope(indicator, s.join(' '));
    }
  }
  return grant.save();
}

async function handleInteraction(req, res, url) {
  const m = /^\/interaction\/([^/]+)(?:\/(login|abort))?\/?$/.exec(url.pathname);
  if (!m) return false;
  const [, uid, action] = m;
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) {
    sendHtml(res, 400, '<p id="error">interaction mismatch</p>');
    return true;
  }

  if (action === 'abort' && req.method === 'GET') {
    await provider.interactionFinished(req, res, {
      error: 'access_denied', error_description: 'End-User aborted interaction',
    }, { mergeWithLastSubmission: false });
    return true;
  }

  if (action === 'login' && req.method === 'POST') {
    const form = await readForm(req);
    const username = form.get('username') || '';
    const user = findUserByLogin(username);
    if (!user || !passwordMatches(user, form.get('password'))) {
      sendHtml(res, 200, loginPage(uid, details, { error: 'Invalid email or password.', username }));
      return true;
    }
    const grantId = await autoGrant(details, user.sub);
    await provider.interactionFinished(req, res, {
      login: { accountId: user.sub },
      consent: { grantId },
    }, { mergeWithLastSubmission: false });
    return true;
  }

  if (!action && req.method === 'GET') {
    if (details.prompt.name === 'login') {
      sendHtml(res, 200, loginPage(uid, details));
      return true;
    }
    // consent (or any other prompt once logged in): grant automatically
    const grantId = await autoGrant(details, details.session?.accountId);
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    return true;
  }

  sendHtml(res, 405, '<p id="error">method not allowed</p>');
  return true;
}

const providerCallback = provider.callback();

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, ISSUER);
  try {
    if (url.pathname.startsWith('/interaction/')) {
      if (await handleInteraction(req, res, url)) return;
    }
    providerCallback(req, res);
  } catch (err) {
    const status = err.statusCode || err.status || 500;
    console.error(`interaction error: ${err.name}: ${err.message}`);
    if (!res.headersSent) {
      sendHtml(res, status, `<p id="error">${esc(err.name)}: ${esc(err.message)}</p>`);
    } else {
      res.end();
    }
  }
});

server.listen(PORT, HOST, () => {
  process.stdout.write(`ready ${ISSUER}\n`);
});

function shutdown(signal) {
  console.error(`provider.mjs: ${signal}, shutting down`);
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

// Drives a RUNNING tests/oidc/provider.mjs through the full server-side OIDC flow, the way the
// portal (a confidential web client) and a browser would. Node built-ins only (fetch, crypto).
//
//   node tests/oidc/flow-check.mjs
// Env: the same as provider.mjs (OIDC_PORT or OIDC_ISSUER, OIDC_CLIENT_ID, OIDC_CLIENT_SECRET,
// OIDC_REDIRECT_URI, OIDC_POST_LOGOUT_REDIRECT_URI, OIDC_USERS — the first user is used).
// Exit code 0 when every check passed, 1 otherwise.

import * as crypto from 'node:crypto';

const env = (n) => {
  const v = process.env[n];
  if (!v) throw new Error(`missing env ${n}`);
  return v;
};
const ISSUER = process.env.OIDC_ISSUER || `http://127.0.0.1:${env('OIDC_PORT')}`;
const CLIENT_ID = env('OIDC_CLIENT_ID');
const CLIENT_SECRET = env('OIDC_CLIENT_SECRET');
const REDIRECT_URI = env('OIDC_REDIRECT_URI');
const POST_LOGOUT = env('OIDC_POST_LOGOUT_REDIRECT_URI');
const USER = JSON.parse(env('OIDC_USERS'))[0];

let step = 0;
const log = (msg) => console.log(`[${String(++step).padStart(2, '0')}] ${msg}`);
const info = (msg) => console.log(`     ${msg}`);
function check(cond, msg) {
  if (!cond) throw new Error(`CHECK FAILED: ${msg}`);
}
const b64url = (buf) => Buffer.from(buf).toString('base64url');
const short = (s, n = 24) => (s.length > n ? `${s.slice(0, n)}…` : s);

// ---- tiny cookie jar (name + path aware, honours deletions) ----
const jar = new Map(); // key `${path}|${name}` -> {name, value, path}
function storeCookies(res, reqUrl) {
  for (const sc of res.headers.getSetCookie()) {
    const [pair, ...attrs] = sc.split(';').map((s) => s.trim());
    const eq = pair.indexOf('=');
    const name = pair.slice(0, eq);
    const value = pair.slice(eq + 1);
    let path = '/';
    let expired = value === '';
    for (const a of attrs) {
      const [k, v] = a.split('=');
      if (k.toLowerCase() === 'path') path = v;
      if (k.toLowerCase() === 'expires' && Date.parse(v) <= Date.now()) expired = true;
      if (k.toLowerCase() === 'max-age' && Number(v) <= 0) expired = true;
    }
    if (new URL(reqUrl).origin !== new URL(ISSUER).origin) continue;
    const key = `${path}|${name}`;
    if (expired) jar.delete(key); else jar.set(key, { name, value, path });
  }
}
function cookieHeader(url) {
  const u = new URL(url);
  if (u.origin !== new URL(ISSUER).origin) return '';
  return [...jar.values()]
    .filter((c) => u.pathname === c.path || u.pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`))
    .map((c) => `${c.name}=${c.value}`).join('; ');
}

// browser-like request: manual redirects, cookies from the jar
async function browser(url, { method = 'GET', form } = {}) {
  const headers = {};
  const cookie = cookieHeader(url);
  if (cookie) headers.cookie = cookie;
  let body;
  if (form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(form).toString();
  }
  const res = await fetch(url, { method, headers, body, redirect: 'manual' });
  storeCookies(res, url);
  const location = res.headers.get('location');
  const text = await res.text();
  info(`${method} ${url.replace(ISSUER, '')}  ->  ${res.status}${location ? `  Location: ${location.replace(ISSUER, '')}` : ''}`);
  return { status: res.status, location: location && new URL(location, url).href, text };
}

// follow 30x until the Location starts with `stopPrefix` (not requested) or a non-redirect answer
async function follow(url, stopPrefix, opts) {
  let r = await browser(url, opts);
  for (let i = 0; i < 10 && r.location; i++) {
    if (stopPrefix && r.location.startsWith(stopPrefix)) return { ...r, stoppedAt: r.location };
    r = await browser(r.location);
  }
  return r;
}

async function tokenRequest(tokenEndpoint, params, auth = 'basic') {
  const headers = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
  const p = new URLSearchParams(params);
  if (auth === 'basic') {
    // RFC 6749 2.3.1: form-urlencode id and secret, then base64
    const cred = `${encodeURIComponent(CLIENT_ID)}:${encodeURIComponent(CLIENT_SECRET)}`;
    headers.authorization = `Basic ${Buffer.from(cred).toString('base64')}`;
  } else {
    p.set('client_id', CLIENT_ID);
    p.set('client_secret', CLIENT_SECRET);
  }
  const res = await fetch(tokenEndpoint, { method: 'POST', headers, body: p.toString() });
  return { status: res.status, json: await res.json() };
}

function verifyIdToken(idToken, jwks, { nonce }) {
  const [h, p, s] = idToken.split('.');
  const header = JSON.parse(Buffer.from(h, 'base64url'));
  const payload = JSON.parse(Buffer.from(p, 'base64url'));
  check(header.alg === 'RS256', `alg RS256 (got ${header.alg})`);
  const jwk = jwks.keys.find((k) => k.kid === header.kid);
  check(jwk, `kid ${header.kid} in JWKS`);
  const key = crypto.createPublicKey({ key: jwk, format: 'jwk' });
  const ok = crypto.verify('sha256', Buffer.from(`${h}.${p}`), key, Buffer.from(s, 'base64url'));
  check(ok, 'ID token signature valid');
  const now = Math.floor(Date.now() / 1000);
  check(payload.iss === ISSUER, `iss == ${ISSUER}`);
  check(payload.aud === CLIENT_ID || (Array.isArray(payload.aud) && payload.aud.includes(CLIENT_ID)), 'aud contains client_id');
  if (nonce !== undefined) check(payload.nonce === nonce, 'nonce matches');
  check(payload.exp > now, 'exp in the future');
  check(payload.iat <= now + 5, 'iat not in the future');
  return { header, payload };
}

async function main() {
  // 1. discovery
  const disco = await (await fetch(`${ISSUER}/.well-known/openid-configuration`)).json();
  log(`discovery ${ISSUER}/.well-known/openid-configuration`);
  for (const k of ['issuer', 'authorization_endpoint', 'token_endpoint', 'userinfo_endpoint', 'jwks_uri', 'end_session_endpoint', 'revocation_endpoint']) {
    info(`${k} = ${disco[k]}`);
  }
  info(`code_challenge_methods_supported = ${JSON.stringify(disco.code_challenge_methods_supported)}`);
  check(disco.issuer === ISSUER, 'issuer matches');

  // 2. JWKS
  const jwks = await (await fetch(disco.jwks_uri)).json();
  log(`jwks: ${jwks.keys.map((k) => `${k.kty}/${k.alg}/kid=${k.kid}`).join(', ')}`);
  check(jwks.keys.every((k) => !k.d), 'JWKS holds public keys only');

  // 3. authorize URL with PKCE S256, state, nonce
  const verifier = b64url(crypto.randomBytes(32));
  const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');
  const state = b64url(crypto.randomBytes(16));
  const nonce = b64url(crypto.randomBytes(16));
  const authUrl = new URL(disco.authorization_endpoint);
  authUrl.search = new URLSearchParams({
    response_type: 'code',
    client_id: CLIENT_ID,
    redirect_uri: REDIRECT_URI,
    scope: 'openid email profile offline_access',
    state,
    nonce,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  }).toString();
  log(`authorize URL: ${authUrl.href}`);

  // 3b. PKCE is mandatory
  {
    const u = new URL(authUrl);
    u.searchParams.delete('code_challenge');
    u.searchParams.delete('code_challenge_method');
    const r = await browser(u.href);
    const err = r.location ? new URL(r.location).searchParams.get('error') : null;
    const desc = r.location ? new URL(r.location).searchParams.get('error_description') : null;
    info(`without PKCE -> error=${err} (${desc})`);
    check(err === 'invalid_request', 'authorize without code_challenge refused');
  }

  // 4. GET authorize -> login page
  log('GET authorize, follow redirects to the login page');
  const loginPage = await follow(authUrl.href);
  check(loginPage.status === 200, 'login page 200');
  check(/id="username"/.test(loginPage.text) && /id="password"/.test(loginPage.text), 'form has #username and #password');
  const action = /<form[^>]*action="([^"]+)"/.exec(loginPage.text)[1];
  const actionUrl = new URL(action, ISSUER).href;
  info(`login form: POST ${action}  fields: username, password`);

  // 5. wrong password
  log('POST login form with a wrong password');
  const bad = await browser(actionUrl, { method: 'POST', form: { username: USER.email, password: `${USER.password}-wrong` } });
  check(bad.status === 200 && !bad.location && /id="error"/.test(bad.text), 'wrong password re-renders the form with #error');
  info(`refused: ${/<p id="error"[^>]*>([^<]*)</.exec(bad.text)[1]}`);

  // 6. right password -> redirect_uri?code&state
  log('POST login form with the right password, follow redirects to redirect_uri');
  const done = await follow(actionUrl, REDIRECT_URI, { method: 'POST', form: { username: USER.email, password: USER.password } });
  check(done.stoppedAt, `redirected to ${REDIRECT_URI}`);
  const cb = new URL(done.stoppedAt);
  const code = cb.searchParams.get('code');
  info(`callback: code=${short(code)} state=${cb.searchParams.get('state')} iss=${cb.searchParams.get('iss')}`);
  check(code, 'code present');
  check(cb.searchParams.get('state') === state, 'state echoed');

  // 7. wrong verifier (does not burn the code)
  log('token endpoint with a wrong code_verifier');
  {
    const r = await tokenRequest(disco.token_endpoint, {
      grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: b64url(crypto.randomBytes(32)),
    });
    info(`-> ${r.status} ${JSON.stringify(r.json)}`);
    check(r.json.error === 'invalid_grant', 'wrong verifier is invalid_grant');
  }

  // 8. code exchange (client_secret_basic)
  log('POST token: grant_type=authorization_code (client_secret_basic)');
  const tok = await tokenRequest(disco.token_endpoint, {
    grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier,
  });
  info(`${tok.status} keys=${Object.keys(tok.json).join(',')} token_type=${tok.json.token_type} expires_in=${tok.json.expires_in} scope="${tok.json.scope}"`);
  check(tok.status === 200, `token 200 (${JSON.stringify(tok.json)})`);
  check(tok.json.id_token && tok.json.access_token && tok.json.refresh_token, 'id, access and refresh tokens issued');

  // 9. ID token verification
  log('verify ID token against JWKS (node:crypto)');
  const { header, payload } = verifyIdToken(tok.json.id_token, jwks, { nonce });
  info(`header=${JSON.stringify(header)}`);
  info(`payload=${JSON.stringify(payload)}`);
  check(payload.sub === USER.sub, 'sub');
  check(payload.email === USER.email && payload.email_verified === true, 'email + email_verified in ID token');

  // 10. userinfo
  const ui = await fetch(disco.userinfo_endpoint, { headers: { authorization: `Bearer ${tok.json.access_token}` } });
  log(`GET userinfo -> ${ui.status} ${JSON.stringify(await ui.json())}`);

  // 11. refresh
  log('POST token: grant_type=refresh_token');
  const ref = await tokenRequest(disco.token_endpoint, { grant_type: 'refresh_token', refresh_token: tok.json.refresh_token });
  info(`${ref.status} keys=${Object.keys(ref.json).join(',')} refresh_token rotated=${ref.json.refresh_token !== tok.json.refresh_token}`);
  check(ref.status === 200 && ref.json.access_token && ref.json.id_token, 'refresh gives new tokens');
  const refreshed = verifyIdToken(ref.json.id_token, jwks, {});
  info(`refreshed id_token sub=${refreshed.payload.sub} email=${refreshed.payload.email} nonce=${refreshed.payload.nonce}`);
  const latestRefresh = ref.json.refresh_token || tok.json.refresh_token;

  // 12. SSO: second authorize (prompt=consent) reuses the OP session, auto-consent, no login form;
  //     exchanged with client_secret_post this time
  log('second authorize with prompt=consent (OP session reused, consent auto-granted)');
  const v2 = b64url(crypto.randomBytes(32));
  const auth2 = new URL(authUrl);
  auth2.searchParams.set('code_challenge', crypto.createHash('sha256').update(v2).digest('base64url'));
  auth2.searchParams.set('prompt', 'consent');
  auth2.searchParams.set('state', 's2');
  const sso = await follow(auth2.href, REDIRECT_URI);
  check(sso.stoppedAt && new URL(sso.stoppedAt).searchParams.get('code'), 'code without login form');
  const tok2 = await tokenRequest(disco.token_endpoint, {
    grant_type: 'authorization_code', code: new URL(sso.stoppedAt).searchParams.get('code'), redirect_uri: REDIRECT_URI, code_verifier: v2,
  }, 'post');
  info(`client_secret_post exchange -> ${tok2.status} scope="${tok2.json.scope}" refresh_token=${tok2.json.refresh_token ? 'yes' : 'no'}`);
  check(tok2.status === 200 && tok2.json.refresh_token, 'client_secret_post accepted too');

  // 13. RP-initiated logout
  log('GET end_session (id_token_hint, post_logout_redirect_uri, state), follow redirects');
  const logoutState = b64url(crypto.randomBytes(8));
  const endUrl = new URL(disco.end_session_endpoint);
  endUrl.search = new URLSearchParams({
    id_token_hint: ref.json.id_token,
    post_logout_redirect_uri: POST_LOGOUT,
    state: logoutState,
  }).toString();
  const lo = await follow(endUrl.href, POST_LOGOUT);
  check(lo.stoppedAt, `logout ends at ${POST_LOGOUT}`);
  info(`ends at: ${lo.stoppedAt}`);
  check(new URL(lo.stoppedAt).searchParams.get('state') === logoutState, 'logout state echoed');

  // 14. after logout: refresh token revoked, OP session gone
  log('after logout');
  const after = await tokenRequest(disco.token_endpoint, { grant_type: 'refresh_token', refresh_token: latestRefresh });
  info(`refresh_token grant -> ${after.status} ${JSON.stringify(after.json)}`);
  check(after.json.error === 'invalid_grant', 'refresh token revoked by logout');
  const again = await follow(authUrl.href);
  check(again.status === 200 && /id="password"/.test(again.text), 'authorize shows the login page again');
  info('authorize shows the login form again (OP session ended)');

  console.log('\nALL CHECKS PASSED');
}

main().catch((err) => {
  console.error(`\nFAILED: ${err.message}`);
  process.exit(1);
});

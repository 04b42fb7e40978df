#!/usr/bin/env node
// Conformance peer for soundcloud-auth: a real third-party OAuth 2 authorization
// server (panva's oidc-provider, from npm) running on loopback over HTTPS.
//
// Our own sandbox server (tests/sandbox) encodes our own reading of OAuth and of
// SoundCloud. This peer exists so that the C client is also exercised against
// code that nobody on this project wrote. It is configured as a plain OAuth 2
// server shaped like secure.soundcloud.com: authorization code with PKCE S256
// only, rotating single-use refresh tokens, client credentials with HTTP Basic,
// a SoundCloud-style GET /me and POST /sign-out. Everything oidc-provider does
// by itself is left alone; the few additions are marked "peer policy".
//
// Usage: node server.js --dir DIR [--port N] [--ttl SECONDS] [--watch-pid PID]
//          --user-client ID:SECRET --app-client ID:SECRET --redirect URI [--redirect URI ...]
//
// Start-up contract: makes a test CA and server certificate in DIR (ca.pem is the
// trust anchor), listens on 127.0.0.1, writes DIR/port and DIR/config (INI, 0600),
// prints the endpoints on stderr and then exactly one line "READY PORT" on stdout.
// SIGTERM or SIGINT: closes the listener and exits 0; so does the death of the
// --watch-pid process (so an interrupted test run leaves no server behind).
// Token, code and secret values are never logged.

import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as path from 'node:path';

// oidc-provider prints its notices with console.info, i.e. on stdout. Our
// stdout carries only the READY line (tests parse it), so route everything
// else to stderr before the library is loaded.
console.info = console.error;
console.log = console.error;

const { default: Provider } = await import('oidc-provider');

const USAGE = `usage: server.js --dir DIR [--port N] [--ttl SECONDS] [--watch-pid PID]
       --user-client ID:SECRET --app-client ID:SECRET --redirect URI [--redirect URI ...]`;

// Peer policy: the scope every authorization request is taken to ask for (see
// scopeDefault below for why one is needed at all).
const DEFAULT_SCOPE = 'default';

function die(msg, code = 1) {
  process.stderr.write(`peer: ${msg}\n`);
  process.exit(code);
}

function parseClient(flag, value) {
  // ID:SECRET, split at the first colon, so a secret may contain colons
  // (that exercises RFC 6749 2.3.1 encoding in the client) but an id may not.
  const i = value.indexOf(':');
  if (i <= 0 || i === value.length - 1) die(`${flag} wants ID:SECRET`, 64);
  const id = value.slice(0, i);
  const secret = value.slice(i + 1);
  // Printable ASCII without spaces: the values go verbatim into an INI file and
  // must survive any `key = value` parser; oidc-provider wants VSCHAR anyway.
  for (const [what, v] of [['id', id], ['secret', secret]]) {
    if (!/^[\x21-\x7e]+$/.test(v)) die(`${flag}: the ${what} must be printable ASCII without spaces`, 64);
  }
  return { id, secret };
}

function parseArgs(argv) {
  const opts = { port: 0, ttl: 60, redirects: [] };
  for (let i = 0; i < argv.length; i += 1) {
    const flag = argv[i];
    const needValue = () => {
      if (i + 1 >= argv.length) die(`${flag} needs a value\n${USAGE}`, 64);
      i += 1;
      return argv[i];
    };
    switch (flag) {
      case '--dir': opts.dir = needValue(); break;
      case '--port': opts.port = Number(needValue()); break;
      case '--ttl': opts.ttl = Number(needValue()); break;
      case '--watch-pid': opts.watchPid = Number(needValue()); break;
      case '--user-client': opts.user = parseClient(flag, needValue()); break;
      case '--app-client': opts.app = parseClient(flag, needValue()); break;
      case '--redirect': opts.redirects.push(needValue()); break;
      case '-h':
      case '--help':
        process.stdout.write(`${USAGE}\n`);
        process.exit(0);
        break;
      default: die(`unknown argument ${flag}\n${USAGE}`, 64);
    }
  }
  if (!opts.dir) die(`--dir is required\n${USAGE}`, 64);
  if (!opts.user || !opts.app) die(`--user-client and --app-client are required\n${USAGE}`, 64);
  if (opts.user.id === opts.app.id) die('the user and app clients need different ids', 64);
  if (!opts.redirects.length) die(`at least one --redirect is required\n${USAGE}`, 64);
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) die('--port must be 0..65535', 64);
  if (!Number.isInteger(opts.ttl) || opts.ttl < 1) die('--ttl must be a positive integer', 64);
  if (opts.watchPid !== undefined && (!Number.isInteger(opts.watchPid) || opts.watchPid < 1)) die('--watch-pid must be a process id', 64);
  for (const uri of opts.redirects) {
    let u;
    try { u = new URL(uri); } catch { die(`--redirect ${uri} is not a URL`, 64); }
    if (u.hash) die(`--redirect ${uri} must not have a fragment`, 64);
  }
  opts.dir = path.resolve(opts.dir);
  return opts;
}

// A fresh CA and a server certificate for 127.0.0.1/localhost, made with the
// openssl CLI, so that no key material is checked in.
// P-256 keys: quick to generate and accepted by every TLS stack we test with.
function makeTls(dir) {
  const f = (name) => path.join(dir, name);
  const openssl = (...args) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  try {
    openssl('req', '-x509', '-new', ...ec, '-keyout', f('ca.key'), '-out', f('ca.pem'),
      '-days', '7', '-subj', '/CN=soundcloud-auth peer test CA',
      '-addext', 'basicConstraints=critical,CA:TRUE',
      '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
    openssl('req', '-new', ...ec, '-keyout', f('server.key'), '-out', f('server.csr'),
      '-subj', '/CN=127.0.0.1');
    fs.writeFileSync(f('server.ext'), [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=serverAuth',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      'subjectKeyIdentifier=hash',
      'authorityKeyIdentifier=keyid',
      '',
    ].join('\n'));
    openssl('x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'),
      '-set_serial', `0x${crypto.randomBytes(8).toString('hex')}`, '-days', '7',
      '-extfile', f('server.ext'), '-out', f('server.pem'));
  } catch (err) {
    die(`making the test certificates with openssl failed: ${err.stderr?.toString().trim() || err.message}`);
  }
  fs.chmodSync(f('ca.key'), 0o600);
  fs.chmodSync(f('server.key'), 0o600);
  return { key: fs.readFileSync(f('server.key')), cert: fs.readFileSync(f('server.pem')) };
}

// Write a file so that readers never see it half written, with the mode set
// at creation (the config holds client secrets).
function writeAtomic(file, text, mode) {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.rmSync(tmp, { force: true });
  fs.writeFileSync(tmp, text, { mode, flag: 'wx' });
  fs.renameSync(tmp, file);
}

// Any login name is an account. SoundCloud identities are numeric users keyed by
// urn; derive the number from the login so that it is stable across restarts.
function identityOf(login) {
  const n = 100000000 + (crypto.createHash('sha256').update(login).digest().readUInt32BE(0) % 900000000);
  const permalink = login.toLowerCase().replace(/[^a-z0-9_-]+/g, '-');
  return {
    kind: 'user',
    urn: `soundcloud:users:${n}`,
    username: login,
    permalink,
    permalink_url: `https://soundcloud.com/${permalink}`,
    full_name: '',
  };
}

async function readJsonBody(ctx, limit = 64 * 1024) {
  const chunks = [];
  let size = 0;
  for await (const chunk of ctx.req) {
    size += chunk.length;
    if (size > limit) return undefined;
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    return undefined;
  }
}

function providerConfiguration(opts) {
  const ttl = opts.ttl;
  const longLived = 365 * 24 * 60 * 60;
  // Only used if a client asks for openid (ours never does): a real key rather
  // than oidc-provider's published development keys.
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });

  return {
    clients: [
      {
        // The person-facing client: code + PKCE, refresh; secret in the form
        // body, as SoundCloud documents for these two grants.
        client_id: opts.user.id,
        client_secret: opts.user.secret,
        token_endpoint_auth_method: 'client_secret_post',
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        redirect_uris: opts.redirects,
      },
      {
        // The app client: client credentials with HTTP Basic, as SoundCloud
        // documents. No authorization endpoint use, hence no redirect URIs.
        // Note: oidc-provider 9 treats client_secret_basic and _post as one
        // family (lib/shared/client_auth.js): each client also accepts the
        // other way, so neither client enforces its method. refresh_token is
        // listed for symmetry with SoundCloud, but oidc-provider never issues
        // a refresh token for client credentials.
        client_id: opts.app.id,
        client_secret: opts.app.secret,
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: ['client_credentials', 'refresh_token'],
        response_types: [],
        redirect_uris: [],
      },
    ],
    scopes: ['openid', 'offline_access', DEFAULT_SCOPE],
    findAccount: async (ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),

    // PKCE on every authorization request; oidc-provider 9 implements S256 only
    // (plain is refused with invalid_request), so there is nothing to restrict.
    pkce: { required: () => true },

    // Refresh tokens are single use. On reuse of a spent one oidc-provider
    // deletes it and revokes the whole grant: every access and refresh token
    // issued from that login dies (lib/actions/grants/refresh_token.js).
    rotateRefreshToken: true,
    // Always hand out a refresh token for the code grant, without oidc-provider's
    // OIDC requirement of scope=offline_access plus prompt=consent. (The
    // refresh_token grant issues its successor through rotation above.)
    issueRefreshToken: async (ctx, client, source) => client.grantTypeAllowed('refresh_token')
      && source.kind === 'AuthorizationCode',
    // Tokens outlive the browser session at the peer: our scripted browser drops
    // its cookies after each login, and SoundCloud tokens are not session bound.
    expiresWithSession: async () => false,
    // SoundCloud wants the redirect_uri on the token request; so do we.
    allowOmittingSingleRegisteredRedirectUri: false,

    ttl: {
      AccessToken: ttl,
      ClientCredentials: ttl,
      AuthorizationCode: 60,
      RefreshToken: longLived,
      Grant: longLived,
      Session: 24 * 60 * 60,
      Interaction: 10 * 60,
      IdToken: 60 * 60,
      DeviceCode: 10 * 60,
      BackchannelAuthenticationRequest: 10 * 60,
      PreAuthorizedCode: 10 * 60,
    },

    features: {
      // oidc-provider's own login and consent pages; browser.js drives them.
      devInteractions: { enabled: true },
      clientCredentials: { enabled: true },
      revocation: {
        enabled: true,
        allowedPolicy: async (ctx, client, token) => token.clientId === client.clientId,
      },
      introspection: {
        enabled: true,
        allowedPolicy: async (ctx, client, token) => token.clientId === client.clientId,
      },
      // /me is SoundCloud's identity endpoint here, not OIDC userinfo.
      userinfo: { enabled: false },
      // Plain opaque tokens with no audience juggling; no OIDC logout page.
      resourceIndicators: { enabled: false },
      rpInitiatedLogout: { enabled: false },
    },

    cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
    jwks: { keys: [{ ...privateKey.export({ format: 'jwk' }), kid: 'peer', use: 'sig', alg: 'RS256' }] },
    clientBasedCORS: () => false,
    renderError: async (ctx, out) => {
      // Same content as the default page, minus its notice on every call.
      // browser.js reads the <pre> lines to report what went wrong.
      const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
      ctx.type = 'html';
      ctx.body = `<!DOCTYPE html><html><head><title>oops! something went wrong</title></head><body>
<h1>oops! something went wrong</h1>
${Object.entries(out).map(([k, v]) => `<pre><strong>${esc(k)}</strong>: ${esc(v)}</pre>`).join('\n')}
</body></html>`;
    },
  };
}

// Peer policy: RFC 6749 3.3 lets an authorization server apply a default when
// the client omits scope. oidc-provider 9 accepts requests without openid (they
// are plain OAuth 2), but it refuses to issue a code for a grant that holds no
// scope at all: after login it answers access_denied "authorization request
// resolved without requesting interactions but no scope was granted"
// (lib/actions/authorization/interactions.js). Unknown scope values do not help
// (they are ignored, not granted), nor does offline_access alone (dropped unless
// prompt=consent). SoundCloud clients send no scope, so every authorization
// request is treated as also asking for DEFAULT_SCOPE, added to the query before
// oidc-provider reads it. The consent page then asks for it, and token
// responses say scope "default" (plus any other scope of this server asked for).
function scopeDefault(authPath) {
  return async function defaultScope(ctx, next) {
    if (ctx.method === 'GET' && ctx.path === authPath) {
      const { scope } = ctx.query;
      // Duplicated parameters (an array) are left for oidc-provider to reject.
      if (scope === undefined || typeof scope === 'string') {
        const values = (scope ?? '').split(' ').filter(Boolean);
        if (!values.includes(DEFAULT_SCOPE)) {
          ctx.query = { ...ctx.query, scope: [...values, DEFAULT_SCOPE].join(' ') };
        }
      }
    }
    await next();
  };
}

// RFC 6750 3.1: a request without credentials gets the challenge alone; a bad
// token gets error="invalid_token".
function bearerError(ctx, issuer, description, { noCredentials = false } = {}) {
  ctx.status = 401;
  ctx.set('WWW-Authenticate', noCredentials
    ? `Bearer realm="${issuer}"`
    : `Bearer realm="${issuer}", error="invalid_token", error_description="${description}"`);
  ctx.set('Cache-Control', 'no-store');
  // SoundCloud's API error shape, plus the RFC 6750 names when a token was sent.
  ctx.body = noCredentials
    ? { code: 401, message: description }
    : { code: 401, message: description, error: 'invalid_token', error_description: description };
}

// The user behind an access token, or undefined. Only tokens from a user login
// (AccessToken) count; client-credentials tokens are a different model and get
// 401 at /me, as an app token has no user.
async function userOfToken(provider, value) {
  const token = await provider.AccessToken.find(value);
  if (!token || token.isExpired || !token.accountId) return undefined;
  // oidc-provider's own resource endpoints also require the grant to be alive.
  const grant = await provider.Grant.find(token.grantId);
  if (!grant) return undefined;
  return { token, grant };
}

// GET /me: SoundCloud's identity endpoint, "Authorization: OAuth TOKEN" (and
// Bearer, which SoundCloud accepts too).
function meRoute(provider) {
  return async function me(ctx, next) {
    if (ctx.path !== '/me') return next();
    if (ctx.method !== 'GET') {
      ctx.status = 405;
      ctx.set('Allow', 'GET');
      ctx.body = { code: 405, message: 'method not allowed' };
      return undefined;
    }
    const m = /^(?:OAuth|Bearer)[ \t]+([^\s]+)[ \t]*$/i.exec(ctx.get('authorization'));
    if (!m) {
      bearerError(ctx, provider.issuer, 'no access token provided', { noCredentials: true });
      return undefined;
    }
    const found = await userOfToken(provider, m[1]);
    if (!found) {
      bearerError(ctx, provider.issuer, 'access token is invalid or expired');
      return undefined;
    }
    ctx.set('Cache-Control', 'no-store');
    ctx.body = identityOf(found.token.accountId);
    return undefined;
  };
}

// POST /sign-out {"access_token": "..."}: how SoundCloud signs a token out. Here
// it revokes the whole grant (that access token, its siblings and the refresh
// token), which is what "sign out" means for the user. An unknown or expired
// token gets the same 401 as /me; the client must erase its copy either way.
function signOutRoute(provider) {
  return async function signOut(ctx, next) {
    if (ctx.path !== '/sign-out') return next();
    ctx.set('Cache-Control', 'no-store');
    if (ctx.method !== 'POST') {
      ctx.status = 405;
      ctx.set('Allow', 'POST');
      ctx.body = { code: 405, message: 'method not allowed' };
      return undefined;
    }
    const body = ctx.is('application/json') ? await readJsonBody(ctx) : undefined;
    if (!body || typeof body.access_token !== 'string' || !body.access_token) {
      ctx.status = 400;
      ctx.body = { error: 'invalid_request', error_description: 'JSON body with access_token expected' };
      return undefined;
    }
    const found = await userOfToken(provider, body.access_token);
    if (!found) {
      bearerError(ctx, provider.issuer, 'access token is invalid or expired');
      return undefined;
    }
    const { grantId } = found.token;
    await Promise.all([
      provider.AccessToken.revokeByGrantId(grantId),
      provider.RefreshToken.revokeByGrantId(grantId),
      provider.AuthorizationCode.revokeByGrantId(grantId),
      found.grant.destroy(),
    ]);
    ctx.status = 200;
    ctx.body = {};
    return undefined;
  };
}

// One stderr line per request: method, path (never the query: the final
// redirect and some requests carry codes), status, time.
function requestLog() {
  return async function log(ctx, next) {
    const start = process.hrtime.bigint();
    try {
      await next();
    } finally {
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      process.stderr.write(`peer: ${ctx.method} ${ctx.path} ${ctx.status} ${ms.toFixed(1)}ms\n`);
    }
  };
}

function configText(opts, base) {
  const common = [
    `authorize_url = ${base}/auth`,
    `token_url = ${base}/token`,
    `api_url = ${base}`,
    `signout_url = ${base}/sign-out`,
    `ca_file = ${path.join(opts.dir, 'ca.pem')}`,
  ];
  return [
    '[profile peer]',
    `client_id = ${opts.user.id}`,
    `client_secret = ${opts.user.secret}`,
    ...common,
    `redirect_uri = ${opts.redirects[0]}`,
    '[profile peer-app]',
    `client_id = ${opts.app.id}`,
    `client_secret = ${opts.app.secret}`,
    ...common,
    '',
  ].join('\n');
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  fs.mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
  const tls = makeTls(opts.dir);

  // The issuer must carry the real port, which is known only after listening;
  // requests that arrive before the provider exists get a 503.
  let handler = (req, res) => { res.statusCode = 503; res.end(); };
  const server = https.createServer(tls, (req, res) => handler(req, res));
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  const base = `https://127.0.0.1:${port}`;

  const provider = new Provider(base, providerConfiguration(opts));
  const routes = {
    authorization: '/auth', token: '/token', revocation: '/token/revocation', introspection: '/token/introspection',
  };
  provider.use(requestLog());
  provider.use(scopeDefault(routes.authorization));
  provider.use(meRoute(provider));
  provider.use(signOutRoute(provider));
  provider.on('server_error', (ctx, err) => process.stderr.write(`peer: server_error on ${ctx.path}: ${err.message}\n`));
  handler = provider.callback();

  writeAtomic(path.join(opts.dir, 'port'), `${port}\n`, 0o644);
  writeAtomic(path.join(opts.dir, 'config'), configText(opts, base), 0o600);

  const shutdown = () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  if (opts.watchPid !== undefined) {
    setInterval(() => {
      try {
        process.kill(opts.watchPid, 0);
      } catch (err) {
        if (err.code === 'ESRCH') {
          process.stderr.write(`peer: process ${opts.watchPid} is gone, shutting down\n`);
          shutdown();
        }
      }
    }, 1000).unref();
  }

  process.stderr.write([
    `peer: oidc-provider ${JSON.parse(fs.readFileSync(new URL('./node_modules/oidc-provider/package.json', import.meta.url))).version} issuer ${base}`,
    `peer: authorization ${base}${routes.authorization}`,
    `peer: token ${base}${routes.token}`,
    `peer: revocation ${base}${routes.revocation}`,
    `peer: introspection ${base}${routes.introspection}`,
    `peer: discovery ${base}/.well-known/openid-configuration`,
    `peer: identity ${base}/me`,
    `peer: sign-out ${base}/sign-out`,
    `peer: access token ttl ${opts.ttl}s, config ${path.join(opts.dir, 'config')}`,
    '',
  ].join('\n'));
  process.stdout.write(`READY ${port}\n`);
}

main().catch((err) => die(err.stack || String(err)));

#!/usr/bin/env node
/*
 * SoundCloud sandbox for the soundcloud-auth tests.
 *
 * A strict local stand-in for secure.soundcloud.com (authorize, the OAuth 2.1 token endpoint with
 * PKCE, rotating single-use refresh tokens, client credentials, sign-out) and api.soundcloud.com
 * (/me, and an echo of every other API call), served by one HTTPS listener on 127.0.0.1 with a
 * throw-away CA made at start-up. Tests drive it through a JSON control API under /_sandbox/: they
 * register clients, choose the approving user, queue faults (429s, 5xx, slow, malformed or huge
 * answers, redirects...) and read back what the client asked for. It is strict on purpose: it is
 * what our client is tested against, so anything SoundCloud (or the RFCs it follows) would refuse,
 * it refuses too. Node.js standard library only; the openssl CLI makes the certificates.
 *
 * Usage, files written and the control API: tests/sandbox/README.md.
 */
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const https = require('node:https');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const HOST = '127.0.0.1';
const MAX_REQUEST_BODY = 1024 * 1024;       // bytes; a larger request body gets 413
const CODE_TTL_MS = 60 * 1000;              // authorization codes live 60 s
const DEFAULT_TOKEN_TTL = 3600;             // seconds, as SoundCloud's access tokens
const MAX_TTL = 10 * 365 * 24 * 3600;       // sanity bound for every "seconds" input
const REQUEST_LOG_KEEP = 1000;              // requests remembered for /_sandbox/stats
const HANG_MAX_MS = 120 * 1000;             // a "hang" fault gives up on the socket after this
const HUGE_DEFAULT_BYTES = 20 * 1024 * 1024;
const DEEP_NESTING = 100000;
const DEFAULT_ISSUER = 'https://secure.soundcloud.com';
// TEST-NET-2 (RFC 5737): nobody answers there, and this server never connects anywhere itself.
const UNROUTABLE_REDIRECT = 'https://198.51.100.7/elsewhere';
const API_DOCS_LINK = 'https://developers.soundcloud.com/docs/api/explorer/open-api';
const DEFAULT_USER = Object.freeze({ id: 1001, username: 'Test User', permalink: 'test-user', full_name: 'Test User' });

// Top-level resources of api.soundcloud.com. Every other path is a 404, as on the real hosts;
// that also catches a client still using the retired /oauth2/token or /connect endpoints.
const API_RESOURCES = new Set(['me', 'tracks', 'playlists', 'users', 'resolve', 'likes', 'reposts']);
const GRANT_TYPES = ['authorization_code', 'refresh_token', 'client_credentials'];
const ENDPOINTS = ['token', 'authorize', 'api', 'me', 'signout'];

/* ------------------------------------------------------------------------------------------ */
/* Command line                                                                                */

const USAGE = 'usage: node server.js --dir DIR [--port N] [--client ID:SECRET:REDIRECT_URI]...\n' +
  '                      [--token-ttl SECONDS] [--watch-pid PID] [--verbose]\n';

function usage(message) {
  if (message) process.stderr.write(`sandbox: ${message}\n`);
  process.stderr.write(USAGE);
  process.exit(message ? 64 : 0);
}

function parseIntArg(name, text, min, max) {
  if (!/^\d{1,10}$/.test(text)) usage(`${name} wants a whole number`);
  const n = Number(text);
  if (n < min || n > max) usage(`${name} must be from ${min} to ${max}`);
  return n;
}

// ID:SECRET:REDIRECT_URI. The URI keeps its own colons, so split on the first two only.
function parseClientArg(text) {
  const a = text.indexOf(':');
  const b = a < 0 ? -1 : text.indexOf(':', a + 1);
  if (a <= 0 || b <= a + 1 || b === text.length - 1) usage('--client wants ID:SECRET:REDIRECT_URI');
  return { id: text.slice(0, a), secret: text.slice(a + 1, b), redirectUri: text.slice(b + 1) };
}

function parseArgs(argv) {
  const opts = { dir: null, port: 0, clients: [], ttl: DEFAULT_TOKEN_TTL, verbose: false, watchPid: 0 };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => (i + 1 < argv.length ? argv[++i] : usage(`${arg} needs a value`));
    switch (arg) {
      case '--dir': opts.dir = value(); break;
      case '--port': opts.port = parseIntArg(arg, value(), 0, 65535); break;
      case '--client': opts.clients.push(parseClientArg(value())); break;
      case '--token-ttl': opts.ttl = parseIntArg(arg, value(), 0, MAX_TTL); break;
      case '--watch-pid': opts.watchPid = parseIntArg(arg, value(), 1, 2 ** 31 - 1); break;
      case '--verbose': opts.verbose = true; break;
      case '--help': usage(); break;
      default: usage(`unknown argument ${arg}`);
    }
  }
  if (!opts.dir) usage('--dir is required');
  return opts;
}

/* ------------------------------------------------------------------------------------------ */
/* Certificates                                                                                */

// Our own config, so that neither the system openssl.cnf nor OPENSSL_CONF can change the result.
const OPENSSL_CONFIG = `
[req]
distinguished_name = dn
prompt = no
[dn]
CN = soundcloud-auth sandbox
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[v3_server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
`;

function openssl(args) {
  try {
    execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 30000 });
  } catch (err) {
    const detail = err.stderr && err.stderr.length ? err.stderr.toString().trim() : err.message;
    throw new Error(`openssl ${args[0]} failed: ${detail}`);
  }
}

// A fresh CA and a server certificate for 127.0.0.1 and localhost, both EC P-256 (fast to make).
// Returns the paths of the server key and certificate.
function makeCertificates(dir) {
  const file = (name) => path.join(dir, name);
  const config = file('openssl.cnf');
  const csr = file('server.csr');
  const serial = () => `0x${crypto.randomBytes(12).toString('hex')}`;
  const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  fs.writeFileSync(config, OPENSSL_CONFIG, { mode: 0o600 });
  try {
    openssl(['req', '-x509', '-config', config, ...newKey, '-keyout', file('ca.key'), '-out', file('ca.pem'),
      '-days', '30', '-set_serial', serial(), '-subj', '/CN=soundcloud-auth sandbox CA', '-extensions', 'v3_ca']);
    openssl(['req', '-new', '-config', config, ...newKey, '-keyout', file('server.key'), '-out', csr,
      '-subj', '/CN=localhost']);
    openssl(['x509', '-req', '-in', csr, '-CA', file('ca.pem'), '-CAkey', file('ca.key'), '-set_serial', serial(),
      '-days', '30', '-extfile', config, '-extensions', 'v3_server', '-out', file('server.pem')]);
  } finally {
    fs.rmSync(config, { force: true });
    fs.rmSync(csr, { force: true });
  }
  fs.chmodSync(file('ca.key'), 0o600);
  fs.chmodSync(file('server.key'), 0o600);
  fs.chmodSync(file('ca.pem'), 0o644);
  fs.chmodSync(file('server.pem'), 0o644);
  return { key: file('server.key'), cert: file('server.pem') };
}

// Readers poll for these files: they must never see half of one.
function writeFileAtomic(file, text, mode) {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, text, { mode });
  fs.chmodSync(tmp, mode);
  fs.renameSync(tmp, file);
}

/* ------------------------------------------------------------------------------------------ */
/* Small helpers                                                                               */

class RequestError extends Error {}   // bad input from the client under test
class ControlError extends Error {}   // bad input from a test through /_sandbox/

const randomSecret = () => crypto.randomBytes(24).toString('base64url');
const sha256 = (text) => crypto.createHash('sha256').update(text, 'utf8').digest();
const fingerprint = (refreshToken) => sha256(refreshToken).toString('hex').slice(0, 16);
const isPlainObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Compares secrets without leaking their length or common prefix through timing.
function safeEqual(a, b) {
  return crypto.timingSafeEqual(sha256(a), sha256(b));
}

// Names of parameters and JSON keys go into the request log; anything that does not look like a
// parameter name (a token pasted as a name by a broken client, say) is logged as "(other)", so
// that the log can never hold a secret.
function loggableName(name) {
  return /^[a-z_]{1,24}$/.test(name) ? name : '(other)';
}

function formDecode(text) {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    throw new RequestError('malformed percent-encoding');
  }
}

// application/x-www-form-urlencoded, strictly: a repeated parameter is an error (RFC 6749 3.1,
// 3.2) and a parameter without a value counts as absent. Returns { params: Map, names: [...] }.
function parseForm(text) {
  const params = new Map();
  const names = [];
  for (const pair of text.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const name = formDecode(eq < 0 ? pair : pair.slice(0, eq));
    const value = formDecode(eq < 0 ? '' : pair.slice(eq + 1));
    names.push(name);
    if (params.has(name)) throw new RequestError(`parameter ${loggableName(name)} is repeated`);
    if (value !== '') params.set(name, value);
  }
  return { params, names };
}

function mediaType(req) {
  return (req.headers['content-type'] || '').split(';')[0].trim().toLowerCase();
}

function splitTarget(target) {
  const q = target.indexOf('?');
  return q < 0 ? { pathname: target, search: '' } : { pathname: target.slice(0, q), search: target.slice(q + 1) };
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function send(res, status, type, body, headers = {}) {
  const buf = Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': buf.length, ...headers });
  res.end(buf);
}

function sendJson(res, status, value, headers = {}) {
  const body = typeof value === 'string' ? value : JSON.stringify(value);
  send(res, status, 'application/json; charset=utf-8', body, headers);
}

function sendHtml(res, status, title, message, headers = {}) {
  const page = `<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>\n` +
    `<body><h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p></body></html>\n`;
  send(res, status, 'text/html; charset=utf-8', page, headers);
}

function redirect(res, location) {
  sendHtml(res, 302, 'Redirecting', `Continue to ${location}`, { Location: location, 'Cache-Control': 'no-store' });
}

// Adds parameters to a redirect URI that may already carry a query (RFC 6749 3.1.2: keep it).
function withQuery(uri, params) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) if (value !== undefined) query.append(name, value);
  return `${uri}${uri.includes('?') ? '&' : '?'}${query}`;
}

/* ------------------------------------------------------------------------------------------ */
/* State: clients, grants, faults, statistics                                                  */

// Codes, tokens and the chains that tie them together. A chain is one login (or one
// client-credentials exchange) and everything refreshed from it: reuse of a spent refresh token,
// reuse of a code or a sign-out revokes the whole chain (RFC 9700 4.14.2).
class Grants {
  constructor() {
    this.clear();
  }

  clear() {
    this.codes = new Map();         // code -> { clientId, redirectUri, challenge, user, scope, expiresAt, used, chain }
    this.access = new Map();        // access token -> { chain, expiresAt, revoked }
    this.refresh = new Map();       // refresh token -> { chain, fp }
    this.byFingerprint = new Map(); // fp -> the same refresh record, for /_sandbox/chain
    this.chains = [];
  }

  addCode(record) {
    const now = Date.now();
    for (const [code, old] of this.codes) if (old.expiresAt < now - 10 * CODE_TTL_MS) this.codes.delete(code);
    const code = randomSecret();
    this.codes.set(code, { ...record, expiresAt: now + CODE_TTL_MS, used: false, chain: null });
    return code;
  }

  startChain(clientId, grant, user, scope) {
    const chain = { id: this.chains.length + 1, clientId, grant, user, scope, rotations: 0, revoked: false, live: null };
    this.chains.push(chain);
    return chain;
  }

  // Issues a new access token and a new refresh token on the chain; the new refresh token is from
  // now on the only one of the chain that works.
  issue(chain, ttlSeconds) {
    const accessToken = randomSecret();
    const refreshToken = randomSecret();
    noteIssued(accessToken, refreshToken);
    this.access.set(accessToken, { chain, expiresAt: Date.now() + ttlSeconds * 1000, revoked: false });
    const record = { chain, fp: fingerprint(refreshToken) };
    this.refresh.set(refreshToken, record);
    this.byFingerprint.set(record.fp, record);
    chain.live = record;
    return { accessToken, refreshToken };
  }

  // The record of an access token that may be used now, or null.
  usableAccess(token) {
    const record = this.access.get(token);
    if (!record || record.revoked || record.chain.revoked || Date.now() >= record.expiresAt) return null;
    return record;
  }

  // Returns whether the chain was alive until now.
  revokeChain(chain) {
    if (chain.revoked) return false;
    chain.revoked = true;
    chain.live = null;
    return true;
  }

  revokeAllAccess() {
    let n = 0;
    for (const record of this.access.values()) if (!record.revoked) { record.revoked = true; n++; }
    return n;
  }

  revokeEverything() {
    let n = 0;
    for (const chain of this.chains) if (this.revokeChain(chain)) n++;
    for (const code of this.codes.values()) code.used = true;
    return n;
  }

  chainInfo(chain) {
    return { id: chain.id, live_fp: chain.live ? chain.live.fp : null, rotations: chain.rotations, revoked: chain.revoked, grant: chain.grant };
  }
}

// What the tests read back through /_sandbox/stats. Parameter names only, never values.
class Stats {
  constructor() {
    this.reset();
  }

  reset() {
    this.counts = {
      token: {
        authorization_code: 0, refresh_token: 0, client_credentials: 0, other: 0,
        errors: { invalid_request: 0, invalid_client: 0, invalid_grant: 0, unsupported_grant_type: 0 },
        issued: { authorization_code: 0, refresh_token: 0, client_credentials: 0 },
      },
      authorize: 0, me: 0, api: 0, signout: 0, not_found: 0,
      git: { requests: 0, auth: { none: 0, oauth: 0, bearer: 0, basic: 0, other: 0 }, authorized: 0 },
      refresh_reuse: 0, code_reuse: 0, chains_revoked: 0, faults: 0,
    };
    this.requests = [];
  }

  begin(method, pathname, endpoint) {
    const entry = {
      method, path: pathname, endpoint, status: 0, grant_type: null, auth: 'none',
      body_keys: [], query_keys: [], fault: null, t: Date.now(), ms: null,
    };
    this.requests.push(entry);
    if (this.requests.length > REQUEST_LOG_KEEP) this.requests.shift();
    return entry;
  }

  tokenError(error) {
    const errors = this.counts.token.errors;
    errors[error] = (errors[error] || 0) + 1;
  }

  toJSON() {
    return { ...this.counts, requests: this.requests };
  }
}

/* Faults. Each kind says where it applies and which options it takes. */

const intOption = (min, max) => (v) => (Number.isInteger(v) && v >= min && v <= max ? null : `an integer from ${min} to ${max}`);
const boolOption = (v) => (typeof v === 'boolean' ? null : 'true or false');
const stringOption = (v) => (typeof v === 'string' && v !== '' ? null : 'a non-empty string');
const oneOfOption = (...allowed) => (v) => (allowed.includes(v) ? null : `one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`);

const FAULT_KINDS = new Map(Object.entries({
  429: { options: { reset_in: intOption(0, MAX_TTL), retry_after: intOption(0, MAX_TTL), html: boolOption,
    body: oneOfOption('soundcloud', 'rate_limit_exceeded', 'Rate Limit Exceeded') } },
  500: { options: { html: boolOption } },
  502: { options: { html: boolOption } },
  503: { options: { html: boolOption } },
  '403html': {},
  slow: { options: { delay_ms: intOption(0, HANG_MAX_MS) } },
  held: { options: { max_ms: intOption(0, HANG_MAX_MS) } },
  hang: { options: { max_ms: intOption(0, HANG_MAX_MS) } },
  close: {},
  malformed: {},
  trailing: {},
  wrongtype: {},
  deep: {},
  notjson: {},
  empty: {},
  noaccess: {},
  huge: { options: { bytes: intOption(64, 256 * 1024 * 1024) } },
  redirect: {},
  legacy_invalid_grant: {},
  invalid_token: { endpoints: ['api', 'me'] },
  // These two are decisions of the authorize logic, taken after the request was validated.
  deny: { endpoints: ['authorize'], logic: true },
  iss: { endpoints: ['authorize'], logic: true, options: { value: stringOption } },
}));

class Faults {
  constructor() {
    this.queue = [];
  }

  // Validates a fault from the control API and queues it.
  add(spec) {
    if (!isPlainObject(spec)) throw new ControlError('a fault is a JSON object');
    const { endpoint, count = 1, ...options } = spec;
    const kindName = String(options.kind);
    delete options.kind;
    const kind = FAULT_KINDS.get(kindName);
    if (!kind) throw new ControlError(`kind must be one of ${[...FAULT_KINDS.keys()].join(', ')}`);
    if (!ENDPOINTS.includes(endpoint) && endpoint !== '*') throw new ControlError(`endpoint must be one of ${ENDPOINTS.join(', ')}, *`);
    const applies = kind.endpoints || ENDPOINTS;
    if (endpoint !== '*' && !applies.includes(endpoint)) throw new ControlError(`fault ${kindName} applies only to ${applies.join(', ')}`);
    if (!(Number.isInteger(count) && (count >= 1 || count === -1))) throw new ControlError('count must be a positive integer or -1');
    for (const [name, value] of Object.entries(options)) {
      const check = kind.options && Object.hasOwn(kind.options, name) ? kind.options[name] : null;
      if (!check) throw new ControlError(`fault ${kindName} takes no option ${name}`);
      const problem = check(value);
      if (problem) throw new ControlError(`option ${name} must be ${problem}`);
    }
    this.queue.push({ endpoint, kind: kindName, count, options });
  }

  // Takes the first queued fault that applies to a request at this endpoint and whose kind passes
  // the filter, using up one of its count.
  take(endpoint, wanted) {
    const index = this.queue.findIndex((f) => Faults.matches(f, endpoint) && wanted(f.kind));
    if (index < 0) return null;
    const fault = this.queue[index];
    if (fault.count > 0 && --fault.count === 0) this.queue.splice(index, 1);
    return fault;
  }

  static matches(fault, endpoint) {
    const applies = FAULT_KINDS.get(fault.kind).endpoints || ENDPOINTS;
    if (!applies.includes(endpoint)) return false;
    // "api" stands for the whole API host, /me included.
    return fault.endpoint === endpoint || fault.endpoint === '*' || (fault.endpoint === 'api' && endpoint === 'me');
  }

  clear() {
    this.queue = [];
  }
}

function newState(opts) {
  const state = {
    verbose: opts.verbose,
    clients: new Map(),                // client_id -> { id, secret, redirectUris }
    startTtl: opts.ttl,
    ttl: opts.ttl,
    user: DEFAULT_USER,
    grants: new Grants(),
    issuedFile: path.join(path.resolve(opts.dir), 'issued'),
    faults: new Faults(),
    stats: new Stats(),
  };
  for (const c of opts.clients) {
    const known = state.clients.get(c.id);
    if (known && known.secret !== c.secret) usage(`--client ${c.id} given twice with different secrets`);
    if (known) known.redirectUris.push(c.redirectUri);
    else state.clients.set(c.id, { id: c.id, secret: c.secret, redirectUris: [c.redirectUri] });
  }
  return state;
}

let state = null;   // set once in main()

// Every token issued goes to DIR/issued (0600), one a line, so that a test can look for each of
// them where no token may be (a database dump, a log) without the secrets passing through a
// command line or the control API.
function noteIssued(...tokens) {
  if (state && state.issuedFile) fs.appendFileSync(state.issuedFile, tokens.join('\n') + '\n', { mode: 0o600 });
}

function log(line) {
  if (state && state.verbose) process.stderr.write(`sandbox: ${line}\n`);
}

/* ------------------------------------------------------------------------------------------ */
/* Fault answers                                                                               */

const CONTINUE = Symbol('continue');
const PADDING = Buffer.alloc(64 * 1024, 'a');
let deepJson = null;

// A CDN error page, as the token endpoint has served during outages (soundcloud/api #489, #517).
function cdnPage(status) {
  return '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN">\n' +
    '<HTML><HEAD><TITLE>ERROR: The request could not be satisfied</TITLE></HEAD><BODY>\n' +
    `<H1>${status} ERROR</H1>\n<H2>The request could not be satisfied.</H2>\n` +
    '<HR noshade size="1px">The server is unavailable. Try again later.\n</BODY></HTML>\n';
}

function formatResetTime(date) {
  const p = (n) => String(n).padStart(2, '0');
  return `${date.getUTCFullYear()}/${p(date.getUTCMonth() + 1)}/${p(date.getUTCDate())} ` +
    `${p(date.getUTCHours())}:${p(date.getUTCMinutes())}:${p(date.getUTCSeconds())} +0000`;
}

function rateLimitBody(kind, resetTime) {
  if (kind === 'rate_limit_exceeded') return { error: 'rate_limit_exceeded' };
  if (kind === 'Rate Limit Exceeded') return { error: 'Rate Limit Exceeded' };
  return {
    errors: [{
      meta: {
        rate_limit: { bucket: 'by-ip', max_nr_of_requests: 30, time_window: 'PT1H', name: 'client-credentials-exchange' },
        remaining_requests: 0,
        reset_time: formatResetTime(resetTime),
      },
    }],
  };
}

function answerRateLimited(res, options) {
  const resetIn = options.reset_in ?? 3600;
  const resetAt = new Date(Math.floor(Date.now() / 1000) * 1000 + resetIn * 1000);
  const headers = {
    'x-ratelimit-limit': '30',
    'x-ratelimit-remaining': '0',
    'x-ratelimit-reset': String(Math.floor(resetAt.getTime() / 1000)),
  };
  // SoundCloud sends no Retry-After (soundcloud/api #457); only add one when a test asks.
  if (options.retry_after !== undefined) headers['Retry-After'] = String(options.retry_after);
  if (options.html) return send(res, 429, 'text/html', cdnPage(429), headers);
  return sendJson(res, 429, rateLimitBody(options.body || 'soundcloud', resetAt), headers);
}

function answerServerError(res, status, options) {
  if (options.html) return send(res, status, 'text/html', cdnPage(status));
  return sendJson(res, status, { error: 'server_error', error_description: `sandbox fault ${status}` });
}

// The body is streamed from one shared buffer, so a 20 MiB answer costs 64 KiB of memory however
// many clients ask at once; a client that gives up at its size cap just ends the stream.
function streamHuge(res, total) {
  const head = Buffer.from('{"access_token":"huge","expires_in":3600,"padding":"');
  const tail = Buffer.from('"}');
  let left = total - head.length - tail.length;
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': total });
  res.write(head);
  const pump = () => {
    while (left > 0) {
      if (res.destroyed) return;
      const n = Math.min(left, PADDING.length);
      left -= n;
      if (!res.write(n === PADDING.length ? PADDING : PADDING.subarray(0, n))) {
        res.once('drain', pump);
        return;
      }
    }
    res.end(tail);
  };
  pump();
}

// Requests held by a "held" fault, each a function that lets it through: POST /_sandbox/release
// lets them all go on, so that a test acts while a request is at the server, however slow the
// machine, and not within a delay.
const heldRequests = new Set();

function hold(req, maxMs) {
  return new Promise((resolve) => {
    const go = () => {
      clearTimeout(timer);
      heldRequests.delete(go);
      resolve();
    };
    const timer = setTimeout(go, maxMs);
    heldRequests.add(go);
    req.socket.once('close', go);
  });
}

function ctlRelease() {
  const n = heldRequests.size;
  for (const go of [...heldRequests]) go();
  return { released: n };
}

// Holds the request unanswered, as an overloaded server would; the socket is closed after
// max_ms (or when the client gives up first).
function hang(req, maxMs) {
  const socket = req.socket;
  const timer = setTimeout(() => socket.destroy(), maxMs);
  socket.once('close', () => clearTimeout(timer));
}

function fakeTokenJson(extra) {
  return { access_token: 'fault-access', expires_in: 3600, refresh_token: 'fault-refresh', scope: '', token_type: 'bearer', ...extra };
}

// Answers a request with a fault. Faults stand in for a broken CDN or proxy in front of the
// server, so they answer before the request reaches the OAuth logic and change no state (a
// refresh token sent into a 500 is not spent). "slow" only delays, then lets the request through.
async function serveFault(fault, ctx) {
  const { req, res } = ctx;
  const o = fault.options;
  switch (fault.kind) {
    case '429': return answerRateLimited(res, o);
    case '500': case '502': case '503': return answerServerError(res, Number(fault.kind), o);
    case '403html': return send(res, 403, 'text/html', cdnPage(403));
    case 'slow':
      await sleep(o.delay_ms ?? 1000);
      return req.socket.destroyed ? undefined : CONTINUE;
    case 'held':
      await hold(req, o.max_ms ?? HANG_MAX_MS);
      return req.socket.destroyed ? undefined : CONTINUE;
    case 'hang': return hang(req, o.max_ms ?? HANG_MAX_MS);
    case 'close': return req.socket.destroy();
    case 'malformed': return sendJson(res, 200, '{"access_token": "abc", "expires_in": 3');
    case 'trailing': return sendJson(res, 200, `${JSON.stringify(fakeTokenJson())} garbage`);
    case 'wrongtype': return sendJson(res, 200, fakeTokenJson({ access_token: 12345 }));
    case 'deep':
      deepJson = deepJson || '['.repeat(DEEP_NESTING) + ']'.repeat(DEEP_NESTING);
      return sendJson(res, 200, deepJson);
    case 'notjson': return send(res, 200, 'text/plain', 'hello');
    case 'empty': return sendJson(res, 200, '');
    case 'noaccess': {
      const { access_token: _, ...rest } = fakeTokenJson();
      return sendJson(res, 200, rest);
    }
    case 'huge': return streamHuge(res, o.bytes ?? HUGE_DEFAULT_BYTES);
    case 'redirect': return sendHtml(res, 302, 'Moved', 'Moved', { Location: UNROUTABLE_REDIRECT });
    case 'legacy_invalid_grant':
      return sendJson(res, 401, { code: 401, message: 'invalid_grant', status: '401 - Unauthorized',
        errors: [{ error_message: 'invalid_grant' }], error_code: 'invalid_grant' });
    case 'invalid_token': return invalidToken(res);
    default: throw new Error(`fault ${fault.kind} has no answer`);
  }
}

/* ------------------------------------------------------------------------------------------ */
/* GET /authorize                                                                               */

// The first problem of an authorize request that is sent back on the redirect, or null.
function authorizeProblem(p) {
  if (p.get('response_type') !== 'code') return 'response_type must be code';
  const challenge = p.get('code_challenge');
  if (challenge === undefined) return 'code_challenge is required (PKCE)';
  if (!/^[A-Za-z0-9_-]{43}$/.test(challenge)) return 'code_challenge must be 43 characters of base64url (S256)';
  if (p.get('code_challenge_method') !== 'S256') return 'code_challenge_method must be S256';
  if (p.get('state') === undefined) return 'state is required';
  return null;
}

function handleAuthorize(ctx) {
  const { req, res } = ctx;
  if (req.method !== 'GET') return sendHtml(res, 405, 'Method Not Allowed', 'Use GET.', { Allow: 'GET' });
  const p = ctx.form.params;
  if (ctx.form.error) return sendHtml(res, 400, 'Bad Request', ctx.form.error);
  // Until the client and its redirect URI are known good, never redirect: an error page only
  // (RFC 6749 4.1.2.1). Registered URIs match by string equality, as SoundCloud's do.
  const client = state.clients.get(p.get('client_id') || '');
  if (!client) return sendHtml(res, 400, 'Bad Request', 'Unknown client_id.');
  const redirectUri = p.get('redirect_uri');
  if (redirectUri === undefined || !client.redirectUris.includes(redirectUri)) {
    return sendHtml(res, 400, 'Bad Request', 'The redirect_uri is not one registered for this app.');
  }
  const stateParam = p.get('state');
  const back = (params) => redirect(res, withQuery(redirectUri, { ...params, state: stateParam }));
  const problem = authorizeProblem(p);
  if (problem) return back({ error: 'invalid_request', error_description: problem });
  if (state.faults.take('authorize', (k) => k === 'deny')) {
    ctx.entry.fault = 'deny';
    return back({ error: 'access_denied', error_description: 'The user denied access' });
  }
  const code = state.grants.addCode({
    clientId: client.id, redirectUri, challenge: p.get('code_challenge'), user: state.user, scope: p.get('scope') || '',
  });
  const iss = state.faults.take('authorize', (k) => k === 'iss');
  if (iss) ctx.entry.fault = 'iss';
  return back({ code, iss: iss ? iss.options.value || DEFAULT_ISSUER : undefined });
}

/* ------------------------------------------------------------------------------------------ */
/* POST /oauth/token                                                                            */

// "user:pass" with each part form-urlencoded before base64 (RFC 6749 2.3.1), or null.
function decodeBasic(b64) {
  if (b64.length % 4 !== 0) return null;
  const text = Buffer.from(b64, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon < 0) return null;
  try {
    return { id: formDecode(text.slice(0, colon)), secret: formDecode(text.slice(colon + 1)) };
  } catch {
    return null;
  }
}

// How the client authenticated: { kind, id, secret } with kind one of basic, body, both
// (secret sent both ways), conflict (Basic and a different body client_id), none, malformed.
function clientCredentials(req, params) {
  const header = req.headers.authorization;
  let basic = null;
  if (header !== undefined) {
    const m = /^Basic +([A-Za-z0-9+/]+={0,2}) *$/i.exec(header);
    basic = m && decodeBasic(m[1]);
    if (!basic) return { kind: 'malformed' };
  }
  const bodyId = params.get('client_id');
  const bodySecret = params.get('client_secret');
  if (basic && bodySecret !== undefined) return { kind: 'both' };
  if (basic && bodyId !== undefined && bodyId !== basic.id) return { kind: 'conflict' };
  if (basic) return { kind: 'basic', ...basic };
  if (bodyId !== undefined && bodySecret !== undefined) return { kind: 'body', id: bodyId, secret: bodySecret };
  return { kind: 'none' };
}

const AUTH_LABEL = { basic: 'basic', body: 'body', both: 'both', conflict: 'both', none: 'none', malformed: 'other' };

function tokenError(ctx, status, error, description, headers = {}) {
  state.stats.tokenError(error);
  sendJson(ctx.res, status, { error, error_description: description },
    { 'Cache-Control': 'no-store', Pragma: 'no-cache', ...headers });
}

function invalidClient(ctx, description) {
  tokenError(ctx, 401, 'invalid_client', description, { 'WWW-Authenticate': 'Basic realm="SoundCloud"' });
}

function issueTokens(ctx, chain, grantType) {
  const { accessToken, refreshToken } = state.grants.issue(chain, state.ttl);
  state.stats.counts.token.issued[grantType]++;
  sendJson(ctx.res, 200, {
    access_token: accessToken, expires_in: state.ttl, refresh_token: refreshToken, scope: chain.scope, token_type: 'bearer',
  }, { 'Cache-Control': 'no-store', Pragma: 'no-cache' });
}

function grantAuthorizationCode(ctx, client, auth, p) {
  for (const name of ['code', 'code_verifier', 'redirect_uri']) {
    if (p.get(name) === undefined) return tokenError(ctx, 400, 'invalid_request', `${name} is required`);
  }
  const code = state.grants.codes.get(p.get('code'));
  if (!code || code.clientId !== client.id) return tokenError(ctx, 400, 'invalid_grant', 'Unknown authorization code');
  if (code.used) {
    // A code seen twice was stolen or replayed: what it bought is revoked (RFC 6749 4.1.2).
    state.stats.counts.code_reuse++;
    if (code.chain && state.grants.revokeChain(code.chain)) state.stats.counts.chains_revoked++;
    return tokenError(ctx, 400, 'invalid_grant', 'The authorization code was already used');
  }
  code.used = true;   // any attempt spends it, so a wrong verifier cannot be retried
  if (Date.now() >= code.expiresAt) return tokenError(ctx, 400, 'invalid_grant', 'The authorization code expired');
  if (p.get('redirect_uri') !== code.redirectUri) {
    return tokenError(ctx, 400, 'invalid_grant', 'redirect_uri differs from the authorize request');
  }
  const verifier = p.get('code_verifier');
  if (!/^[A-Za-z0-9._~-]{43,128}$/.test(verifier)) {
    return tokenError(ctx, 400, 'invalid_grant', 'code_verifier must be 43-128 characters of [A-Za-z0-9-._~]');
  }
  const computed = crypto.createHash('sha256').update(verifier, 'ascii').digest('base64url');
  if (!safeEqual(computed, code.challenge)) return tokenError(ctx, 400, 'invalid_grant', 'code_verifier does not match the code_challenge');
  code.chain = state.grants.startChain(client.id, 'user', code.user, code.scope);
  return issueTokens(ctx, code.chain, 'authorization_code');
}

function grantRefreshToken(ctx, client, auth, p) {
  const token = p.get('refresh_token');
  if (token === undefined) return tokenError(ctx, 400, 'invalid_request', 'refresh_token is required');
  const record = state.grants.refresh.get(token);
  if (!record || record.chain.clientId !== client.id) return tokenError(ctx, 400, 'invalid_grant', 'Unknown refresh token');
  const chain = record.chain;
  if (chain.revoked) return tokenError(ctx, 400, 'invalid_grant', 'The refresh token was revoked');
  if (chain.live !== record) {
    // A spent refresh token came back: someone holds a copy. Kill the whole login (RFC 9700 4.14.2).
    state.stats.counts.refresh_reuse++;
    if (state.grants.revokeChain(chain)) state.stats.counts.chains_revoked++;
    return tokenError(ctx, 400, 'invalid_grant', 'The refresh token was already used');
  }
  chain.rotations++;
  return issueTokens(ctx, chain, 'refresh_token');
}

function grantClientCredentials(ctx, client, auth, p) {
  // SoundCloud documents this grant with Basic authentication only.
  if (auth.kind !== 'basic') return invalidClient(ctx, 'client_credentials needs HTTP Basic client authentication');
  for (const name of p.keys()) {
    if (name !== 'grant_type' && name !== 'scope') {
      return tokenError(ctx, 400, 'invalid_request', `client_credentials takes only grant_type and scope, not ${loggableName(name)}`);
    }
  }
  const chain = state.grants.startChain(client.id, 'app', null, p.get('scope') || '');
  return issueTokens(ctx, chain, 'client_credentials');
}

const GRANTS = new Map([
  ['authorization_code', grantAuthorizationCode],
  ['refresh_token', grantRefreshToken],
  ['client_credentials', grantClientCredentials],
]);

function handleToken(ctx) {
  const { req } = ctx;
  if (req.method !== 'POST') return tokenError(ctx, 405, 'invalid_request', 'Use POST', { Allow: 'POST' });
  if (mediaType(req) !== 'application/x-www-form-urlencoded') {
    return tokenError(ctx, 400, 'invalid_request', 'Content-Type must be application/x-www-form-urlencoded');
  }
  if (ctx.form.error) return tokenError(ctx, 400, 'invalid_request', ctx.form.error);
  const p = ctx.form.params;
  const auth = ctx.auth;
  switch (auth.kind) {
    case 'both': return tokenError(ctx, 400, 'invalid_request', 'Client credentials sent both in the Authorization header and in the body');
    case 'conflict': return tokenError(ctx, 400, 'invalid_request', 'client_id in the body differs from the Authorization header');
    case 'malformed': return invalidClient(ctx, 'Malformed Authorization header');
    case 'none': return invalidClient(ctx, 'Client authentication is required');
    default: break;
  }
  const client = state.clients.get(auth.id);
  if (!client || !safeEqual(auth.secret, client.secret)) return invalidClient(ctx, 'Unknown client or wrong client secret');
  const grantType = p.get('grant_type');
  if (grantType === undefined) return tokenError(ctx, 400, 'invalid_request', 'grant_type is required');
  const grant = GRANTS.get(grantType);
  if (!grant) return tokenError(ctx, 400, 'unsupported_grant_type', 'Unsupported grant_type');
  return grant(ctx, client, auth, p);
}

/* ------------------------------------------------------------------------------------------ */
/* API: /me and the echo                                                                        */

// The access token of an API request (OAuth or Bearer scheme), as { scheme, token }.
function apiCredentials(req) {
  const header = req.headers.authorization;
  if (header === undefined) return { scheme: 'none', token: null };
  const m = /^(OAuth|Bearer) +([\x21-\x7e]+) *$/i.exec(header);
  if (!m) return { scheme: 'other', token: null };
  return { scheme: m[1].toLowerCase() === 'oauth' ? 'oauth' : 'bearer', token: m[2] };
}

function invalidToken(res) {
  sendJson(res, 401, {
    code: 401, message: 'invalid_token', link: API_DOCS_LINK, status: '401 - Unauthorized',
    errors: [{ error_message: 'invalid_token' }], error_code: 'invalid_token',
  }, { 'WWW-Authenticate': 'OAuth realm="SoundCloud", error="invalid_token"' });
}

function userJson(user) {
  return {
    kind: 'user', id: user.id, urn: `soundcloud:users:${user.id}`, username: user.username,
    permalink: user.permalink, permalink_url: `https://soundcloud.com/${user.permalink}`, full_name: user.full_name,
  };
}

function echoJson(ctx, chain) {
  const query = new Map();
  for (const [name, value] of new URLSearchParams(ctx.search)) {
    const seen = query.get(name);
    if (seen === undefined) query.set(name, value);
    else if (Array.isArray(seen)) seen.push(value);
    else query.set(name, [seen, value]);
  }
  return {
    method: ctx.req.method, path: ctx.pathname, query: Object.fromEntries(query), body_bytes: ctx.body.length,
    user_urn: chain.user ? `soundcloud:users:${chain.user.id}` : null, grant: chain.grant,
  };
}

function handleApi(ctx) {
  const { req, res, pathname } = ctx;
  const record = ctx.apiAuth.token === null ? null : state.grants.usableAccess(ctx.apiAuth.token);
  if (!record) return invalidToken(res);
  const chain = record.chain;
  const aboutMe = pathname === '/me' || pathname.startsWith('/me/');
  // An app (client-credentials) token has no user behind it.
  if (aboutMe && chain.grant === 'app') return sendJson(res, 403, { code: 403, message: 'Forbidden' });
  if (pathname === '/me') {
    if (req.method !== 'GET') return sendJson(res, 405, { code: 405, message: 'Method Not Allowed' }, { Allow: 'GET' });
    return sendJson(res, 200, userJson(chain.user));
  }
  return sendJson(res, 200, echoJson(ctx, chain));
}

/* ------------------------------------------------------------------------------------------ */
/* Git over smart HTTP: /git/NAME.git                                                           */

// A repository that git can list (git ls-remote) with an access token, so that the tests can see
// what git itself sends: only `Authorization: OAuth TOKEN` with a usable token gets in (SoundCloud
// takes no other scheme); anything else is a 401 that offers OAuth.  The refs are made up.
const GIT_PATH = /^\/git\/[A-Za-z0-9._-]+\.git\/(info\/refs|git-upload-pack)$/;
const GIT_HEAD = '5ca1ab1e0000000000000000000000000000c0de';

function gitCredentials(req) {
  const header = req.headers.authorization;
  if (header === undefined) return { scheme: 'none', token: null };
  if (/^Basic /i.test(header)) return { scheme: 'basic', token: null };
  return apiCredentials(req);
}

// One pkt-line: four hex digits of length (their own included), then the data.
const pktLine = (data) => (data.length + 4).toString(16).padStart(4, '0') + data;

function handleGit(ctx) {
  const { req, res, pathname, search } = ctx;
  const record = ctx.apiAuth.scheme === 'oauth' ? state.grants.usableAccess(ctx.apiAuth.token) : null;
  if (!record) {
    return send(res, 401, 'text/plain; charset=utf-8', 'Authentication required\n',
      { 'WWW-Authenticate': 'OAuth realm="SoundCloud"' });
  }
  state.stats.counts.git.authorized++;
  const service = new URLSearchParams(search).get('service');
  if (req.method !== 'GET' || !pathname.endsWith('/info/refs') || service !== 'git-upload-pack') {
    return send(res, 403, 'text/plain; charset=utf-8', 'Only git ls-remote is served here\n');
  }
  const body = pktLine('# service=git-upload-pack\n') + '0000' +
    pktLine(`${GIT_HEAD} HEAD\0symref=HEAD:refs/heads/main agent=soundcloud-sandbox\n`) +
    pktLine(`${GIT_HEAD} refs/heads/main\n`) + '0000';
  return send(res, 200, 'application/x-git-upload-pack-advertisement', body, { 'Cache-Control': 'no-cache' });
}

/* ------------------------------------------------------------------------------------------ */
/* POST /sign-out                                                                               */

function parseJsonObject(body) {
  try {
    const value = JSON.parse(body.toString('utf8'));
    return isPlainObject(value) ? value : null;
  } catch {
    return null;   // never log the parser's message: it quotes the input
  }
}

function handleSignOut(ctx) {
  const { req, res } = ctx;
  const bad = (description) => sendJson(res, 400, { error: 'invalid_request', error_description: description });
  if (req.method !== 'POST') return sendJson(res, 405, { error: 'invalid_request', error_description: 'Use POST' }, { Allow: 'POST' });
  if (mediaType(req) !== 'application/json') return bad('Content-Type must be application/json');
  const doc = parseJsonObject(ctx.body);
  if (!doc) return bad('The body must be a JSON object');
  if (typeof doc.access_token !== 'string' || doc.access_token === '') return bad('access_token is required');
  // An expired token still names its login, so signing out with it ends that login too.
  const record = state.grants.access.get(doc.access_token);
  if (record && state.grants.revokeChain(record.chain)) state.stats.counts.chains_revoked++;
  return sendJson(res, 200, {});
}

/* ------------------------------------------------------------------------------------------ */
/* Control API: /_sandbox/...                                                                   */

function requireString(doc, name, { optional = false } = {}) {
  const value = doc[name];
  if (value === undefined && optional) return undefined;
  if (typeof value !== 'string' || value === '') throw new ControlError(`${name} must be a non-empty string`);
  return value;
}

function ctlClients(doc) {
  const id = requireString(doc, 'client_id');
  const secret = requireString(doc, 'client_secret');
  const uris = doc.redirect_uris;
  if (!Array.isArray(uris) || uris.length === 0 || !uris.every((u) => typeof u === 'string' && u !== '')) {
    throw new ControlError('redirect_uris must be a non-empty array of strings');
  }
  state.clients.set(id, { id, secret, redirectUris: [...uris] });
  return { ok: true, clients: state.clients.size };
}

function ctlUser(doc) {
  const id = doc.id;
  if (!Number.isSafeInteger(id) || id <= 0) throw new ControlError('id must be a positive integer');
  const permalink = requireString(doc, 'permalink', { optional: true }) ?? `user-${id}`;
  const username = requireString(doc, 'username', { optional: true }) ?? permalink;
  const fullName = doc.full_name ?? '';
  if (typeof fullName !== 'string') throw new ControlError('full_name must be a string');
  state.user = Object.freeze({ id, username, permalink, full_name: fullName });
  return { ok: true, urn: `soundcloud:users:${id}` };
}

function ctlAddFault(doc) {
  state.faults.add(doc);
  return { ok: true, queued: state.faults.queue.length };
}

function ctlReset(doc) {
  if (doc.clients !== undefined && typeof doc.clients !== 'boolean') throw new ControlError('clients must be true or false');
  ctlRelease();
  state.faults.clear();
  state.grants.clear();
  state.stats.reset();
  state.user = DEFAULT_USER;
  state.ttl = state.startTtl;
  if (doc.clients) state.clients.clear();
  return { ok: true };
}

function ctlRevoke(doc) {
  if (doc.what === 'access') return { ok: true, revoked: state.grants.revokeAllAccess() };
  if (doc.what === 'all') return { ok: true, revoked: state.grants.revokeEverything() };
  throw new ControlError('what must be "access" or "all"');
}

function ctlTtl(doc) {
  const seconds = doc.seconds;
  if (!Number.isInteger(seconds) || seconds < 0 || seconds > MAX_TTL) throw new ControlError(`seconds must be an integer from 0 to ${MAX_TTL}`);
  state.ttl = seconds;
  return { ok: true, seconds };
}

function ctlChain(doc, search) {
  const fp = new URLSearchParams(search).get('fp') || '';
  if (!/^[0-9a-f]{16}$/.test(fp)) throw new ControlError('fp must be 16 lower-case hex characters (sha256 of the refresh token)');
  const record = state.grants.byFingerprint.get(fp);
  if (!record) return { known: false, live: false, rotations: 0, revoked: false };
  const chain = record.chain;
  return { known: true, live: chain.live === record, rotations: chain.rotations, revoked: chain.revoked, id: chain.id };
}

const CONTROL = new Map([
  ['POST /_sandbox/clients', ctlClients],
  ['POST /_sandbox/user', ctlUser],
  ['POST /_sandbox/fault', ctlAddFault],
  ['GET /_sandbox/fault', () => ({ faults: state.faults.queue })],
  ['DELETE /_sandbox/fault', () => { state.faults.clear(); return { ok: true }; }],
  ['POST /_sandbox/reset', ctlReset],
  ['POST /_sandbox/release', ctlRelease],
  ['POST /_sandbox/revoke', ctlRevoke],
  ['POST /_sandbox/ttl', ctlTtl],
  ['GET /_sandbox/stats', () => state.stats],
  ['GET /_sandbox/chain', ctlChain],
  ['GET /_sandbox/chains', () => ({ chains: state.grants.chains.map((c) => state.grants.chainInfo(c)) })],
  ['GET /_sandbox/health', () => ({ ok: true })],
]);

function handleControl(ctx) {
  const { req, res, pathname } = ctx;
  const handler = CONTROL.get(`${req.method} ${pathname}`);
  if (!handler) {
    const known = [...CONTROL.keys()].some((key) => key.endsWith(` ${pathname}`));
    return sendJson(res, known ? 405 : 404, { error: known ? 'method not allowed' : 'unknown control endpoint' });
  }
  let doc = {};
  if (ctx.body.length > 0) {
    doc = parseJsonObject(ctx.body);
    if (!doc) return sendJson(res, 400, { error: 'the body must be a JSON object' });
  }
  try {
    return sendJson(res, 200, handler(doc, ctx.search));
  } catch (err) {
    if (err instanceof ControlError) return sendJson(res, 400, { error: err.message });
    throw err;
  }
}

/* ------------------------------------------------------------------------------------------ */
/* Request pipeline                                                                             */

function classify(pathname) {
  if (pathname.startsWith('/_sandbox/')) return 'control';
  if (pathname === '/authorize') return 'authorize';
  if (pathname === '/oauth/token') return 'token';
  if (pathname === '/sign-out') return 'signout';
  if (pathname === '/me') return 'me';
  if (GIT_PATH.test(pathname)) return 'git';
  if (pathname.startsWith('/') && API_RESOURCES.has(pathname.split('/')[1])) return 'api';
  return null;
}

// Reads the request body up to MAX_REQUEST_BODY; answers 413 and resolves null beyond that, and
// resolves null when the client goes away first.
function readBody(req, res) {
  return new Promise((resolve) => {
    let done = false;
    const finish = (value) => { if (!done) { done = true; resolve(value); } };
    const tooLarge = () => {
      if (done) return;
      finish(null);
      // The answer waits for the end of the upload (read and dropped, up to a cap), so that a
      // client still sending is not cut off before it can read the 413; the connection closes.
      let dropped = 0;
      const answer = () => {
        if (res.headersSent) return;
        sendJson(res, 413, { error: 'request_too_large', error_description: `bodies are limited to ${MAX_REQUEST_BODY} bytes` },
          { Connection: 'close' });
      };
      req.removeAllListeners('data');
      req.on('data', (chunk) => {
        dropped += chunk.length;
        if (dropped > 16 * MAX_REQUEST_BODY) { answer(); req.destroy(); }
      });
      req.on('end', answer);
      req.resume();
    };
    if (Number(req.headers['content-length']) > MAX_REQUEST_BODY) return tooLarge();
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      if (done) return;
      size += chunk.length;
      if (size > MAX_REQUEST_BODY) return tooLarge();
      chunks.push(chunk);
    });
    req.on('end', () => finish(Buffer.concat(chunks)));
    req.on('error', () => finish(null));
    req.on('close', () => finish(null));
  });
}

// Parses what the endpoint needs before faults are served, so that the statistics describe every
// request (faulted ones too) by parameter names, grant type and kind of authentication.
function describe(ctx) {
  const { req, entry, endpoint } = ctx;
  const counts = state.stats.counts;
  const parse = (text) => {
    try {
      return parseForm(text);
    } catch (err) {
      if (!(err instanceof RequestError)) throw err;
      return { params: new Map(), names: [], error: err.message };
    }
  };
  if (endpoint === 'token') {
    const isForm = mediaType(req) === 'application/x-www-form-urlencoded';
    ctx.form = isForm ? parse(ctx.body.toString('utf8')) : { params: new Map(), names: [] };
    const grantType = ctx.form.params.get('grant_type');
    const known = GRANT_TYPES.includes(grantType);
    counts.token[known ? grantType : 'other']++;
    entry.grant_type = known ? grantType : grantType === undefined ? null : 'other';
    ctx.auth = clientCredentials(req, ctx.form.params);
    entry.auth = AUTH_LABEL[ctx.auth.kind];
    entry.body_keys = ctx.form.names.map(loggableName);
  } else if (endpoint === 'authorize') {
    counts.authorize++;
    ctx.form = parse(ctx.search);
    entry.query_keys = ctx.form.names.map(loggableName);
  } else if (endpoint === 'api' || endpoint === 'me') {
    counts.api++;
    if (endpoint === 'me') counts.me++;
    ctx.apiAuth = apiCredentials(req);
    entry.auth = ctx.apiAuth.scheme;
    entry.query_keys = [...new URLSearchParams(ctx.search).keys()].map(loggableName);
  } else if (endpoint === 'git') {
    counts.git.requests++;
    ctx.apiAuth = gitCredentials(req);
    entry.auth = ctx.apiAuth.scheme;
    counts.git.auth[ctx.apiAuth.scheme]++;
  } else if (endpoint === 'signout') {
    counts.signout++;
    const doc = parseJsonObject(ctx.body);
    entry.body_keys = doc ? Object.keys(doc).map(loggableName) : [];
  } else {
    counts.not_found++;
  }
}

const HANDLERS = {
  token: handleToken,
  authorize: handleAuthorize,
  api: handleApi,
  me: handleApi,
  signout: handleSignOut,
  git: handleGit,
};

function trackEntry(ctx) {
  const { res, entry } = ctx;
  res.once('close', () => {
    entry.status = res.headersSent ? res.statusCode : 0;
    entry.ms = Date.now() - entry.t;
    const grant = entry.grant_type ? ` ${entry.grant_type}` : '';
    const fault = entry.fault ? ` fault=${entry.fault}` : '';
    log(`${entry.method} ${entry.path} ${entry.status || 'no-answer'}${grant}${fault} ${entry.ms}ms`);
  });
}

async function handle(req, res) {
  const { pathname, search } = splitTarget(req.url);
  const endpoint = classify(pathname);
  const ctx = { req, res, pathname, search, endpoint, body: null, entry: null, form: null, auth: null, apiAuth: null };
  if (endpoint !== 'control') {
    ctx.entry = state.stats.begin(req.method, pathname, endpoint);
    trackEntry(ctx);
  }
  ctx.body = await readBody(req, res);
  if (ctx.body === null) return;
  if (endpoint === 'control') return handleControl(ctx);
  describe(ctx);
  if (endpoint === null) return sendJson(res, 404, { code: 404, message: '404 - Not Found' });
  const fault = state.faults.take(endpoint, (kind) => !FAULT_KINDS.get(kind).logic);
  if (fault) {
    ctx.entry.fault = fault.kind;
    state.stats.counts.faults++;
    if ((await serveFault(fault, ctx)) !== CONTINUE) return;
  }
  return HANDLERS[endpoint](ctx);
}

function internalError(res, err) {
  process.stderr.write(`sandbox: internal error: ${err && err.stack ? err.stack : err}\n`);
  if (!res.headersSent) sendJson(res, 500, { error: 'server_error', error_description: 'sandbox internal error' });
  else res.destroy();
}

/* ------------------------------------------------------------------------------------------ */
/* Start-up                                                                                     */

function writeRunFiles(dir, port) {
  const base = `https://${HOST}:${port}`;
  const config = [
    `authorize_url = ${base}/authorize`,
    `token_url = ${base}/oauth/token`,
    `signout_url = ${base}/sign-out`,
    `api_url = ${base}`,
    `ca_file = ${path.join(dir, 'ca.pem')}`,
    '',
  ].join('\n');
  writeFileAtomic(path.join(dir, 'config'), config, 0o644);
  writeFileAtomic(path.join(dir, 'port'), `${port}\n`, 0o644);
  writeFileAtomic(path.join(dir, 'pid'), `${process.pid}\n`, 0o644);
}

function shutdown(dir, why) {
  log(`stopping: ${why}`);
  fs.rmSync(path.join(dir, 'pid'), { force: true });
  process.exit(0);
}

// Exits when the process that started us is gone, so that an interrupted test run leaves no
// server behind.
function watchParent(pid, dir) {
  setInterval(() => {
    try {
      process.kill(pid, 0);
    } catch (err) {
      if (err.code === 'ESRCH') shutdown(dir, `process ${pid} is gone`);
    }
  }, 1000).unref();
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const dir = path.resolve(opts.dir);
  state = newState(opts);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  let tls;
  try {
    tls = makeCertificates(dir);
  } catch (err) {
    process.stderr.write(`sandbox: ${err.message}\n`);
    process.exit(1);
  }
  const server = https.createServer({ key: fs.readFileSync(tls.key), cert: fs.readFileSync(tls.cert), minVersion: 'TLSv1.2' },
    (req, res) => handle(req, res).catch((err) => internalError(res, err)));
  server.keepAliveTimeout = 5000;
  server.on('clientError', (err, socket) => {
    if (socket.writable && !socket.destroyed) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    else socket.destroy();
  });
  server.on('tlsClientError', (err) => log(`TLS handshake failed: ${err.code || err.message}`));
  server.on('error', (err) => {
    process.stderr.write(`sandbox: cannot listen on ${HOST}:${opts.port}: ${err.message}\n`);
    process.exit(1);
  });
  server.listen({ host: HOST, port: opts.port, backlog: 1024 }, () => {
    const port = server.address().port;
    writeRunFiles(dir, port);
    process.stdout.write(`READY ${port}\n`);
    log(`listening on https://${HOST}:${port}, files in ${dir}`);
  });
  process.on('SIGTERM', () => shutdown(dir, 'SIGTERM'));
  process.on('SIGINT', () => shutdown(dir, 'SIGINT'));
  // A test server that dies in the middle of a suite fails every later test for the wrong
  // reason; log the bug loudly and keep serving.
  process.on('uncaughtException', (err) => process.stderr.write(`sandbox: uncaught: ${err.stack || err}\n`));
  if (opts.watchPid) watchParent(opts.watchPid, dir);
}

main();

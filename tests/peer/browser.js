#!/usr/bin/env node
// Scripted browser for the conformance peer, used as $BROWSER by our tests.
//
// `browser.js URL` plays the user at the authorization server: it reads the
// client's file:// page for the start address it forwards to, opens that (or the
// authorize URL), follows the peer's redirects with a cookie jar, fills in
// oidc-provider's login form (login from $PEER_LOGIN, default "alice") and
// consent form, and stops when the peer redirects to the client's loopback
// redirect_uri. That last URL is then fetched once, as a browser would, which
// delivers the code to the client's listener; the listener's page is the end.
//
// Environment:
//   PEER_CA               CA file to trust for the peer (else NODE_EXTRA_CA_CERTS
//                         or the system store)
//   PEER_LOGIN            login name to sign in with (default "alice")
//   PEER_BROWSER_ACTION   "approve" (default) or "deny": cancel at the first
//                         interaction page, so that the client gets
//                         error=access_denied on its redirect
//
// Exit status: 0 when the loopback listener answered (2xx; any status when
// denying), 1 on anything unexpected (an error page from the peer, more than 20
// redirects, a redirect off loopback, a page it does not understand), 2 on
// usage errors. It prints progress on stderr, paths only: never a query string,
// so never the code. Node standard library only.

import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';

const MAX_REDIRECTS = 20;
const MAX_FORMS = 10;
const MAX_BODY = 1024 * 1024;
const TIMEOUT_MS = 15000;
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

function fail(msg, code = 1) {
  process.stderr.write(`browser: ${msg}\n`);
  process.exit(code);
}

function note(msg) {
  process.stderr.write(`browser: ${msg}\n`);
}

// What may be shown of a URL: origin and path, never the query.
function shown(url) {
  return `${url.origin}${url.pathname}${url.search ? ' (query hidden)' : ''}`;
}

function decodeEntities(s) {
  return s.replace(/&(#x[0-9a-f]+|#[0-9]+|amp|lt|gt|quot|apos);/gi, (m, e) => {
    const named = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }[e.toLowerCase()];
    if (named) return named;
    return String.fromCodePoint(e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
  });
}

function attributes(tag) {
  const out = {};
  for (const m of tag.matchAll(/([a-zA-Z_:][-a-zA-Z0-9_:.]*)\s*(?:=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?/g)) {
    out[m[1].toLowerCase()] = decodeEntities(m[2] ?? m[3] ?? m[4] ?? '');
  }
  return out;
}

// A minimal cookie jar: enough for oidc-provider's session and interaction
// cookies, which are host-only and scoped by path (/interaction/UID, /auth/UID).
class CookieJar {
  #cookies = new Map();

  store(url, setCookieHeaders = []) {
    for (const header of setCookieHeaders) {
      const [pair, ...attrs] = header.split(';');
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      let cookiePath = url.pathname.replace(/\/[^/]*$/, '') || '/';
      let expired = false;
      for (const attr of attrs) {
        const [k, ...v] = attr.split('=');
        const key = k.trim().toLowerCase();
        const val = v.join('=').trim();
        if (key === 'path' && val.startsWith('/')) cookiePath = val;
        if (key === 'max-age' && Number(val) <= 0) expired = true;
        if (key === 'expires' && Date.parse(val) <= Date.now()) expired = true;
      }
      const id = `${name}\0${cookiePath}`;
      if (expired) this.#cookies.delete(id);
      else this.#cookies.set(id, { name, value, path: cookiePath });
    }
  }

  header(url) {
    const p = url.pathname;
    const matching = [...this.#cookies.values()].filter((c) => p === c.path
      || (p.startsWith(c.path) && (c.path.endsWith('/') || p[c.path.length] === '/')));
    // RFC 6265 5.4: longer paths first.
    matching.sort((a, b) => b.path.length - a.path.length);
    return matching.map((c) => `${c.name}=${c.value}`).join('; ');
  }
}

function request(url, { method = 'GET', body, headers = {}, ca } = {}) {
  return new Promise((resolve, reject) => {
    const mod = url.protocol === 'https:' ? https : http;
    const req = mod.request(url, {
      method,
      headers: { 'user-agent': 'soundcloud-auth-peer-browser', accept: 'text/html', ...headers },
      ...(url.protocol === 'https:' && ca ? { ca } : {}),
      timeout: TIMEOUT_MS,
    }, (res) => {
      const chunks = [];
      let size = 0;
      res.on('data', (chunk) => {
        size += chunk.length;
        if (size > MAX_BODY) {
          req.destroy(new Error('response body too large'));
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => resolve({
        status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'),
      }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${TIMEOUT_MS / 1000}s`)));
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

// oidc-provider's error page lists "error: ..." and "error_description: ..."
// in <pre> elements; show them.
function describeErrorPage(html) {
  const lines = [...html.matchAll(/<pre>([\s\S]*?)<\/pre>/gi)]
    .map((m) => decodeEntities(m[1].replace(/<[^>]*>/g, '')).trim());
  return lines.length ? lines.join('; ') : 'no details on the page';
}

function findForm(html) {
  const m = /<form\b([^>]*)>([\s\S]*?)<\/form>/i.exec(html);
  if (!m) return undefined;
  const form = attributes(m[1]);
  const inputs = [...m[2].matchAll(/<input\b([^>]*)>/gi)].map((i) => attributes(i[1]));
  return { action: form.action, method: (form.method || 'get').toUpperCase(), inputs };
}

// The cookies of the client's start address, for the redirect back to it.
let startJar = null;

async function main() {
  if (process.argv.length !== 3) fail('usage: browser.js START_OR_AUTHORIZE_URL', 2);
  let current;
  try {
    current = new URL(process.argv[2]);
  } catch {
    fail('the argument is not a URL', 2);
  }
  // The page a client hands its browser: a file that refreshes to its start address.
  if (current.protocol === 'file:') {
    let html;
    try {
      html = fs.readFileSync(current, 'utf8');
    } catch (err) {
      fail(`cannot read the page ${current.pathname}: ${err.message}`);
    }
    const m = /<meta http-equiv="refresh" content="0; url=([^"]*)"/i.exec(html);
    if (!m) fail(`no refresh on the page ${current.pathname}`);
    current = new URL(m[1].replace(/&amp;/g, '&'));
  }
  const jar = new CookieJar();
  // The client's one-time start address on its loopback listener: it sets a
  // cookie (which the redirect back must carry) and sends us to the authorize URL.
  if (current.protocol === 'http:' && LOOPBACK_HOSTS.has(current.hostname)) {
    let res;
    try {
      res = await request(current);
    } catch (err) {
      fail(`the client's start address ${shown(current)} did not answer: ${err.message}`);
    }
    note(`GET ${shown(current)} -> ${res.status}`);
    const setCookie = res.headers['set-cookie'];
    jar.store(current, Array.isArray(setCookie) ? setCookie : setCookie ? [setCookie] : []);
    if (res.status !== 302 || !res.headers.location) fail(`the start address answered ${res.status}`);
    current = new URL(res.headers.location, current);
    startJar = jar;
  }
  if (current.protocol !== 'https:') fail(`refusing a non-https authorize URL ${shown(current)}`, 2);

  const peerOrigin = current.origin;
  const ca = process.env.PEER_CA ? fs.readFileSync(process.env.PEER_CA) : undefined;
  const login = process.env.PEER_LOGIN || 'alice';
  const action = process.env.PEER_BROWSER_ACTION || 'approve';
  if (!['approve', 'deny'].includes(action)) fail(`PEER_BROWSER_ACTION must be approve or deny, not ${action}`, 2);

  let redirects = 0;
  let forms = 0;
  let pending = { method: 'GET' };

  for (;;) {
    const headers = { ...pending.headers };
    const cookie = jar.header(current);
    if (cookie) headers.cookie = cookie;
    let res;
    try {
      res = await request(current, { method: pending.method, body: pending.body, headers, ca });
    } catch (err) {
      fail(`${pending.method} ${shown(current)} failed: ${err.message}`);
    }
    note(`${pending.method} ${shown(current)} -> ${res.status}`);
    const setCookie = res.headers['set-cookie'];
    jar.store(current, Array.isArray(setCookie) ? setCookie : setCookie ? [setCookie] : []);

    if (res.status >= 300 && res.status < 400) {
      if (!res.headers.location) fail(`redirect ${res.status} without a Location header`);
      redirects += 1;
      if (redirects > MAX_REDIRECTS) fail(`more than ${MAX_REDIRECTS} redirects`);
      const next = new URL(res.headers.location, current);
      if (next.origin === peerOrigin) {
        current = next;
        pending = { method: 'GET' };
        continue;
      }
      if (next.protocol === 'http:' && LOOPBACK_HOSTS.has(next.hostname)) {
        return deliver(next, action);
      }
      fail(`refusing to follow a redirect off the peer to a non-loopback target ${shown(next)}`);
    }

    if (res.status !== 200) {
      fail(`the peer answered ${res.status} at ${shown(current)}: ${describeErrorPage(res.body)}`);
    }
    if (/<title>\s*oops!/i.test(res.body)) {
      fail(`the peer showed an error page at ${shown(current)}: ${describeErrorPage(res.body)}`);
    }

    const form = findForm(res.body);
    if (!form || form.method !== 'POST' || !form.action) {
      fail(`unexpected page from the peer at ${shown(current)} (no sign-in or consent form)`);
    }
    forms += 1;
    if (forms > MAX_FORMS) fail(`more than ${MAX_FORMS} interaction pages: the peer keeps asking`);

    const prompt = form.inputs.find((i) => i.name === 'prompt')?.value;
    if (action === 'deny') {
      // oidc-provider's pages carry a "Cancel" link to /interaction/UID/abort.
      const abort = /href="([^"]*\/abort)"/i.exec(res.body);
      if (!abort) fail(`no abort link on the ${prompt ?? 'unknown'} page`);
      note(`denying at the ${prompt ?? 'unknown'} page`);
      current = new URL(decodeEntities(abort[1]), current);
      pending = { method: 'GET' };
      continue;
    }

    const fields = new URLSearchParams();
    for (const input of form.inputs) {
      if (!input.name) continue;
      if (input.name === 'login') fields.append('login', login);
      else if (input.type === 'password') fields.append(input.name, 'peer-password');
      else fields.append(input.name, input.value ?? '');
    }
    if (prompt === 'login') note(`signing in as ${login}`);
    else if (prompt === 'consent') note('consenting');
    else fail(`unknown interaction page at ${shown(current)} (prompt ${prompt ?? 'missing'})`);

    const target = new URL(form.action, current);
    if (target.origin !== peerOrigin) fail(`the form posts off the peer, to ${shown(target)}`);
    current = target;
    pending = {
      method: 'POST',
      body: fields.toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    };
  }
}

// Hand the authorization response to the client's loopback listener, as the
// real browser would after the last redirect.
async function deliver(url, action) {
  const names = [...url.searchParams.keys()];
  note(`redirected to the client at ${shown(url)} with parameters: ${names.join(', ') || 'none'}`);
  const error = url.searchParams.get('error');
  if (error) note(`authorization error on the redirect: ${error}: ${url.searchParams.get('error_description') ?? ''}`);
  let res;
  const headers = { accept: 'text/html' };
  const cookie = startJar ? startJar.header(url) : '';
  if (cookie) headers.cookie = cookie;
  try {
    res = await request(url, { headers });
  } catch (err) {
    fail(`the client's listener at ${shown(url)} did not answer: ${err.message}`);
  }
  note(`the client's listener answered ${res.status}`);
  if (action === 'approve' && (res.status < 200 || res.status > 299)) {
    fail(`the client's listener answered ${res.status} instead of a page`);
  }
  process.exit(0);
}

main().catch((err) => fail(err.stack || String(err)));

// openapi/openapi.yaml: valid OpenAPI 3.1, and true to the running server (status, content type,
// documented headers and body schema of real responses).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import SwaggerParser from '@apidevtools/swagger-parser';

import { startServer } from './server.js';
import { loadConformance, SPEC_PATH } from './spec.js';

test('swagger-parser validates openapi/openapi.yaml', async () => {
  const api = await SwaggerParser.validate(SPEC_PATH);
  assert.equal(api.openapi, '3.1.0');
  assert.ok(Object.keys(api.paths).length > 0);
  const methods = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']);
  for (const [p, item] of Object.entries(api.paths)) {
    for (const [m, op] of Object.entries(item)) {
      if (!methods.has(m)) continue; // path-level parameters, summary, description
      assert.ok(op.summary, `${m} ${p} has a summary`);
      for (const status of ['404', '405', '413']) {
        assert.ok(op.responses[status], `${m} ${p} documents ${status}`);
      }
    }
  }
});

describe('the running server answers what the spec says', () => {
  let srv, spec, sa, reader, tokenOfSa;
  const form = (o) => new URLSearchParams(o).toString();
  const basic = (a) =>
    'Basic ' +
    Buffer.from(`${encodeURIComponent(a.client_id)}:${encodeURIComponent(a.client_secret)}`).toString(
      'base64',
    );

  async function call(method, path, { body, headers = {}, auth } = {}) {
    const h = { ...headers };
    if (auth) h.authorization = basic(auth);
    if (typeof body === 'string' && !h['content-type']) {
      h['content-type'] = 'application/x-www-form-urlencoded';
    }
    const res = await fetch(srv.url(path), { method, headers: h, body });
    return { res, text: await res.text() };
  }

  async function expectOp(method, path, status, opts) {
    const { res, text } = await call(method, path, opts);
    assert.equal(res.status, status, `${method} ${path}: ${text}`);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    return spec.conforms(method, path, res, text);
  }

  before(async () => {
    spec = await loadConformance();
    srv = await startServer();
    [sa, reader] = await Promise.all([
      srv.createServiceAccount('svc', ['readWrite@ecommerce', 'idp:introspect']),
      srv.createServiceAccount('reader', ['read@billing']),
    ]);
    const body = await expectOp('POST', '/oauth/token', 200, {
      auth: sa,
      body: form({ grant_type: 'client_credentials' }),
    });
    tokenOfSa = body.access_token;
  });
  after(async () => {
    await srv?.stop();
  });

  test('discovery, JWKS, health and readiness', async () => {
    const a = await expectOp('GET', '/.well-known/openid-configuration', 200);
    const b = await expectOp('GET', '/.well-known/oauth-authorization-server', 200);
    assert.deepEqual(a, b);
    await expectOp('GET', '/jwks', 200);
    assert.deepEqual(await expectOp('GET', '/healthz', 200), { status: 'ok' });
    const ready = await expectOp('GET', '/readyz', 200);
    assert.equal(ready.signing_alg, 'ES256');
  });

  test('token endpoint: success and each documented error', async () => {
    const ok = await expectOp('POST', '/oauth/token', 200, {
      body: form({
        grant_type: 'client_credentials',
        client_id: sa.client_id,
        client_secret: sa.client_secret,
        scope: 'readWrite@ecommerce',
      }),
    });
    assert.equal(ok.expires_in, 3600);
    assert.equal(ok.scope, 'readWrite@ecommerce');
    const cc = { grant_type: 'client_credentials' };
    const json = { 'content-type': 'application/json' };
    const wrong = { ...sa, client_secret: 'idpsec_nope' };
    const cases = [
      [400, 'invalid_request', { auth: sa, body: form({ scope: 'x' }) }],
      [400, 'unsupported_grant_type', { auth: sa, body: form({ grant_type: 'implicit' }) }],
      [400, 'unauthorized_client', { auth: sa, body: form({ grant_type: 'password' }) }],
      [400, 'unauthorized_client', { auth: sa, body: form({ grant_type: 'refresh_token' }) }],
      [400, 'invalid_scope', { auth: sa, body: form({ ...cc, scope: 'idp:admin' }) }],
      [400, 'invalid_target', { auth: sa, body: form({ ...cc, resource: 'https://x.test' }) }],
      [400, 'invalid_request', { auth: sa, body: `${form(cc)}&${form(cc)}` }],
      [400, 'invalid_request', { auth: sa, body: JSON.stringify(cc), headers: json }],
      [400, 'invalid_request', { auth: sa, body: form({ ...cc, client_secret: sa.client_secret }) }],
      [401, 'invalid_client', { body: form(cc) }],
      [401, 'invalid_client', { auth: wrong, body: form(cc) }],
      [401, 'invalid_client', { body: form(cc), headers: { authorization: `Bearer ${tokenOfSa}` } }],
    ];
    for (const [status, error, opts] of cases) {
      const body = await expectOp('POST', '/oauth/token', status, opts);
      assert.equal(body.error, error, JSON.stringify(opts.body));
    }
  });

  test('introspection: active, inactive, access_denied, invalid_request', async () => {
    const active = await expectOp('POST', '/oauth/introspect', 200, {
      auth: sa,
      body: form({ token: tokenOfSa, token_type_hint: 'access_token' }),
    });
    assert.equal(active.active, true);
    const inactive = await expectOp('POST', '/oauth/introspect', 200, {
      auth: sa,
      body: form({ token: 'garbage' }),
    });
    assert.deepEqual(inactive, { active: false });
    const denied = await expectOp('POST', '/oauth/introspect', 403, {
      auth: reader,
      body: form({ token: tokenOfSa }),
    });
    assert.equal(denied.error, 'access_denied');
    const missing = await expectOp('POST', '/oauth/introspect', 400, { auth: sa, body: '' });
    assert.equal(missing.error, 'invalid_request');
  });

  test('revocation: unauthorized_client, then 200 with an empty body', async () => {
    const other = await expectOp('POST', '/oauth/revoke', 400, {
      auth: reader,
      body: form({ token: tokenOfSa }),
    });
    assert.equal(other.error, 'unauthorized_client');
    await expectOp('POST', '/oauth/revoke', 200, { auth: sa, body: form({ token: tokenOfSa }) });
    await expectOp('POST', '/oauth/revoke', 200, { auth: sa, body: form({ token: 'garbage' }) });
    const after = await expectOp('POST', '/oauth/introspect', 200, {
      auth: sa,
      body: form({ token: tokenOfSa }),
    });
    assert.deepEqual(after, { active: false });
  });

  test('registration is off by default: 403', async () => {
    const p = await expectOp('POST', '/v1/register', 403, {
      body: JSON.stringify({ client_id: 'app_x', email: 'a@example.com', password: 'password1' }),
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(p.detail, 'registration is turned off (allow_registration)');
  });

  test('router errors: 404, 405 with Allow, 413 on any path', async () => {
    let r = await call('GET', '/no-such-route');
    assert.equal(r.res.status, 404);
    spec.conformsTo('NotFound', r.res, r.text);
    r = await call('POST', '/jwks', { body: 'x' });
    assert.equal(r.res.status, 405);
    assert.equal(r.res.headers.get('allow'), 'GET, HEAD');
    spec.conformsTo('MethodNotAllowed', r.res, r.text);
    // the OAuth endpoints answer their router errors in RFC 6749's shape
    r = await call('GET', '/oauth/token');
    assert.equal(r.res.status, 405);
    assert.equal(r.res.headers.get('allow'), 'POST');
    assert.equal(spec.conformsTo('OAuthMethodNotAllowed', r.res, r.text).error, 'invalid_request');
    const big = 'grant_type=client_credentials&pad=' + 'a'.repeat(70 * 1024);
    for (const path of ['/oauth/token', '/oauth/introspect']) {
      r = await call('POST', path, { auth: sa, body: big });
      assert.equal(r.res.status, 413, path);
      const body = spec.conformsTo('OAuthContentTooLarge', r.res, r.text);
      assert.equal(body.error, 'invalid_request');
    }
    r = await call('POST', '/no-such-route', { auth: sa, body: big });
    assert.equal(r.res.status, 413);
    assert.equal(spec.conformsTo('ContentTooLarge', r.res, r.text).status, 413);
    // a body just under the limit is read normally
    const fits = 'grant_type=client_credentials&pad=' + 'a'.repeat(60 * 1024);
    await expectOp('POST', '/oauth/token', 200, { auth: sa, body: fits });
  });
});

// The user endpoints and the user grants: every documented status that a test can provoke.
describe('the user endpoints answer what the spec says', () => {
  let srv, spec, app, other, sa;
  const form = (o) => new URLSearchParams(o).toString();
  const formType = { 'content-type': 'application/x-www-form-urlencoded' };
  const ANON = 'urn:idpd:grant-type:anonymous';
  const jsonType = { 'content-type': 'application/json' };

  // A request: body is an object (sent as JSON), a string (sent as is) or absent.
  async function expectOp(method, template, path, status, { token, body, headers = {} } = {}) {
    const h = { ...headers };
    if (token) h.authorization = `Bearer ${token}`;
    if (body !== undefined && typeof body !== 'string') {
      body = JSON.stringify(body);
      h['content-type'] ??= 'application/json';
    }
    const res = await fetch(srv.url(path), { method, headers: h, body });
    const text = await res.text();
    assert.equal(res.status, status, `${method} ${path}: ${text}`);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    return spec.conforms(method, template, res, text);
  }
  const token = (status, fields) =>
    expectOp('POST', '/oauth/token', '/oauth/token', status, { body: form(fields), headers: formType });
  const revoke = (status, fields) =>
    expectOp('POST', '/oauth/revoke', '/oauth/revoke', status, { body: form(fields), headers: formType });
  const login = (email, password, extra = {}) =>
    token(200, { grant_type: 'password', client_id: app.client_id, username: email, password, ...extra });

  before(async () => {
    spec = await loadConformance();
    srv = await startServer({ args: ['--allow-registration'] });
    [app, other, sa] = await Promise.all([
      srv.createApplication('sdk'),
      srv.createApplication('password-only', ['password']),
      srv.createServiceAccount('svc', ['idp:introspect']),
    ]);
  });
  after(async () => {
    await srv?.stop();
  });

  test('register: 201, 400, 409, 415', async () => {
    const ok = { client_id: app.client_id, email: 'spec@example.com', password: 'spec password' };
    const user = await expectOp('POST', '/v1/register', '/v1/register', 201, { body: ok });
    assert.equal(user.email, 'spec@example.com');
    await expectOp('POST', '/v1/register', '/v1/register', 409, { body: ok });
    for (const bad of [{ ...ok, password: 'short' }, { ...ok, extra: 1 }, { ...ok, name: '' }, '[]']) {
      await expectOp('POST', '/v1/register', '/v1/register', 400, { body: bad, headers: jsonType });
    }
    await expectOp('POST', '/v1/register', '/v1/register', 415, { body: form(ok), headers: formType });
  });

  test('token: the user grants, 200 and their errors', async () => {
    await expectOp('POST', '/v1/register', '/v1/register', 201, {
      body: { client_id: app.client_id, email: 'grants@example.com', password: 'grants password' },
    });
    const t = await login('grants@example.com', 'grants password', { scope: 'openid', nonce: 'n' });
    assert.ok(t.refresh_token && t.id_token);
    const refresh = (status, refreshToken) =>
      token(status, { grant_type: 'refresh_token', client_id: app.client_id, refresh_token: refreshToken });
    const r = await refresh(200, t.refresh_token);
    assert.notEqual(r.refresh_token, t.refresh_token);
    const anon = await token(200, { grant_type: ANON, client_id: app.client_id });
    assert.equal(anon.id_token, undefined);
    const pw = { grant_type: 'password', client_id: app.client_id, username: 'grants@example.com' };
    const rt = { grant_type: 'refresh_token', client_id: app.client_id };
    const cases = [
      [400, 'invalid_grant', { ...pw, password: 'wrong password' }],
      [400, 'invalid_grant', { ...pw, username: 'nobody@example.com', password: 'grants password' }],
      [400, 'invalid_request', pw],
      [400, 'invalid_scope', { ...pw, password: 'grants password', scope: 'openid admin' }],
      [400, 'invalid_request', rt],
      [400, 'invalid_grant', { ...rt, refresh_token: 'x'.repeat(43) }],
      [400, 'unauthorized_client', { grant_type: ANON, client_id: other.client_id }],
      [400, 'unauthorized_client', { grant_type: 'client_credentials', client_id: app.client_id }],
      [401, 'invalid_client', { ...pw, password: 'grants password', client_secret: 'idpsec_x' }],
      [401, 'invalid_client', { ...pw, password: 'grants password', client_id: `app_${'0'.repeat(26)}` }],
    ];
    for (const [status, error, fields] of cases) {
      assert.equal((await token(status, fields)).error, error, JSON.stringify(fields));
    }
    // the refresh token used above is superseded: presenting it ends the session
    assert.equal((await refresh(400, t.refresh_token)).error, 'invalid_grant');
    assert.equal((await refresh(400, r.refresh_token)).error, 'invalid_grant'); // the newest too
  });

  test('revoke and introspect with user tokens', async () => {
    const anon = await token(200, { grant_type: ANON, client_id: app.client_id });
    const denied = await expectOp('POST', '/oauth/introspect', '/oauth/introspect', 403, {
      body: form({ client_id: app.client_id, token: anon.access_token }),
      headers: formType,
    });
    assert.equal(denied.error, 'access_denied');
    const basic = 'Basic ' + Buffer.from(`${sa.client_id}:${sa.client_secret}`).toString('base64');
    const introspect = () =>
      expectOp('POST', '/oauth/introspect', '/oauth/introspect', 200, {
        body: form({ token: anon.access_token }),
        headers: { ...formType, authorization: basic },
      });
    const active = await introspect();
    assert.equal(active.principal_type, 'user');
    assert.match(active.sid, /^ses_/);
    const wrong = await revoke(400, { client_id: other.client_id, token: anon.refresh_token });
    assert.equal(wrong.error, 'unauthorized_client');
    const hint = { token_type_hint: 'refresh_token' };
    await revoke(200, { client_id: app.client_id, token: anon.refresh_token, ...hint });
    await revoke(200, { client_id: app.client_id, token: anon.refresh_token });
    assert.deepEqual(await introspect(), { active: false });
    await expectOp('GET', '/userinfo', '/userinfo', 401, { token: anon.access_token });
  });

  test('userinfo, me and sessions: 200, 401, 403', async () => {
    const a = await token(200, { grant_type: ANON, client_id: app.client_id });
    for (const method of ['GET', 'POST']) {
      const info = await expectOp(method, '/userinfo', '/userinfo', 200, { token: a.access_token });
      assert.match(info.sub, /^usr_/);
      await expectOp(method, '/userinfo', '/userinfo', 401, {});
      await expectOp(method, '/userinfo', '/userinfo', 401, { token: 'not.a.token' });
    }
    const me = await expectOp('GET', '/v1/me', '/v1/me', 200, { token: a.access_token });
    assert.equal(me.anonymous, true);
    await expectOp('GET', '/v1/me/sessions', '/v1/me/sessions', 200, { token: a.access_token });
    const { client_id, client_secret } = sa;
    const cc = await token(200, { grant_type: 'client_credentials', client_id, client_secret });
    for (const [method, template, path] of [
      ['GET', '/userinfo', '/userinfo'],
      ['GET', '/v1/me', '/v1/me'],
      ['GET', '/v1/me/sessions', '/v1/me/sessions'],
      ['DELETE', '/v1/me/sessions/{sid}', '/v1/me/sessions/ses_x'],
      ['DELETE', '/v1/me/identities/{id}', '/v1/me/identities/idn_x'],
    ]) {
      await expectOp(method, template, path, 403, { token: cc.access_token });
      await expectOp(method, template, path, 401, {});
    }
  });

  test('sessions, password and identities: 204, 400, 403, 404, 409, 415', async () => {
    await expectOp('POST', '/v1/register', '/v1/register', 201, {
      body: { client_id: app.client_id, email: 'me@example.com', password: 'me password' },
    });
    const a = await login('me@example.com', 'me password');
    const b = await login('me@example.com', 'me password');
    const sidB = JSON.parse(Buffer.from(b.access_token.split('.')[1], 'base64url')).sid;
    const end = (status) =>
      expectOp('DELETE', '/v1/me/sessions/{sid}', `/v1/me/sessions/${sidB}`, status, {
        token: a.access_token,
      });
    await end(204);
    await end(404);

    const pw = (status, body, headers) =>
      expectOp('POST', '/v1/me/password', '/v1/me/password', status, {
        token: a.access_token,
        body,
        headers,
      });
    await pw(400, { current_password: 'me password', new_password: 'short' });
    await pw(400, { current_password: 'me password' });
    await pw(415, 'current_password=x', formType);
    await pw(403, { current_password: 'not my password', new_password: 'new me password' });
    await pw(204, { current_password: 'me password', new_password: 'new me password' });

    const link = (status, tok, body, headers) =>
      expectOp('POST', '/v1/me/identities', '/v1/me/identities', status, { token: tok, body, headers });
    const x = { provider: 'local-userpass', email: 'x@example.com', password: 'x password' };
    await link(409, a.access_token, x);
    const anon = await token(200, { grant_type: ANON, client_id: app.client_id });
    await link(400, anon.access_token, { provider: 'local-userpass', email: 'nope', password: 'x password' });
    await link(400, anon.access_token, { provider: 'local-userpass', email: 'x@example.com' });
    await link(415, anon.access_token, '{}', { 'content-type': 'text/plain' });
    await link(409, anon.access_token, { ...x, email: 'ME@example.com' });
    const idn = await link(201, anon.access_token, x);
    const me = await expectOp('GET', '/v1/me', '/v1/me', 200, { token: anon.access_token });
    const anonIdn = me.identities.find((i) => i.provider === 'anon-user');
    const unlink = (status, id) =>
      expectOp('DELETE', '/v1/me/identities/{id}', `/v1/me/identities/${id}`, status, {
        token: anon.access_token,
      });
    await unlink(204, anonIdn.id);
    await unlink(404, anonIdn.id);
    await unlink(409, idn.id);
  });

  test('router errors on the user paths: 404, 405 with Allow, 413', async () => {
    let res = await fetch(srv.url('/v1/me'), { method: 'POST' });
    assert.equal(res.status, 405);
    assert.equal(res.headers.get('allow'), 'GET, HEAD');
    spec.conformsTo('MethodNotAllowed', res, await res.text());
    res = await fetch(srv.url('/userinfo'), { method: 'DELETE' });
    assert.equal(res.headers.get('allow'), 'GET, HEAD, POST');
    spec.conformsTo('MethodNotAllowed', res, await res.text());
    res = await fetch(srv.url('/v1/me/sessions/ses_x/more'), { method: 'DELETE' });
    assert.equal(res.status, 404);
    spec.conformsTo('NotFound', res, await res.text());
    res = await fetch(srv.url('/v1/register'), {
      method: 'POST',
      headers: jsonType,
      body: JSON.stringify({ pad: 'a'.repeat(70 * 1024) }),
    });
    assert.equal(res.status, 413);
    spec.conforms('POST', '/v1/register', res, await res.text());
  });
});

// The admin API: a service account holding idp:admin gets an admin token by client credentials;
// each answer (success and problem alike) is checked against the operation's documented response.
describe('the admin API answers what the spec says', () => {
  let srv, spec, admin, plain;
  const U = '/admin/v1/users';

  async function expectOp(method, template, path, status, { token, body, headers = {} } = {}) {
    const h = { ...headers };
    if (token) h.authorization = `Bearer ${token}`;
    if (body !== undefined && typeof body !== 'string') {
      body = JSON.stringify(body);
      h['content-type'] ??= 'application/json';
    }
    const res = await fetch(srv.url(path), { method, headers: h, body });
    const text = await res.text();
    assert.equal(res.status, status, `${method} ${path}: ${text}`);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    return spec.conforms(method, template, res, text);
  }
  async function accessToken(sa) {
    const res = await fetch(srv.url('/oauth/token'), {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: 'Basic ' + Buffer.from(`${sa.client_id}:${sa.client_secret}`).toString('base64'),
      },
      body: 'grant_type=client_credentials',
    });
    assert.equal(res.status, 200);
    return (await res.json()).access_token;
  }

  before(async () => {
    spec = await loadConformance();
    srv = await startServer();
    const [a, p] = await Promise.all([
      srv.createServiceAccount('ops', ['idp:admin']),
      srv.createServiceAccount('plain', ['read@billing']),
    ]);
    [admin, plain] = await Promise.all([accessToken(a), accessToken(p)]);
  });
  after(async () => {
    await srv?.stop();
  });

  test('users: create 201, list and get 200, 400, 404, 409, 415', async () => {
    const body = { email: 'Ann@example.com', name: 'Ann', password: 'ann password' };
    const ann = await expectOp('POST', U, U, 201, { token: admin, body });
    assert.equal(ann.email, 'Ann@example.com');
    assert.equal(ann.identities.length, 1);
    await expectOp('POST', U, U, 201, { token: admin, body: { email: 'bob@example.com' } });
    await expectOp('POST', U, U, 409, { token: admin, body: { email: 'ANN@example.com' } });
    const typo = { email: 'c@example.com', emial: 'x' };
    const unknown = await expectOp('POST', U, U, 400, { token: admin, body: typo });
    assert.match(unknown.detail, /emial/);
    const text = { 'content-type': 'text/plain' };
    await expectOp('POST', U, U, 415, { token: admin, body: 'email=c', headers: text });

    const page = await expectOp('GET', U, `${U}?limit=1`, 200, { token: admin });
    assert.equal(page.items.length, 1);
    const after = encodeURIComponent(page.next);
    const rest = await expectOp('GET', U, `${U}?limit=1&after=${after}`, 200, { token: admin });
    assert.notEqual(rest.items[0].id, page.items[0].id);
    const found = await expectOp('GET', U, `${U}?email=ann&status=active`, 200, { token: admin });
    assert.deepEqual(found.items.map((u) => u.id), [ann.id]);
    await expectOp('GET', U, `${U}?limit=501`, 400, { token: admin });
    // the cursor is bound to the list's filters
    await expectOp('GET', U, `${U}?email=ann&after=${after}`, 400, { token: admin });

    await expectOp('GET', `${U}/{id}`, `${U}/${ann.id}`, 200, { token: admin });
    const nobody = `${U}/usr_01m81fbjtytysdzvvpk8m7002v`;
    const missing = await expectOp('GET', `${U}/{id}`, nobody, 404, { token: admin });
    assert.equal(missing.detail, 'no such user');
    await expectOp('POST', `${U}/{id}/disable`, `${U}/${ann.id}/disable`, 200, { token: admin });
    await expectOp('DELETE', `${U}/{id}/sessions`, `${U}/${ann.id}/sessions`, 204, { token: admin });
    await expectOp('DELETE', `${U}/{id}`, `${U}/${ann.id}`, 204, { token: admin });
  });

  test('401 with a Bearer challenge, 403 without an idp:* role', async () => {
    await expectOp('GET', U, U, 401, {});
    await expectOp('GET', U, U, 401, { token: 'not.a.token' });
    const denied = await expectOp('GET', U, U, 403, { token: plain });
    assert.match(denied.detail, /idp:/);
    await expectOp('POST', U, U, 403, { token: plain, body: { email: 'd@example.com' } });
  });

  test('service account with its secret once, keys, audit events without secrets', async () => {
    const SA = '/admin/v1/service-accounts';
    const create = { name: 'svc', roles: ['read@billing'] };
    const sa = await expectOp('POST', SA, SA, 201, { token: admin, body: create });
    assert.match(sa.client_secret, /^idpsec_/);
    const secretsOf = [`${SA}/{id}/secrets`, `${SA}/${sa.id}/secrets`];
    const second = await expectOp('POST', ...secretsOf, 201, { token: admin });
    await expectOp('POST', ...secretsOf, 409, { token: admin }); // at most two live secrets
    const secrets = await expectOp('GET', ...secretsOf, 200, { token: admin });
    assert.equal(secrets.items.length, 2);
    await expectOp('PUT', `${SA}/{id}/access-list`, `${SA}/${sa.id}/access-list`, 200, {
      token: admin,
      body: { entries: [{ cidr: '10.0.0.0/8', comment: 'office' }] },
    });
    await expectOp('GET', '/admin/v1/keys', '/admin/v1/keys', 200, { token: admin });
    const events = await expectOp('GET', '/admin/v1/audit-events', '/admin/v1/audit-events?limit=500', 200, {
      token: admin,
    });
    assert.ok(events.items.some((e) => e.type === 'admin.service_account.create'));
    const text = JSON.stringify(events);
    assert.ok(!text.includes(sa.client_secret) && !text.includes(second.client_secret));
  });
});

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
  for (const [p, item] of Object.entries(api.paths)) {
    for (const [m, op] of Object.entries(item)) {
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
      [400, 'unsupported_grant_type', { auth: sa, body: form({ grant_type: 'password' }) }],
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

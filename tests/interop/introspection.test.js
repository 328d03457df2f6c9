// Introspection (RFC 7662) and revocation (RFC 7009) through openid-client.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { createRemoteJWKSet, jwtVerify } from 'jose';
import { errors, Issuer } from 'openid-client';

import { startServer } from './server.js';

let srv, issuer, jwks, introspector, admin, app, other;
before(async () => {
  srv = await startServer();
  issuer = await Issuer.discover(srv.issuer);
  jwks = createRemoteJWKSet(new URL(issuer.metadata.jwks_uri), { timeoutDuration: 30000 });
  [introspector, admin, app, other] = await Promise.all([
    srv.createServiceAccount('gateway', ['idp:introspect']),
    srv.createServiceAccount('admin-bot', ['idp:admin']),
    srv.createServiceAccount('orders-api', ['readWrite@ecommerce', 'PROJECT_OWNER@proj_prod']),
    srv.createServiceAccount('billing-api', ['read@billing']),
  ]);
});
after(async () => {
  await srv?.stop();
});

function client(account, method = 'client_secret_basic') {
  return new issuer.Client({
    client_id: account.client_id,
    client_secret: account.client_secret,
    token_endpoint_auth_method: method,
  });
}

async function tokenOf(account) {
  const ts = await client(account).grant({ grant_type: 'client_credentials' });
  return ts.access_token;
}

async function assertOPError(promise, error, status) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof errors.OPError, `expected an OPError, got ${err}`);
    assert.equal(err.error, error);
    assert.equal(err.response.statusCode, status);
    return true;
  });
}

describe('introspection', () => {
  let token;
  before(async () => {
    token = await tokenOf(app);
  });

  for (const method of ['client_secret_basic', 'client_secret_post']) {
    test(`an idp:introspect caller sees an active token and its claims (${method})`, async () => {
      const r = await client(introspector, method).introspect(token);
      assert.equal(r.active, true);
      assert.equal(r.iss, srv.issuer);
      assert.equal(r.sub, app.client_id);
      assert.equal(r.client_id, app.client_id);
      assert.equal(r.aud, srv.issuer); // no audience configured: the issuer
      assert.equal(r.principal_type, 'service_account');
      assert.deepEqual(r.roles, ['PROJECT_OWNER@proj_prod', 'readWrite@ecommerce']);
      assert.equal(r.token_type, 'Bearer');
      assert.equal(r.exp - r.iat, 3600);
      const { payload } = await jwtVerify(token, jwks, {
        issuer: srv.issuer,
        audience: srv.issuer,
        typ: 'at+jwt',
        algorithms: ['ES256'],
      });
      assert.equal(r.jti, payload.jti);
    });
  }

  test('an idp:admin caller may introspect too', async () => {
    const r = await client(admin).introspect(token);
    assert.equal(r.active, true);
    assert.equal(r.sub, app.client_id);
  });

  test('a caller without idp:introspect or idp:admin gets access_denied', async () => {
    await assertOPError(client(other).introspect(token), 'access_denied', 403);
    await assertOPError(client(app).introspect(token), 'access_denied', 403);
  });

  test('a token that is not idpd\'s is inactive, and nothing more is said', async () => {
    const [h, p] = token.split('.');
    for (const t of ['not-a-token', `${h}.${p}.`, `${h}.${p}.AAAA`, `eyJhbGciOiJub25lIn0.${p}.`]) {
      assert.deepEqual(await client(introspector).introspect(t), { active: false });
    }
  });

  test('a wrong introspector secret is invalid_client', async () => {
    const c = new issuer.Client({ client_id: introspector.client_id, client_secret: 'idpsec_wrong' });
    await assertOPError(c.introspect(token), 'invalid_client', 401);
  });
});

describe('revocation', () => {
  test('another client may not revoke the token: unauthorized_client', async () => {
    const token = await tokenOf(app);
    await assertOPError(client(other).revoke(token), 'unauthorized_client', 400);
    assert.equal((await client(introspector).introspect(token)).active, true);
  });

  for (const method of ['client_secret_basic', 'client_secret_post']) {
    test(`the owner revokes its token; introspection then answers inactive (${method})`, async () => {
      const token = await tokenOf(app);
      assert.equal((await client(introspector).introspect(token)).active, true);
      await client(app, method).revoke(token);
      assert.deepEqual(await client(introspector).introspect(token), { active: false });
      // Offline verification cannot know: the signature is still good until exp.
      await jwtVerify(token, jwks, { issuer: srv.issuer, typ: 'at+jwt', algorithms: ['ES256'] });
      // Revoking again changes nothing and still answers 200.
      await client(app, method).revoke(token, 'access_token');
      assert.deepEqual(await client(introspector).introspect(token), { active: false });
    });
  }

  test('revoking one token leaves the others active', async () => {
    const [a, b] = [await tokenOf(app), await tokenOf(app)];
    await client(app).revoke(a);
    assert.equal((await client(introspector).introspect(a)).active, false);
    assert.equal((await client(introspector).introspect(b)).active, true);
  });

  test('an unknown or malformed token answers 200', async () => {
    await client(app).revoke('not-a-token');
    await client(app).revoke('eyJhbGciOiJFUzI1NiJ9.e30.AAAA');
  });
});

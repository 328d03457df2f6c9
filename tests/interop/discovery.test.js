// Discovery and keys through openid-client and jose.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { calculateJwkThumbprint, importJWK } from 'jose';
import { Issuer } from 'openid-client';

import { startServer } from './server.js';

let srv;
before(async () => {
  srv = await startServer();
});
after(async () => {
  await srv?.stop();
});

function checkEndpoints(m) {
  assert.equal(m.issuer, srv.issuer);
  assert.equal(m.token_endpoint, `${srv.issuer}/oauth/token`);
  assert.equal(m.introspection_endpoint, `${srv.issuer}/oauth/introspect`);
  assert.equal(m.revocation_endpoint, `${srv.issuer}/oauth/revoke`);
  assert.equal(m.jwks_uri, `${srv.issuer}/jwks`);
  assert.equal(m.userinfo_endpoint, `${srv.issuer}/userinfo`);
  assert.equal(m.authorization_endpoint, `${srv.issuer}/oauth/authorize`);
  assert.equal(m.end_session_endpoint, `${srv.issuer}/oauth/logout`);
  assert.deepEqual(m.response_types_supported, ['code']);
  assert.deepEqual(m.code_challenge_methods_supported, ['S256']);
  assert.equal(m.device_authorization_endpoint, `${srv.issuer}/oauth/device_authorization`);
  assert.deepEqual(m.grant_types_supported.slice().sort(), [
    'authorization_code',
    'client_credentials',
    'password',
    'refresh_token',
    'urn:idpd:grant-type:anonymous',
    'urn:idpd:grant-type:api-key',
    'urn:ietf:params:oauth:grant-type:device_code',
    'urn:ietf:params:oauth:grant-type:jwt-bearer',
  ]);
  // none: public applications name themselves with client_id alone (token and revocation)
  const withNone = ['client_secret_basic', 'client_secret_post', 'none'];
  assert.deepEqual(m.token_endpoint_auth_methods_supported.slice().sort(), withNone);
  assert.deepEqual(m.revocation_endpoint_auth_methods_supported.slice().sort(), withNone);
  assert.deepEqual(m.introspection_endpoint_auth_methods_supported.slice().sort(), [
    'client_secret_basic',
    'client_secret_post',
  ]);
  assert.deepEqual(m.scopes_supported.slice().sort(), ['email', 'offline_access', 'openid', 'profile']);
  assert.deepEqual(m.id_token_signing_alg_values_supported, ['ES256']);
  assert.deepEqual(m.subject_types_supported, ['public']);
  for (const c of ['sub', 'sid', 'auth_time', 'amr', 'nonce', 'email', 'email_verified', 'name']) {
    assert.ok(m.claims_supported.includes(c), `claims_supported lacks ${c}`);
  }
}

test('the issuer defaults to http://HOST:PORT of the listener', () => {
  assert.equal(srv.issuer, `http://127.0.0.1:${srv.port}`);
});

test('Issuer.discover(issuer) finds the issuer and its endpoints', async () => {
  const issuer = await Issuer.discover(srv.issuer);
  checkEndpoints(issuer.metadata);
  assert.equal(issuer.issuer, srv.issuer);
  assert.equal(issuer.token_endpoint, `${srv.issuer}/oauth/token`);
  assert.equal(issuer.userinfo_endpoint, `${srv.issuer}/userinfo`);
});

test('a public application client is accepted by openid-client (auth method none)', async () => {
  const issuer = await Issuer.discover(srv.issuer);
  const client = new issuer.Client({ client_id: 'app_x', token_endpoint_auth_method: 'none' });
  assert.equal(client.token_endpoint_auth_method, 'none');
  assert.equal(client.revocation_endpoint_auth_method, 'none');
});

test('Issuer.discover on the RFC 8414 path answers the same metadata', async () => {
  const oidc = await Issuer.discover(`${srv.issuer}/.well-known/openid-configuration`);
  const oauth = await Issuer.discover(`${srv.issuer}/.well-known/oauth-authorization-server`);
  checkEndpoints(oauth.metadata);
  assert.deepEqual(oauth.metadata, oidc.metadata);
});

test('Issuer.discover of an unknown issuer fails', async () => {
  await assert.rejects(Issuer.discover(`${srv.issuer}/not-an-issuer`));
});

test('the JWKS publishes ES256 public keys whose kid is the RFC 7638 thumbprint', async () => {
  const issuer = await Issuer.discover(srv.issuer);
  const res = await fetch(issuer.metadata.jwks_uri);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('cache-control'), /^public, max-age=\d+$/);
  const { keys } = await res.json();
  assert.ok(keys.length >= 2, 'the active key and the next key are published');
  const kids = new Set();
  for (const jwk of keys) {
    assert.equal(jwk.kty, 'EC');
    assert.equal(jwk.crv, 'P-256');
    assert.equal(jwk.alg, 'ES256');
    assert.equal(jwk.use, 'sig');
    for (const priv of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) {
      assert.ok(!(priv in jwk), `a private member "${priv}" is published`);
    }
    assert.equal(jwk.kid, await calculateJwkThumbprint(jwk, 'sha256'));
    await importJWK(jwk, 'ES256'); // a usable public key
    kids.add(jwk.kid);
  }
  assert.equal(kids.size, keys.length, 'kids are unique');
});

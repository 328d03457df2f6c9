// Key rotation as a resource server sees it: after POST /admin/v1/keys/rotate, a token signed
// before the rotation still verifies with jose against the JWKS (the retired key stays published
// until its tokens expire), the new token carries the new kid, and the kid that becomes active
// was already published as the next key before it signed anything.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { Issuer } from 'openid-client';

import { startServer } from './server.js';

let srv, issuer, admin, client;
before(async () => {
  srv = await startServer();
  issuer = await Issuer.discover(srv.issuer);
  admin = await srv.createServiceAccount('key-admin', ['idp:admin', 'idp:introspect']);
  client = new issuer.Client({
    client_id: admin.client_id,
    client_secret: admin.client_secret,
    token_endpoint_auth_method: 'client_secret_basic',
  });
});
after(async () => {
  await srv?.stop();
});

// A fresh key set each time, as a resource server whose cache has expired would fetch it.
function verify(token) {
  const jwks = createRemoteJWKSet(new URL(issuer.metadata.jwks_uri), { cacheMaxAge: 0 });
  return jwtVerify(token, jwks, { issuer: srv.issuer, typ: 'at+jwt', algorithms: ['ES256'] });
}

async function kids() {
  const res = await fetch(issuer.metadata.jwks_uri);
  assert.equal(res.status, 200);
  return (await res.json()).keys.map((k) => k.kid);
}

test('a token signed before a rotation still verifies after it; new tokens use the next key', async () => {
  const before = (await client.grant({ grant_type: 'client_credentials' })).access_token;
  const oldKid = decodeProtectedHeader(before).kid;
  const published = await kids();
  assert.equal(published.length, 2, 'active and next keys are published');
  assert.equal(published[0], oldKid, 'the active key comes first');
  const nextKid = published[1];
  await verify(before);

  // The next key was made when the server started, moments ago: a rotation without force waits
  // until it has been in the JWKS for jwks_max_age + keys_refresh_interval (409 before).
  const res = await fetch(srv.url('/admin/v1/keys/rotate'), {
    method: 'POST',
    headers: {
      authorization: `Bearer ${before}`,
      'content-type': 'application/json',
    },
    body: JSON.stringify({ force: true }),
  });
  assert.equal(res.status, 200);

  const after = (await client.grant({ grant_type: 'client_credentials' })).access_token;
  assert.equal(decodeProtectedHeader(after).kid, nextKid, 'the pre-published key now signs');
  const now = await kids();
  assert.ok(now.includes(oldKid), 'the retired key stays in the JWKS');
  assert.ok(now.includes(nextKid));
  assert.equal(now.length, 3, 'active, new next and retired');

  const { payload: oldClaims } = await verify(before);
  assert.equal(oldClaims.sub, admin.client_id);
  const { payload: newClaims } = await verify(after);
  assert.equal(newClaims.sub, admin.client_id);
  const intro = await client.introspect(before);
  assert.equal(intro.active, true, 'the old token is still good at idpd too');
});

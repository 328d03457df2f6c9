// Benchmark peer for idpd: panva's oidc-provider (pinned in package.json) with one
// client-credentials client, ES256 JWT access tokens, introspection and revocation.
// Listens on 127.0.0.1 only. Env: PEER_PORT (default 0 = ephemeral), PEER_CLIENT_ID,
// PEER_CLIENT_SECRET. Once listening it prints exactly one line to stdout:
//   {"port":N,"issuer":"http://127.0.0.1:N"}
// and nothing else on stdout. SIGTERM/SIGINT close the server and exit 0.
//
// Access tokens: a request without `resource` gets an ES256 JWT (typ at+jwt) for the default
// resource urn:bench:api. oidc-provider does not store JWT access tokens and its introspection
// and revocation endpoints reject any JWT with 400 unsupported_token_type (no option changes
// that), so a second resource, urn:bench:opaque, issues opaque (stored, in-memory) tokens for
// introspection and revocation: POST the token endpoint with resource=urn:bench:opaque.
import * as nodeCrypto from 'node:crypto';
import * as http from 'node:http';

// Node 18 (Debian 12's nodejs) lacks globals that oidc-provider 9 / jose 6 use; these are no-ops
// on Node >= 20.18. (oidc-provider 9 also calls node:crypto's hash(), Node >= 20.12, which can't
// be added to the module namespace; none of the code paths used here reach it.)
globalThis.crypto ??= nodeCrypto.webcrypto;
globalThis.CryptoKey ??= nodeCrypto.webcrypto.CryptoKey;
URL.parse ??= (url, base) => {
  try {
    return new URL(url, base);
  } catch {
    return null;
  }
};

// oidc-provider prints one-time startup notices with console.info (stdout, which must carry only
// the JSON line) and console.warn. Drop them; PEER_QUIET=0 sends them to stderr instead.
// Errors (koa's, server_error below) still go to stderr.
const quiet = process.env.PEER_QUIET !== '0';
console.info = quiet ? () => {} : console.error;
console.warn = quiet ? () => {} : console.error;
console.log = console.error;

const { default: Provider, errors } = await import('oidc-provider');

const port = Number(process.env.PEER_PORT ?? 0);
const clientId = process.env.PEER_CLIENT_ID || 'bench-peer';
const clientSecret = process.env.PEER_CLIENT_SECRET
  || 'bench-peer-secret-0123456789abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJKLMNOP';

const JWT_RESOURCE = 'urn:bench:api';
const OPAQUE_RESOURCE = 'urn:bench:opaque';

function signingKey() {
  const { privateKey } = nodeCrypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = privateKey.export({ format: 'jwk' });
  // RFC 7638 thumbprint as kid
  const members = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y });
  const kid = nodeCrypto.createHash('sha256').update(members).digest('base64url');
  return { ...jwk, kid, alg: 'ES256', use: 'sig' };
}

function resourceServer(audience, format) {
  return {
    scope: 'api',
    audience,
    accessTokenFormat: format,
    accessTokenTTL: 3600,
    ...(format === 'jwt' ? { jwt: { sign: { alg: 'ES256' } } } : {}),
  };
}

const configuration = {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
    scope: 'api',
  }],
  clientDefaults: {
    grant_types: ['client_credentials'],
    response_types: [],
    id_token_signed_response_alg: 'ES256',
    token_endpoint_auth_method: 'client_secret_basic',
  },
  jwks: { keys: [signingKey()] },
  enabledJWA: {
    idTokenSigningAlgValues: ['ES256'],
    userinfoSigningAlgValues: ['ES256'],
    introspectionSigningAlgValues: ['ES256'],
    authorizationSigningAlgValues: ['ES256'],
  },
  cookies: { keys: [nodeCrypto.randomBytes(32).toString('base64url')] },
  scopes: ['openid', 'api'],
  clientBasedCORS: () => false,
  ttl: { ClientCredentials: (ctx, token) => token.resourceServer?.accessTokenTTL ?? 3600 },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: {
      enabled: true,
      // the default: any confidential client may introspect any token
      allowedPolicy: (ctx, client, token) => client.clientAuthMethod !== 'none'
        || token.clientId === client.clientId,
    },
    revocation: {
      enabled: true,
      allowedPolicy: (ctx, client, token) => token.clientId === client.clientId,
    },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => JWT_RESOURCE,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resourceIndicator) => {
        if (resourceIndicator === JWT_RESOURCE) return resourceServer(JWT_RESOURCE, 'jwt');
        if (resourceIndicator === OPAQUE_RESOURCE) return resourceServer(OPAQUE_RESOURCE, 'opaque');
        throw new errors.InvalidTarget();
      },
    },
  },
};

const server = http.createServer();
server.keepAliveTimeout = 65_000;
server.listen(port, '127.0.0.1', () => {
  const actual = server.address().port;
  const issuer = `http://127.0.0.1:${actual}`;
  const provider = new Provider(issuer, configuration);
  provider.on('server_error', (ctx, err) => console.error('oidc-provider server_error:', err));
  server.on('request', provider.callback());
  process.stdout.write(`${JSON.stringify({ port: actual, issuer })}\n`);
});

let stopping = false;
function stop() {
  if (stopping) return;
  stopping = true;
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

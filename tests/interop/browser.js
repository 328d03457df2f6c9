// What the browser tests need besides idpd: headless Chromium (Debian's, driven by
// playwright-core, which never downloads a browser), the little loopback HTTP server that plays
// the application's redirect URIs, and a folder for screenshots. Everything listens on or talks
// to 127.0.0.1 only, and every start has its stop.
import { access, constants, mkdir } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { chromium } from 'playwright-core';

const LAUNCH_TIMEOUT_MS = 30000;

// Debian's chromium package; IDPD_CHROMIUM names another build of it.
export function chromiumPath() {
  return process.env.IDPD_CHROMIUM || '/usr/bin/chromium';
}

// Headless Chromium. Fails (never skips) when it is not installed.
export async function launchChromium() {
  const executablePath = chromiumPath();
  try {
    await access(executablePath, constants.X_OK);
  } catch {
    throw new Error(
      `no Chromium at ${executablePath}: install it (apt-get install --no-install-recommends ` +
        'chromium) or set IDPD_CHROMIUM to its path',
    );
  }
  return chromium.launch({
    executablePath,
    headless: true,
    timeout: LAUNCH_TIMEOUT_MS,
    // Chromium's own background traffic (updates, safe browsing, …) would leave 127.0.0.1.
    args: ['--no-first-run', '--disable-background-networking', '--disable-component-update'],
  });
}

// Where screenshots go: IDPD_ARTIFACT_DIR (CTest sets it inside the build tree), else a folder
// in the system's temporary directory. Created when missing.
export async function artifactDir() {
  const dir = process.env.IDPD_ARTIFACT_DIR || path.join(tmpdir(), 'idpd-interop-artifacts');
  await mkdir(dir, { recursive: true });
  return dir;
}

// An HTTP server on 127.0.0.1 and a random port that answers every GET with a small page and
// remembers each request's URL (hits), as an application's redirect URIs would receive them.
export async function startCallbackServer() {
  const hits = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, `http://${req.headers.host}`);
    if (url.pathname !== '/favicon.ico') hits.push(url);
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end('<!doctype html><html lang="en"><title>Application</title><p>Back in the app.</p>\n');
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const origin = `http://127.0.0.1:${server.address().port}`;
  let closed = null;
  return {
    origin,
    url: (p) => `${origin}${p}`,
    hits,
    // The requests that reached pathname (with its query), oldest first.
    hitsAt: (pathname) => hits.filter((u) => u.pathname === pathname),
    stop() {
      if (!closed) {
        closed = new Promise((resolve) => server.close(resolve));
        server.closeAllConnections(); // the browser's keep-alive connections
      }
      return closed;
    },
  };
}

// What the email tests need besides idpd: a real SMTP server on loopback that keeps every
// message (Debian's aiosmtpd with its Mailbox handler, writing a maildir, as tests/mail_sink.c
// runs it for the C suites), and a reader of what it received: the headers, the parts of a
// multipart message with their quoted-printable undone, the links in them. The sink is spawned
// by the test and stopped by its PID (SIGTERM), pass or fail.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

// Debian's python, which has aiosmtpd (a python3 earlier in PATH may not).
const PYTHON = '/usr/bin/python3';
const START_TIMEOUT_MS = 20000;
const STOP_TIMEOUT_MS = 10000;
const MAIL_TIMEOUT_MS = 20000;

// A loopback port nobody listens on now (asked of the kernel, then let go).
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function accepts(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

// `python3 -m aiosmtpd -n -l 127.0.0.1:PORT -c aiosmtpd.handlers.Mailbox DIR` on a fresh
// maildir and a free port; answers once the port accepts connections. url is what
// IDPD_SMTP_URL names.
export async function startMailSink() {
  const root = await mkdtemp(path.join(tmpdir(), 'idpd-interop-mail-'));
  const dir = path.join(root, 'maildir');
  // a maildir whole: Python makes the subfolders only of a folder it creates itself
  for (const sub of ['', 'tmp', 'new', 'cur']) await mkdir(path.join(dir, sub));
  const port = await freePort();
  const output = [];
  const child = spawn(
    PYTHON,
    ['-m', 'aiosmtpd', '-n', '-l', `127.0.0.1:${port}`, '-c', 'aiosmtpd.handlers.Mailbox', dir],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  // read for the whole life of the process, so no pipe fills up
  for (const stream of [child.stdout, child.stderr]) {
    stream.setEncoding('utf8');
    stream.on('data', (d) => {
      if (output.length < 1000) output.push(d);
    });
  }
  let exitInfo = null;
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => resolve((exitInfo = { code, signal })));
  });
  let spawnError = null;
  child.on('error', (err) => {
    spawnError = err;
  });
  // should the test process end without its after hook, the sink goes with it
  const onExit = () => {
    if (!exitInfo) child.kill('SIGKILL');
  };
  process.once('exit', onExit);

  let stopped = null;
  const sink = {
    pid: child.pid,
    port,
    dir,
    url: `smtp://127.0.0.1:${port}`,
    // Every message received so far, oldest first: { file, text, headers, parts }.
    messages: () => readMessages(dir),
    // Waits until some message to `to` satisfies match(message) and answers the newest such.
    waitFor: (to, match = () => true, timeoutMs = MAIL_TIMEOUT_MS) =>
      waitForMessage(dir, to, match, timeoutMs),
    // SIGTERM by PID (SIGKILL after STOP_TIMEOUT_MS), then the maildir goes. Safe to call twice.
    stop() {
      if (!stopped) stopped = doStop();
      return stopped;
    },
  };

  async function doStop() {
    process.removeListener('exit', onExit);
    try {
      if (!exitInfo && child.pid) {
        process.kill(child.pid, 'SIGTERM');
        const res = await Promise.race([exited, sleep(STOP_TIMEOUT_MS, null)]);
        if (!res) {
          process.kill(child.pid, 'SIGKILL');
          await exited;
          throw new Error(`aiosmtpd (pid ${child.pid}) did not stop within ${STOP_TIMEOUT_MS} ms`);
        }
      }
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  }

  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!(await accepts(port))) {
    if (spawnError || exitInfo || Date.now() > deadline) {
      const why = spawnError
        ? spawnError.message
        : exitInfo
          ? `exited (code ${exitInfo.code}, signal ${exitInfo.signal})`
          : `did not accept connections within ${START_TIMEOUT_MS} ms`;
      await sink.stop().catch(() => {});
      throw new Error(`aiosmtpd on 127.0.0.1:${port}: ${why}\n${output.join('')}`);
    }
    await sleep(100);
  }
  return sink;
}

// When a message arrived, from its maildir name "SECONDS.MMICROSECONDS…" (Python's
// mailbox.Maildir): file times have too coarse a grain for messages a millisecond apart.
function arrival(name) {
  const m = /^(\d+)\.M(\d+)/.exec(name);
  return m ? Number(m[1]) * 1e6 + Number(m[2]) : 0;
}

async function readMessages(dir) {
  const names = (await readdir(path.join(dir, 'new'))).filter((n) => !n.startsWith('.'));
  names.sort((a, b) => arrival(a) - arrival(b));
  const out = [];
  for (const name of names) {
    const text = await readFile(path.join(dir, 'new', name), 'latin1');
    out.push({ file: name, text, ...parseMessage(text) });
  }
  return out;
}

async function waitForMessage(dir, to, match, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = (await readMessages(dir)).filter(
      (m) => (m.headers.to ?? '').toLowerCase().includes(to.toLowerCase()) && match(m),
    );
    if (found.length) return found[found.length - 1];
    if (Date.now() > deadline) {
      const all = (await readMessages(dir)).map((m) => `${m.headers.to}: ${m.headers.subject}`);
      throw new Error(
        `no matching message to ${to} within ${timeoutMs} ms; received: ${JSON.stringify(all)}`,
      );
    }
    await sleep(100);
  }
}

// A header block's fields, names in lower case, folded lines joined (the first of each name).
function parseHeaders(block) {
  const headers = {};
  for (const line of block.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const m = /^([^:\s]+):\s*(.*)$/.exec(line);
    if (m && !(m[1].toLowerCase() in headers)) headers[m[1].toLowerCase()] = m[2].trim();
  }
  return headers;
}

function splitHeaders(text) {
  const m = /\r?\n\r?\n/.exec(text);
  return m ? [text.slice(0, m.index), text.slice(m.index + m[0].length)] : [text, ''];
}

// Quoted-printable (RFC 2045 §6.7) undone: soft line breaks go, =XX becomes its byte; the bytes
// read as UTF-8.
export function qpDecode(s) {
  const bytes = [];
  const soft = s.replace(/=\r?\n/g, '');
  for (let i = 0; i < soft.length; i++) {
    const hex = soft[i] === '=' ? /^[0-9A-Fa-f]{2}/.exec(soft.slice(i + 1, i + 3)) : null;
    if (hex) {
      bytes.push(parseInt(hex[0], 16));
      i += 2;
    } else {
      bytes.push(soft.charCodeAt(i) & 0xff);
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

// headers, and parts: [{ type, body }] with each body decoded (one part when the message is not
// multipart).
function parseMessage(text) {
  const [head, body] = splitHeaders(text);
  const headers = parseHeaders(head);
  const decode = (h, b) =>
    /quoted-printable/i.test(h['content-transfer-encoding'] ?? '') ? qpDecode(b) : b;
  const typeOf = (h) => (h['content-type'] ?? 'text/plain').split(';')[0].trim().toLowerCase();
  const boundary = /boundary="?([^";]+)"?/i.exec(headers['content-type'] ?? '')?.[1];
  if (!boundary) {
    return { headers, parts: [{ type: typeOf(headers), body: decode(headers, body) }] };
  }
  const parts = [];
  const chunks = body.split(`--${boundary}`);
  // chunks[0] is the preamble; the one after the closing delimiter starts with "--"
  for (const chunk of chunks.slice(1)) {
    if (chunk.startsWith('--')) break;
    const [ph, pb] = splitHeaders(chunk.replace(/^\r?\n/, ''));
    const h = parseHeaders(ph);
    parts.push({ type: typeOf(h), body: decode(h, pb.replace(/\r?\n$/, '')) });
  }
  return { headers, parts };
}

// The links to base + pathname ("?token=…") in a message's decoded parts, by part type.
export function mailLinks(message, base, pathname) {
  const prefix = `${base}${pathname}?token=`.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  const re = new RegExp(`${prefix}[A-Za-z0-9_-]+`, 'g');
  const links = {};
  for (const p of message.parts) links[p.type] = [...new Set(p.body.match(re) ?? [])];
  return links;
}

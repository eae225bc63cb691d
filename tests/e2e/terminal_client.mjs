// An independent WebSocket client for the e2e tests of berthd's terminal
// (GET /api/v1/containers/{id}/terminal): the `ws` package (Debian's
// node-ws), not berth's own code, speaks RFC 6455 to the server.
//
//   node tests/e2e/terminal_client.mjs ws://127.0.0.1:PORT/path?query < steps.json
//
// Environment: TERMINAL_TOKEN_HEADER, when set, is sent as
// "Authorization: Bearer <token>" with the upgrade request.
//
// Standard input: a JSON array of steps, run in order once the socket is open:
//   {"send": "text"}           the UTF-8 text as one binary frame (terminal input)
//   {"sendText": "text"}       one text frame, as it is (garbage for the server to refuse)
//   {"sendRawBytes": "<hex>"}  bytes written to the TCP socket under the WebSocket,
//                              e.g. a malformed or unmasked frame
//   {"resize": [cols, rows]}   the text frame {"type":"resize","cols":C,"rows":R}
//   {"expect": "regex", "timeout_ms": 5000, "flags": ""}
//                              waits until the terminal output (binary frames) received
//                              since the previous expect's match matches; what came after
//                              that match stays for the next expect
//   {"expectText": "regex", "timeout_ms": 5000, "flags": ""}
//                              the same over the text frames received (each followed by "\n")
//   {"waitClose": true, "timeout_ms": 5000}
//                              waits until the server closes the connection
//   {"sleep_ms": N}            waits N ms
//   {"close": true}            closes with 1000 and waits for the server's answer
// A step that fails (an expect that times out, a send after the close) ends the
// run with "error". After the last step a connection still open is closed by
// the client (closedBy "client").
//
// Standard output: one JSON line at the end,
//   {"opened": bool, "httpStatus": N, "httpBody": "...", "closeCode": N,
//    "closeReason": "...", "closedBy": "server"|"client"|"", "output": "...",
//    "texts": ["..."], "error": "..."}
// httpStatus and httpBody: the answer to a refused upgrade (0 and "" otherwise;
// a refusal is no error). closeCode 0: no close was seen. output: every binary
// frame received, decoded as UTF-8; texts: every text frame. error: "" unless
// the connection failed, a step failed or the 30 s limit passed.
// The exit code is 0 whenever that line was printed; 2 for a wrong invocation
// (no URL, steps that are not valid) or no `ws` module, with the reason on stderr.
import { createRequire } from 'node:module';
import { StringDecoder } from 'node:string_decoder';

const kOverallLimitMs = 30000;
const kDefaultStepMs = 5000;

function usage(message) {
  process.stderr.write(`terminal_client: ${message}\n`);
  process.exit(2);
}

// `import WebSocket from 'ws'` where the resolver finds it (a node_modules, or a node
// that knows Debian's folders); else Debian's node-ws by CommonJS (NODE_PATH, the
// global folders) or by its path: an ES module's bare import ignores NODE_PATH, and
// a node not built by Debian does not search /usr/share/nodejs.
async function loadWebSocket() {
  try {
    return (await import('ws')).default;
  } catch (e) {
    if (e.code !== 'ERR_MODULE_NOT_FOUND') throw e;
  }
  const require = createRequire(import.meta.url);
  for (const name of ['ws', '/usr/share/nodejs/ws', '/usr/lib/nodejs/ws']) {
    try {
      return require(name);
    } catch (e) {
      if (e.code !== 'MODULE_NOT_FOUND') throw e;
    }
  }
  usage("the 'ws' module is not installed (Debian: node-ws; scripts/install-deps.sh)");
}

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

function checkSteps(steps) {
  if (!Array.isArray(steps)) usage('stdin: a JSON array of steps expected');
  const isText = (value) => typeof value === 'string';
  steps.forEach((step, i) => {
    const where = `step ${i} ${JSON.stringify(step)}`;
    if (step === null || typeof step !== 'object') usage(`${where}: not an object`);
    if ('timeout_ms' in step && !(Number.isFinite(step.timeout_ms) && step.timeout_ms >= 0))
      usage(`${where}: timeout_ms must be a number >= 0`);
    if ('send' in step) {
      if (!isText(step.send)) usage(`${where}: send takes a string`);
    } else if ('sendText' in step) {
      if (!isText(step.sendText)) usage(`${where}: sendText takes a string`);
    } else if ('sendRawBytes' in step) {
      if (!isText(step.sendRawBytes) || !/^([0-9a-fA-F]{2})*$/.test(step.sendRawBytes))
        usage(`${where}: sendRawBytes takes an even number of hex digits`);
    } else if ('resize' in step) {
      if (!Array.isArray(step.resize) || step.resize.length !== 2 || !step.resize.every(Number.isInteger))
        usage(`${where}: resize takes [cols, rows]`);
    } else if ('expect' in step || 'expectText' in step) {
      const source = 'expect' in step ? step.expect : step.expectText;
      try {
        new RegExp(source, step.flags ?? '');
      } catch (e) {
        usage(`${where}: ${e.message}`);
      }
    } else if ('sleep_ms' in step) {
      if (!(Number.isFinite(step.sleep_ms) && step.sleep_ms >= 0)) usage(`${where}: sleep_ms must be a number >= 0`);
    } else if (!('waitClose' in step) && !('close' in step)) {
      usage(`${where}: unknown step`);
    }
  });
}

const url = process.argv[2];
if (!url) usage('usage: node terminal_client.mjs <ws://url> < steps.json');
let steps;
try {
  steps = JSON.parse(await readStdin());
} catch (e) {
  usage(`stdin: ${e.message}`);
}
checkSteps(steps);
const WebSocket = await loadWebSocket();

const result = {
  opened: false,
  httpStatus: 0,
  httpBody: '',
  closeCode: 0,
  closeReason: '',
  closedBy: '',
  output: '',
  texts: [],
  error: '',
};
let finished = false;
function finish(error) {
  if (finished) return;
  finished = true;
  if (error && !result.error) result.error = error;
  process.stdout.write(JSON.stringify(result) + '\n', () => process.exit(0));
}
setTimeout(() => finish(`overall limit of ${kOverallLimitMs / 1000} s passed`), kOverallLimitMs);

// What has arrived and not yet been matched by an expect (per kind), and who waits for more.
const decoder = new StringDecoder('utf8');
const pending = { output: '', texts: '' };
let wake = () => {};
let closed = false;
let clientClosing = false;

const headers = {};
if (process.env.TERMINAL_TOKEN_HEADER) headers.Authorization = `Bearer ${process.env.TERMINAL_TOKEN_HEADER}`;
let ws;
try {
  ws = new WebSocket(url, { headers, handshakeTimeout: 10000, perMessageDeflate: false });
} catch (e) {
  finish(`connect: ${e.message}`);
}

ws?.on('unexpected-response', (req, res) => {
  result.httpStatus = res.statusCode;
  const body = [];
  const done = () => {
    result.httpBody = Buffer.concat(body).toString('utf8');
    req.destroy();
    finish();
  };
  res.on('data', (chunk) => body.push(chunk));
  res.on('end', done);
  res.on('error', done);
  setTimeout(done, kDefaultStepMs);
});
ws?.on('error', (e) => {
  // After a close frame an error is the socket's; before one it is the run's.
  if (!closed) result.error ||= `ws: ${e.message}`;
  if (!result.opened) finish();
});
ws?.on('message', (data, isBinary) => {
  if (isBinary) {
    const text = decoder.write(data);
    result.output += text;
    pending.output += text;
  } else {
    const text = data.toString('utf8');
    result.texts.push(text);
    pending.texts += text + '\n';
  }
  wake();
});
ws?.on('close', (code, reason) => {
  closed = true;
  const rest = decoder.end();
  result.output += rest;
  pending.output += rest;
  result.closeCode = code;
  result.closeReason = reason.toString('utf8');
  result.closedBy = clientClosing ? 'client' : 'server';
  wake();
});
ws?.on('open', () => {
  result.opened = true;
  run().then(
    () => finish(),
    (e) => finish(e.message),
  );
});

// Resolves once `ready()` holds, checked at each arrival; false after `limitMs`.
function until(ready, limitMs) {
  return new Promise((resolve) => {
    const check = () => {
      if (!ready()) return false;
      clearTimeout(timer);
      wake = () => {};
      resolve(true);
      return true;
    };
    const timer = setTimeout(() => {
      wake = () => {};
      resolve(ready());
    }, limitMs);
    wake = check;
    check();
  });
}

function send(data) {
  if (closed || ws.readyState !== WebSocket.OPEN) throw new Error('cannot send: the connection is closed');
  ws.send(data);
}

async function expect(kind, source, flags, limitMs) {
  const pattern = new RegExp(source, flags);
  let match = null;
  const ready = () => {
    match = pattern.exec(pending[kind]);
    return match !== null || closed;
  };
  await until(ready, limitMs);
  if (match) {
    pending[kind] = pending[kind].slice(match.index + match[0].length);
    return;
  }
  const seen = JSON.stringify(pending[kind].slice(-500));
  if (closed)
    throw new Error(`${kind} never matched /${source}/: the connection closed (${result.closeCode}); unmatched: ${seen}`);
  throw new Error(`${kind} did not match /${source}/ within ${limitMs} ms; unmatched: ${seen}`);
}

async function closeFromClient() {
  if (closed) return;
  // A close the server began is waited for, not answered with another.
  if (ws.readyState === WebSocket.OPEN) {
    clientClosing = true;
    ws.close(1000);
  }
  if (!(await until(() => closed, kDefaultStepMs))) {
    ws.terminate();
    throw new Error('the server did not answer the close');
  }
}

async function run() {
  for (const step of steps) {
    const limitMs = step.timeout_ms ?? kDefaultStepMs;
    if ('send' in step) send(Buffer.from(step.send, 'utf8'));
    else if ('sendText' in step) send(step.sendText);
    else if ('sendRawBytes' in step) {
      if (closed || !ws._socket) throw new Error('cannot send raw bytes: the connection is closed');
      ws._socket.write(Buffer.from(step.sendRawBytes, 'hex'));
    } else if ('resize' in step) send(JSON.stringify({ type: 'resize', cols: step.resize[0], rows: step.resize[1] }));
    else if ('expect' in step) await expect('output', step.expect, step.flags ?? '', limitMs);
    else if ('expectText' in step) await expect('texts', step.expectText, step.flags ?? '', limitMs);
    else if ('waitClose' in step) {
      if (!(await until(() => closed, limitMs))) throw new Error(`the server did not close within ${limitMs} ms`);
    } else if ('sleep_ms' in step) await new Promise((resolve) => setTimeout(resolve, step.sleep_ms));
    else if ('close' in step) await closeFromClient();
  }
  await closeFromClient();
}

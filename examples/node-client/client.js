#!/usr/bin/env node
// A Node.js client of `execengine bridge`: it speaks only the JSON-lines
// protocol documented in README.md ("JSON-lines bridge protocol"), with no
// npm packages.
//
//   node client.js [path/to/execengine]     (default: $EXECENGINE_BIN, else `go run ../../cmd/execengine`)
//
// It runs four executions — a shell command, an exec command, one that times
// out and one it cancels — plus one malformed line and one status query,
// prints every message it sends (->) and receives (<-), closes the bridge's
// stdin once the four results are in, and ends with one line
// `SUMMARY {…json…}`. Exit code 0 when everything came back as expected.
'use strict';

const { spawn } = require('node:child_process');
const { randomUUID } = require('node:crypto');
const path = require('node:path');
const readline = require('node:readline');

const bin = process.argv[2] || process.env.EXECENGINE_BIN;
const bridgeArgs = ['bridge', '--grace', '1s'];
const child = bin
  ? spawn(bin, bridgeArgs, { stdio: ['pipe', 'pipe', 'inherit'] })
  : spawn('go', ['run', path.join(__dirname, '..', '..', 'cmd', 'execengine'), ...bridgeArgs], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });

const shell = (command) => ({ type: 'shell', command, shell: 'sh' });
const jobs = {
  shell: { command: shell('echo "hello from the shell"; echo "a warning" >&2') },
  exec: { command: { type: 'exec', program: 'printf', args: ['%s|%s\n', 'no shell: $HOME', 'a  b'] } },
  timeout: { command: shell('echo before the timeout; sleep 10'), timeout_ms: 500 },
  cancel: { command: shell('echo waiting to be cancelled; sleep 30') },
};
const byId = new Map(); // execution id -> job name
const summary = {
  results: {}, // job name -> {status, exit_code, stdout, stderr, error_code}
  events: {}, // job name -> event types in order
  accepted: [],
  errors: [], // error replies: {line, code}
  status_reply: null, // the status of the cancel job while it ran
  cancel_reply: null,
  protocol_errors: [], // lines that are not JSON
  bridge_exit_code: null,
};

let lineNo = 0;
const lineOf = {}; // what each input line was, by number
function send(what, msg) {
  const text = typeof msg === 'string' ? msg : JSON.stringify(msg);
  lineNo++;
  lineOf[lineNo] = what;
  console.log(`-> ${text}`);
  child.stdin.write(text + '\n');
}

function abbreviate(s) {
  return s.length > 300 ? `${s.slice(0, 300)}… (${s.length} chars)` : s;
}

function onMessage(msg) {
  switch (msg.type) {
    case 'accepted':
      summary.accepted.push(lineOf[msg.line]);
      break;
    case 'event': {
      const ev = msg.payload;
      const name = byId.get(ev.execution_id);
      (summary.events[name] ||= []).push(ev.event_type);
      if (name === 'cancel' && ev.event_type === 'stdout' && !summary.status_reply) {
        send('status', { type: 'status', id: ev.execution_id });
        summary.status_reply = 'sent';
      }
      break;
    }
    case 'result': {
      const r = msg.payload;
      const name = byId.get(r.id);
      summary.results[name] = {
        status: r.status,
        exit_code: r.exit_code,
        stdout: r.stdout,
        stderr: r.stderr,
        error_code: r.error_code,
        duration_ms: r.duration_ms,
      };
      if (Object.keys(summary.results).length === Object.keys(jobs).length) {
        child.stdin.end(); // EOF: the bridge exits once everything has finished
      }
      break;
    }
    case 'status':
      summary.status_reply = msg.status;
      send('cancel', { type: 'cancel', id: msg.id });
      break;
    case 'cancel_requested':
      summary.cancel_reply = msg.status;
      break;
    case 'error':
      summary.errors.push({ line: msg.line, what: lineOf[msg.line], code: msg.code });
      break;
  }
}

readline.createInterface({ input: child.stdout, crlfDelay: Infinity }).on('line', (line) => {
  console.log(`<- ${abbreviate(line)}`);
  let msg;
  try {
    msg = JSON.parse(line);
  } catch (err) {
    summary.protocol_errors.push(abbreviate(line));
    return;
  }
  onMessage(msg);
});

const guard = setTimeout(() => {
  console.error('client: no complete answer within 30s; killing the bridge');
  child.kill('SIGKILL');
}, 30000);

child.on('error', (err) => {
  console.error(`client: cannot start the bridge: ${err.message}`);
  process.exit(2);
});

child.on('close', (code, signal) => {
  clearTimeout(guard);
  summary.bridge_exit_code = code === null ? signal : code;
  const want = { shell: 'completed', exec: 'completed', timeout: 'timeout', cancel: 'cancelled' };
  const ok =
    Object.entries(want).every(([name, status]) => summary.results[name]?.status === status) &&
    summary.errors.length === 1 &&
    summary.errors[0].code === 'invalid_json' &&
    summary.protocol_errors.length === 0 &&
    code === 0;
  summary.ok = ok;
  console.log(`SUMMARY ${JSON.stringify(summary)}`);
  process.exit(ok ? 0 : 1);
});

for (const [name, job] of Object.entries(jobs)) {
  const id = randomUUID();
  byId.set(id, name);
  send(name, { id, ...job });
}
send('garbage', 'this line is not JSON');

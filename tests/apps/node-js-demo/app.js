// node-js-demo: the plain JavaScript HTTP service kdap's Node tests debug.
// Line numbers below are used by tests/e2e/test_node.py: keep them stable
// (the marker comments name each one).
'use strict';
const http = require('http');

class Account {
  constructor(owner) {
    this.owner = owner;
    this.balance = 10;
  }
  get doubled() { return this.balance * 2; }
}

const stats = { hits: 0, paths: new Map(), seen: new Set() };

function handle(req, res) {
  stats.hits++;
  const hits = stats.hits;
  const acct = new Account('ann');
  const list = [1, 'two', { three: 3 }];
  const big = Array.from({ length: 250 }, (_, i) => i * 2);
  stats.paths.set(req.url, hits);
  stats.seen.add(req.url);
  let msg = `hello ${req.url} #${hits}`;
  console.log('request %s #%d', req.url, hits); // BP_LOG
  if (req.url === '/throw') {
    try {
      throw new Error('caught boom');
    } catch (e) {
      msg = 'caught ' + e.message;
    }
  }
  if (req.url === '/uncaught') {
    setImmediate(() => { rejectLater(); });
  }
  if (req.url === '/crash') {
    setImmediate(() => { throw new RangeError('crash boom'); });
  }
  if (req.url === '/die') {
    setImmediate(() => {
      process.removeAllListeners('uncaughtException');
      throw new RangeError('fatal boom');
    });
  }
  if (req.url === '/lazy') {
    msg = require('./lazy').lazyGreeting(msg);
  }
  msg = decorate(msg, acct, list, big); // BP_HANDLE
  res.setHeader('Content-Type', 'text/plain'); // BP_HEADER
  res.end(msg + '\n');
}

function decorate(text, acct, list, big) {
  const suffix = ` (${acct.owner}, ${list.length}, ${big.length})`;
  return text + suffix; // BP_DECORATE
}

function rejectLater() {
  Promise.reject(new TypeError('unhandled boom'));
}

// For function breakpoints: reachable from the global scope.
globalThis.demoHandle = handle;

process.on('uncaughtException', (err) => {
  console.error('uncaught exception:', err.message);
});
process.on('unhandledRejection', (err) => {
  console.error('unhandled rejection:', err.message);
});

const port = Number(process.argv[2] || process.env.PORT || 0);
const server = http.createServer(handle).listen(port, '127.0.0.1', () => {
  console.log(`node-js-demo listening on 127.0.0.1:${server.address().port} (pid ${process.pid})`);
});
process.on('SIGTERM', () => process.exit(0));

// node-hello: the sample Node.js service kdap's tests debug (plain JS, no dependencies).
// A breakpoint on the `res.end(msg)` line shows the request's path and the hit counter.
'use strict';
const http = require('http');

const stats = { hits: 0 };

function handle(req, res) {
  stats.hits++;
  const hits = stats.hits;
  const msg = `hello ${req.url} #${hits}\n`;
  res.setHeader('Content-Type', 'text/plain');
  res.end(msg); // line 13: the breakpoint line used by the tests
}

const port = Number(process.argv[2] || process.env.PORT || 8080);
http.createServer(handle).listen(port, () => {
  console.log(`node-hello listening on :${port} (pid ${process.pid})`);
});
process.on('SIGTERM', () => {
  console.log('node-hello: SIGTERM, exiting');
  process.exit(0);
});

// node-ts-demo: a TypeScript HTTP service, compiled by the tests with
// tsc (sourceMap on) into build/.  The marker comments name lines that
// tests/e2e/test_node.py uses.  No @types/node here: the few Node APIs
// used are declared below.
declare function require(name: string): any;
declare const process: { argv: string[]; pid: number };

const http = require('http');

interface Greeting {
  who: string;
  count: number;
}

let counter = 0;

function greet(who: string): Greeting {
  counter += 1;
  const g: Greeting = { who, count: counter };
  return g; // TS_BP_GREET
}

function handle(req: { url?: string }, res: { end(s: string): void }): void {
  const g = greet(req.url ?? '/');
  const text: string = `hi ${g.who} #${g.count}`;
  res.end(text + '\n'); // TS_BP_HANDLE
}

const port = Number(process.argv[2] || 0);
const server = http.createServer(handle).listen(port, '127.0.0.1', () => {
  const addr = server.address() as { port: number };
  console.log(`node-ts-demo listening on 127.0.0.1:${addr.port} (pid ${process.pid})`);
});

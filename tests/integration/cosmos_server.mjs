// Starts @vercel/cosmosdb-server (a Cosmos DB for NoSQL protocol server, in memory) for the store tests.
//
// Usage: node tests/integration/cosmos_server.mjs [port]   (default 0: any free port)
// Listens on 127.0.0.1 only and prints the port it got as the first line on stdout; runs until killed or until
// stdin closes, so the server never outlives the test process that started it. Node resolves the package from
// the repository's node_modules (`npm ci`, see package.json).
import { createHttpsServer } from "@vercel/cosmosdb-server";

const requested = Number.parseInt(process.argv[2] ?? "0", 10);
const server = createHttpsServer({ keepAlive: true });

// A point read of a missing document: the server (1.0.1) reads a property of the document it did not find and
// answers 500 with that TypeError's message. Cosmos DB answers 404 NotFound, so this turns exactly that 500 into
// Cosmos DB's 404 (the Python SDK then raises CosmosResourceNotFoundError, as it does against Cosmos DB).
const DOCUMENT_PATH = /^\/dbs\/[^/]+\/colls\/[^/]+\/docs\/[^/]+\/?$/;
const MISSING_DOCUMENT_CRASH = "Cannot read properties of undefined";
const NOT_FOUND_BODY = JSON.stringify({
  code: "NotFound",
  message: "Entity with the specified id does not exist in the system.",
});

function answerMissingDocumentsWith404(req, res) {
  const path = (req.url ?? "").split("?")[0];
  if (req.method !== "GET" || !DOCUMENT_PATH.test(path)) {
    return;
  }
  const end = res.end.bind(res);
  res.end = (chunk, ...rest) => {
    if (res.statusCode === 500 && typeof chunk === "string" && chunk.includes(MISSING_DOCUMENT_CRASH)) {
      res.statusCode = 404;
      return end(NOT_FOUND_BODY, ...rest);
    }
    return end(chunk, ...rest);
  };
}

// Runs before the server's own request handler, so the wrapper is in place when that handler answers.
server.prependListener("request", answerMissingDocumentsWith404);

server.listen(requested, "127.0.0.1", () => {
  process.stdout.write(`${server.address().port}\n`);
});

// Everything is in memory, so there is nothing to flush: exit at once (keep-alive sockets would delay close()).
process.on("SIGTERM", () => process.exit(0));
process.on("SIGINT", () => process.exit(0));
// The parent holds our stdin open; when it exits (even killed), stdin ends and so do we.
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();

// Starts @vercel/cosmosdb-server (a Cosmos DB for NoSQL protocol server, in memory) for the store tests.
//
// Usage: node tests/integration/cosmos_server.mjs [port]   (default 0: any free port)
// Listens on 127.0.0.1 only and prints the port it got as the first line on stdout; runs until killed or until
// stdin closes, so the server never outlives the test process that started it. Node resolves the package from
// the repository's node_modules (`npm ci`, see package.json).
import { createHttpsServer } from "@vercel/cosmosdb-server";

const requested = Number.parseInt(process.argv[2] ?? "0", 10);
const server = createHttpsServer({ keepAlive: true });

server.listen(requested, "127.0.0.1", () => {
  process.stdout.write(`${server.address().port}\n`);
});

// Everything is in memory, so there is nothing to flush: exit at once (keep-alive sockets would delay close()).
process.on("SIGTERM", () => process.exit(0));
process.on("SIGINT", () => process.exit(0));
// The parent holds our stdin open; when it exits (even killed), stdin ends and so do we.
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();

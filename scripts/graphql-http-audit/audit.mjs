// The GraphQL-over-HTTP spec's server audit (graphql-http's serverAudits) against a
// running server. Usage: node audit.mjs http://127.0.0.1:8000/graphql
// Prints one line per audit and a tally; exits 1 on any warning or error.
import { serverAudits } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node audit.mjs <graphql url>');
  process.exit(2);
}

const tally = { ok: 0, warn: 0, error: 0 };
for (const audit of serverAudits({ url })) {
  const result = await audit.fn();
  tally[result.status] += 1;
  let line = `${result.status.toUpperCase()} ${audit.id} ${audit.name}`;
  if (result.status !== 'ok') {
    line += `\n    ${result.reason}`;
    if (result.response) {
      const body = await result.response.text();
      line += `\n    HTTP ${result.response.status} ${result.response.headers.get('content-type')} ${body.slice(0, 300)}`;
    }
  }
  console.log(line);
}
console.log(`${tally.ok} ok, ${tally.warn} warnings, ${tally.error} errors`);
process.exit(tally.warn || tally.error ? 1 : 0);

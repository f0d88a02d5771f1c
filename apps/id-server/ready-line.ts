/**
 * The line that says the service is up: printed last at start (after every start-up step and
 * warning), so a person or a script waiting on the log can stop reading there. The README quotes
 * it; test/docs.e2e-spec.ts holds the quote to this function.
 */
export function readyLine(url: string, bound: string, database: string): string {
  return `ready: id-allocator listening on ${url} (bound to ${bound}); docs ${url}/docs; database ${database}`;
}

/** What an instance reports: one JSON line per event on stdout, tagged with the instance's name. */
export function report(event: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ instance: process.env.INSTANCE ?? 'app', ...event })}\n`);
}

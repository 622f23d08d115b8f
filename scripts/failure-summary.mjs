// A node:test reporter that prints, after the whole run, one line per failed test (its file, its name
// and the first line of its error), so the end of a long TAP log says what failed without a search.
import { relative } from 'node:path';

export default async function* failureSummary(source) {
  const failed = [];
  for await (const event of source) {
    if (event.type !== 'test:fail') continue;
    const { name, file, details } = event.data;
    const error = details?.error;
    // A suite fails because a test in it failed; that test is listed itself.
    if (error?.failureType === 'subtestsFailed') continue;
    const cause = error?.cause ?? error;
    const message = String(cause?.message ?? cause ?? 'failed').split('\n').find((l) => l.trim() !== '') ?? 'failed';
    failed.push(`# failed: ${file === undefined ? '' : `${relative(process.cwd(), file)}: `}${name}: ${message.trim().slice(0, 300)}`);
  }
  if (failed.length > 0) yield `\n# ${failed.length} failed test(s):\n${failed.join('\n')}\n`;
}

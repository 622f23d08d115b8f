/**
 * The worker id in what this process creates (`workers` > 1): Via branches
 * carry `.w<id>.` right after the magic cookie, our Record-Route and Path
 * URIs a `;w=<id>` parameter. A message that comes back to the shared port
 * and lands on another worker names its owner by them (transport/steering.ts).
 * 0 = not a worker: nothing is marked.
 */

let current = 0;
let branchPart = '';
let uriPart = '';

/** Called once when a worker starts (1…64). */
export function setWorkerMark(id: number): void {
  if (!Number.isInteger(id) || id < 0 || id > 64) throw new RangeError(`worker id out of range: ${id}`);
  current = id;
  branchPart = id === 0 ? '' : `.w${id}.`;
  uriPart = id === 0 ? '' : `;w=${id}`;
}

/** This process's worker id; 0 when it is not a worker. */
export function workerMark(): number {
  return current;
}

/** Inserted after z9hG4bK in every branch we generate. */
export function branchMark(): string {
  return branchPart;
}

/** Appended to the parameters of our Record-Route and Path URIs. */
export function uriMark(): string {
  return uriPart;
}

/** The worker named by a branch of ours (`.w<id>.` anywhere in it), or undefined. */
export function workerOfBranch(branch: string | null | undefined): number | undefined {
  if (typeof branch !== 'string') return undefined;
  const at = branch.indexOf('.w');
  if (at < 0) return undefined;
  const end = branch.indexOf('.', at + 2);
  return parseId(end < 0 ? '' : branch.slice(at + 2, end));
}

/** The worker named by a `w` URI parameter value, or undefined. */
export function workerOfParam(value: string | null | undefined): number | undefined {
  return typeof value === 'string' ? parseId(value) : undefined;
}

function parseId(text: string): number | undefined {
  if (text.length === 0 || text.length > 2) return undefined;
  const id = Number(text);
  return Number.isInteger(id) && id >= 1 && id <= 64 ? id : undefined;
}

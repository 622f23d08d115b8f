/** Poll `check` until it holds; reject naming `what` after `deadlineMs` (a failure deadline, not a timing assert). */
export async function waitFor(check: () => boolean, what: string, deadlineMs = 5000): Promise<void> {
  const giveUpAt = Date.now() + deadlineMs;
  while (!check()) {
    if (Date.now() > giveUpAt) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

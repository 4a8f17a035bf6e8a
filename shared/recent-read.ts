/**
 * A read shared by the calls that come soon after it: a call reuses the last read when that read started at or after
 * the call's `notBefore` and less than `maxAgeMs` ago; otherwise it reads again. Concurrent calls share one read in
 * flight; a read that fails is forgotten, so the next call tries again.
 */
export function recentRead<T>(
  read: () => Promise<T>,
  options: { readonly maxAgeMs: number; readonly now?: () => number },
): (notBefore: Date) => Promise<T> {
  const now = options.now ?? Date.now;
  let last: { readonly startedAt: number; readonly value: Promise<T> } | undefined;
  return (notBefore) => {
    const at = now();
    if (last && last.startedAt >= notBefore.getTime() && at - last.startedAt < options.maxAgeMs) return last.value;
    const entry = { startedAt: at, value: read() };
    last = entry;
    entry.value.catch(() => {
      if (last === entry) last = undefined;
    });
    return entry.value;
  };
}

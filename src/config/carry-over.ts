/**
 * A `set_config` without `persist` changes the running settings only; the in-process restart
 * re-reads the file. What the running settings hold beyond the file (re-resolved with the same
 * environment) is carried into the restart, so "applied, takes effect after restart" stays true.
 */

const isPlain = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The smallest patch that turns settings `base` into `target` (keys removed in `target` are not
 * represented): what the running settings hold beyond the file, or what is pending beyond the
 * running settings (get_config).
 */
export function patchFrom(base: unknown, target: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!isPlain(base) || !isPlain(target)) return out;
  for (const [k, v] of Object.entries(target)) {
    const b = base[k];
    if (isPlain(v) && isPlain(b)) {
      const inner = patchFrom(b, v);
      if (Object.keys(inner).length > 0) out[k] = inner;
    } else if (JSON.stringify(v) !== JSON.stringify(b)) {
      out[k] = v;
    }
  }
  return out;
}

/** Dotted key paths of a patch, for the log line that says what was kept. */
export function patchKeys(patch: Record<string, unknown>, prefix = ''): string[] {
  return Object.entries(patch).flatMap(([k, v]) =>
    isPlain(v) && Object.keys(v).length > 0 ? patchKeys(v, `${prefix}${k}.`) : [`${prefix}${k}`],
  );
}

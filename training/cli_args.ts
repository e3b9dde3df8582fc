// Tiny argv helper for the training scripts run with `node --import tsx`.

/** Removes `name VALUE` from argv and returns VALUE as a number (dflt when absent). */
export function numberOption(argv: string[], name: string, dflt: number): number {
  const i = argv.indexOf(name);
  if (i < 0) return dflt;
  const v = Number(argv.splice(i, 2)[1]);
  if (!Number.isFinite(v)) throw new Error(`${name}: expected a number`);
  return v;
}

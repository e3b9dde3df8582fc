import type { z } from 'zod';

/**
 * Every key path a schema accepts, for error hints and discriminator-aware merging.
 * Record keys and array elements appear as "*". `when` is set for keys inside a member of a
 * discriminated union: the key is valid only when the object at `at` has `key` ∈ `values`.
 */
export interface KeyPath {
  path: string[];
  when?: { at: string[]; key: string; values: string[] };
}

interface Def {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  in?: z.ZodType;
  options?: z.ZodType[];
  discriminator?: string;
  valueType?: z.ZodType;
  element?: z.ZodType;
}

const def = (s: z.ZodType): Def => (s as unknown as { _zod: { def: Def } })._zod.def;

export function keyPaths(schema: z.ZodType): KeyPath[] {
  const out: KeyPath[] = [];
  const walk = (s: z.ZodType, path: string[], when: KeyPath['when']): void => {
    const d = def(s);
    switch (d.type) {
      case 'object':
        for (const [k, v] of Object.entries(d.shape ?? {})) {
          out.push({ path: [...path, k], when });
          walk(v, [...path, k], when);
        }
        return;
      case 'default':
      case 'prefault':
      case 'optional':
      case 'nullable':
      case 'nonoptional':
      case 'readonly':
      case 'catch':
        if (d.innerType) walk(d.innerType, path, when);
        return;
      case 'pipe':
        if (d.in) walk(d.in, path, when);
        return;
      case 'union':
        for (const o of d.options ?? []) {
          const disc = d.discriminator;
          const values = disc
            ? (o as unknown as { _zod: { propValues?: Record<string, Set<unknown>> } })._zod.propValues?.[disc]
            : undefined;
          walk(o, path, disc && values ? { at: path, key: disc, values: [...values].map(String) } : when);
        }
        return;
      case 'record':
        out.push({ path: [...path, '*'], when });
        if (d.valueType) walk(d.valueType, [...path, '*'], when);
        return;
      case 'array':
        out.push({ path: [...path, '*'], when });
        if (d.element) walk(d.element, [...path, '*'], when);
        return;
      default:
        return;
    }
  };
  walk(schema, [], undefined);
  return out;
}

/** Every key path whose value schema (wrappers removed) is a plain string, e.g. mqtt.password. */
export function stringKeyPaths(schema: z.ZodType): string[][] {
  const out: string[][] = [];
  const walk = (s: z.ZodType, path: string[]): void => {
    const d = def(s);
    if (d.type === 'string') out.push(path);
    else if (d.type === 'object') for (const [k, v] of Object.entries(d.shape ?? {})) walk(v, [...path, k]);
    else if (d.type === 'record' && d.valueType) walk(d.valueType, [...path, '*']);
    else if (d.type === 'array' && d.element) walk(d.element, [...path, '*']);
    else if (d.type === 'union') for (const o of d.options ?? []) walk(o, path);
    else if (d.type === 'pipe' && d.in) walk(d.in, path);
    else if (d.innerType) walk(d.innerType, path);
  };
  walk(schema, []);
  return out;
}

/** A schema path (with "*" wildcards) against a concrete one. */
export function pathMatches(schemaPath: readonly string[], concrete: readonly PropertyKey[]): boolean {
  return schemaPath.length === concrete.length && schemaPath.every((seg, i) => seg === '*' || seg === String(concrete[i]));
}

const norm = (k: string): string => k.toLowerCase().replace(/[_-]/g, '');

function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length];
}

/** Show a schema path with the concrete record keys of `at` filled in where they share a prefix. */
function show(path: readonly string[], at: readonly PropertyKey[]): string {
  const p = path.map((seg, i) =>
    seg !== '*' ? seg : i < at.length && pathMatches(path.slice(0, i), at.slice(0, i)) ? String(at[i]) : '<name>',
  );
  return p.length === 1 ? `top-level "${p[0]}"` : `"${p.join('.')}"`;
}

function orList(xs: string[]): string {
  return xs.length <= 1 ? (xs[0] ?? '') : `${xs.slice(0, -1).join(', ')} or ${xs[xs.length - 1]}`;
}

/**
 * Why `key` is not accepted in the object at `at`, as a short parenthesised hint, or "".
 * - valid there only for other members of a discriminated union → names the discriminator values;
 * - the same key (ignoring case, "_" and "-") exists elsewhere → "did you mean <path>?";
 * - a sibling key is a near miss (a typo) → "did you mean <path>?".
 */
export function unknownKeyHint(paths: readonly KeyPath[], at: readonly PropertyKey[], key: string): string {
  const full = [...at, key];
  const here = paths.filter((p) => pathMatches(p.path, full));
  const variants = here.flatMap((p) => (p.when && pathMatches(p.when.at, at) ? [p.when] : []));
  if (variants.length) {
    const values = [...new Set(variants.flatMap((w) => w.values))];
    const disc = [...at.map(String), variants[0].key].join('.');
    return ` (only valid when ${disc} is ${orList(values.map((v) => `"${v}"`))})`;
  }
  const seen = new Set<string>();
  const elsewhere: string[] = [];
  for (const p of paths) {
    if (norm(p.path[p.path.length - 1]) !== norm(key) || pathMatches(p.path, full)) continue;
    const s = show(p.path, at);
    if (!seen.has(s)) elsewhere.push(s);
    seen.add(s);
  }
  if (elsewhere.length && elsewhere.length <= 3) return ` (did you mean ${orList(elsewhere)}?)`;
  if (key.length < 3) return '';
  let best: { d: number; path: string[] } | undefined;
  for (const p of paths) {
    if (p.path.length !== full.length || !pathMatches(p.path.slice(0, -1), at)) continue;
    const d = editDistance(norm(key), norm(p.path[p.path.length - 1]));
    if (d <= Math.max(1, Math.floor(key.length / 4)) && (!best || d < best.d)) best = { d, path: p.path };
  }
  return best ? ` (did you mean ${show(best.path, at)}?)` : '';
}

/** The discriminator key of a union whose members sit at `at`, if any. */
export function discriminatorAt(paths: readonly KeyPath[], at: readonly PropertyKey[]): string | undefined {
  for (const p of paths) if (p.when && pathMatches(p.when.at, at)) return p.when.key;
  return undefined;
}

/** Whether `key` is valid in the object at `at` once its discriminator is `value`. */
export function validForVariant(paths: readonly KeyPath[], at: readonly PropertyKey[], key: string, value: unknown): boolean {
  const full = [...at, key];
  return paths.some((p) => pathMatches(p.path, full) && (!p.when || !pathMatches(p.when.at, at) || p.when.values.includes(String(value))));
}

import type { z } from 'zod';
import { FORBIDDEN_KEYS, findForbiddenKey, type RemoteMark, remoteRegistry } from './remote.ts';
import { settingsSchema } from './schema.ts';

interface Def {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  in?: z.ZodType;
  options?: z.ZodType[];
  valueType?: z.ZodType;
  element?: z.ZodType;
}

const def = (s: z.ZodType): Def => (s as unknown as { _zod: { def: Def } })._zod.def;

/** Key paths ("*" for record keys / array elements) marked remote-settable in `schema`, with their marks. */
export function remoteMarks(schema: z.ZodType): Array<{ path: string[]; mark: RemoteMark }> {
  const out: Array<{ path: string[]; mark: RemoteMark }> = [];
  const walk = (s: z.ZodType, path: string[]): void => {
    const mark = remoteRegistry.get(s);
    if (mark) {
      out.push({ path, mark });
      return; // everything below a marked node is covered by it
    }
    const d = def(s);
    switch (d.type) {
      case 'object':
        for (const [k, v] of Object.entries(d.shape ?? {})) walk(v, [...path, k]);
        return;
      case 'default':
      case 'prefault':
      case 'optional':
      case 'nullable':
      case 'nonoptional':
      case 'readonly':
      case 'catch':
        if (d.innerType) walk(d.innerType, path);
        return;
      case 'pipe':
        if (d.in) walk(d.in, path);
        return;
      case 'union':
        for (const o of d.options ?? []) walk(o, path);
        return;
      case 'record':
        if (d.valueType) walk(d.valueType, [...path, '*']);
        return;
      case 'array':
        if (d.element) walk(d.element, [...path, '*']);
        return;
      default:
        return;
    }
  };
  walk(schema, []);
  return out;
}

/** Key paths marked remote-settable in `schema`. */
export function remoteKeyPaths(schema: z.ZodType): string[][] {
  return remoteMarks(schema).map((m) => m.path);
}

let cache: Array<{ path: string[]; mark: RemoteMark }> | undefined;
const settingsMarks = () => {
  cache ??= remoteMarks(settingsSchema);
  return cache;
};

/** The settings a remote set_config may change, e.g. ["pipeline", "postprocess"]. */
export function remoteSettingsPaths(): string[][] {
  return settingsMarks().map((m) => m.path);
}

/** The settings set_config applies to the running daemon (marked `live`); the rest wait for a restart. */
export function liveSettingsPaths(): string[][] {
  // members of a union may repeat a path (the camera types): list each once
  const out = new Map<string, string[]>();
  for (const m of settingsMarks()) if (m.mark.live) out.set(m.path.join('.'), m.path);
  return [...out.values()];
}

const isPlain = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const covers = (marked: readonly string[], leaf: readonly string[]): boolean =>
  marked.length <= leaf.length && marked.every((seg, i) => seg === '*' || seg === leaf[i]);

/**
 * Every key path a remote settings patch would change that is not marked remote-settable
 * (or is a forbidden key), as dotted strings; empty when the patch may be applied.
 */
export function refusedRemoteKeys(patch: unknown, allowed: readonly string[][] = remoteSettingsPaths()): string[] {
  const refused: string[] = [];
  const walk = (v: unknown, path: string[]): void => {
    if (path.length && allowed.some((m) => covers(m, path))) {
      const bad = findForbiddenKey(v, path);
      if (bad) refused.push(bad.join('.'));
      return;
    }
    if (!isPlain(v) || path.length >= 32) {
      refused.push(path.join('.') || '(root)');
      return;
    }
    for (const k of Object.keys(v)) {
      if (FORBIDDEN_KEYS.has(k)) refused.push([...path, k].join('.'));
      else walk(v[k], [...path, k]);
    }
  };
  walk(patch, []);
  return refused;
}

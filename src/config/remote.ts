import { z } from 'zod';

/**
 * Which settings a remote `set_config` may change, and which of those apply live. A key is
 * remote-settable only when its schema (or an enclosing object's) is registered here, next to its
 * definition in the schema files — the way Zigbee2MQTT marks `requiresRestart` on each setting.
 * Everything unmarked is local-only: executables, file paths, listen addresses, broker/TLS/auth,
 * hardware limits, command policy. This is the one source of truth for set_config (what it accepts
 * and what it applies at once), get_config (running vs pending) and the README's list.
 */
export interface RemoteMark {
  /** why it is safe to hand to whoever can publish on …/cmd/ (documentation only) */
  note?: string;
  /**
   * set_config applies it to the running daemon at once; without it a change is pending until the
   * next (re)start (get_config shows it under `pending`)
   */
  live?: boolean;
}

export const remoteRegistry = z.registry<RemoteMark>();

/** Mark a setting (and, for an object, everything under it) as changeable over MQTT. */
export function remote<T extends z.ZodType>(schema: T, mark: RemoteMark = {}): T {
  remoteRegistry.add(schema, mark);
  return schema;
}

/** Mark a setting as changeable over MQTT and applied live (the daemon must apply it: see controller.ts). */
export function live<T extends z.ZodType>(schema: T, mark: Omit<RemoteMark, 'live'> = {}): T {
  return remote(schema, { ...mark, live: true });
}

/** Keys that are never accepted as object keys anywhere in user input (prototype pollution). */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** The first forbidden key path inside `value` (JSON-shaped), or undefined. */
export function findForbiddenKey(value: unknown, path: string[] = []): string[] | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  for (const k of Object.keys(value)) {
    if (FORBIDDEN_KEYS.has(k)) return [...path, k];
    const hit = findForbiddenKey((value as Record<string, unknown>)[k], [...path, k]);
    if (hit) return hit;
  }
  return undefined;
}

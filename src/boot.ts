import { randomBytes } from 'node:crypto';

/**
 * This daemon process's boot id. A camera's seq starts again at 0 after a restart, so
 * (boot, seq) names a frame uniquely across restarts. Time-ordered: later boots sort after
 * earlier ones.
 */
export const BOOT_ID = `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;

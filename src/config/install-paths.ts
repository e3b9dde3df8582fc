import { fileURLToPath } from 'node:url';

/**
 * The installation's root directory (where package.json and models-int8/ live): two levels up
 * from this module both in the sources (src/config/) and in the build (dist/config/). Defaults
 * resolve from here, not from the current directory, so `rayleigh run` started elsewhere (or by
 * systemd with another WorkingDirectory) still finds its models.
 */
export const INSTALL_ROOT = fileURLToPath(new URL('../../', import.meta.url)).replace(/\/$/, '');

/** The shipped models directory. */
export const DEFAULT_MODELS_DIR = `${INSTALL_ROOT}/models-int8`;

/** State (spool, calibration) when neither the config nor RAYLEIGH_STATE_DIR says otherwise. */
export const DEFAULT_STATE_DIR = `${INSTALL_ROOT}/state`;

export { Debouncer } from './debounce.ts';
export { SysfsGpioChip } from './onoff-chip.ts';
export {
  type GpioChipInfo,
  HEADER_CHIP_LABELS,
  listSysfsChips,
  resolveSysfsGpio,
} from './sysfs-resolve.ts';
export * from './types.ts';

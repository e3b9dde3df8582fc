// Minimal typing for the parts of utif (UTIF.js) we use.
declare module 'utif' {
  export interface Ifd {
    width: number;
    height: number;
    data: Uint8Array;
    isLE: boolean;
    [tag: string]: unknown;
  }
  export function decode(buf: ArrayBuffer | Uint8Array): Ifd[];
  export function decodeImage(buf: ArrayBuffer | Uint8Array, ifd: Ifd, ifds?: Ifd[]): void;
  const UTIF: { decode: typeof decode; decodeImage: typeof decodeImage };
  export default UTIF;
}

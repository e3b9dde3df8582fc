/** A record whose every byte follows from its seq, so a reader can tell a whole one from a torn or mixed one. */
export function spoolTestRecord(seq: number): { meta: Buffer; image: Buffer } {
  const image = Buffer.alloc(2000 + (seq % 7) * 1000);
  for (let i = 0; i < image.length; i++) image[i] = (seq * 31 + i) & 0xff;
  return { meta: Buffer.from(JSON.stringify({ stream: 'main', seq })), image };
}

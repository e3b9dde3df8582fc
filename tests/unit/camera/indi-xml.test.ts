import { describe, expect, it } from 'vitest';
import { type IndiMessage, IndiProtocolError, IndiXmlStream, indiCommands } from '../../../src/camera/indi-xml.ts';
import { blobMessage, defineCcd, fits16 } from './indi-fake-server.ts';

function collect(limits = { maxBlobBytes: 10_000_000 }) {
  const msgs: IndiMessage[] = [];
  const s = new IndiXmlStream((m) => msgs.push(m), limits);
  return { s, msgs };
}

describe('INDI XML stream', () => {
  it('groups a stream of many top-level vectors into messages, whatever the chunk boundaries', () => {
    const file = fits16(3, 2, (x, y) => x + y);
    const wire = `${defineCcd()}${blobMessage(file)}<message device="CCD Simulator" timestamp="2026-12-01T22:36:24" message="[WARNING] Telescope focal length is missing."/>\n`;
    const whole = collect();
    whole.s.write(wire);
    for (const step of [1, 7, 64, 4096]) {
      const parts = collect();
      for (let i = 0; i < wire.length; i += step) parts.s.write(wire.slice(i, i + step));
      expect(parts.msgs).toEqual(whole.msgs);
    }
    const tags = whole.msgs.map((m) => m.tag);
    expect(tags).toEqual([
      'defSwitchVector',
      'defTextVector',
      'defNumberVector',
      'defSwitchVector',
      'defSwitchVector',
      'defBLOBVector',
      'setBLOBVector',
      'message',
    ]);
    const conn = whole.msgs[0];
    expect(conn.attrs).toMatchObject({ device: 'CCD Simulator', name: 'CONNECTION', rule: 'OneOfMany' });
    // member text is trimmed: the simulator writes values on their own lines
    expect(conn.members.map((m) => [m.attrs.name, m.text])).toEqual([
      ['CONNECT', 'On'],
      ['DISCONNECT', 'Off'],
    ]);
    const blob = whole.msgs[6].members[0];
    expect(blob.tag).toBe('oneBLOB');
    expect(blob.attrs).toMatchObject({ name: 'CCD1', format: '.fits', size: String(file.length) });
    expect(blob.blob?.equals(file)).toBe(true);
    expect(blob.text).toBe('');
    expect(whole.msgs[7].attrs.message).toMatch(/focal length/);
  });

  it('decodes entities in attributes and text', () => {
    const { s, msgs } = collect();
    s.write(`<defTextVector device="A &amp; B" name="T"><defText name="t">x &lt; y</defText></defTextVector>`);
    expect(msgs[0].attrs.device).toBe('A & B');
    expect(msgs[0].members[0].text).toBe('x < y');
  });

  it.each([
    ['a mismatched end tag', '<setNumberVector device="d" name="n"><oneNumber name="a">1</oneNumber></setNumbrVector>'],
    ['an undefined entity', '<setTextVector device="d" name="n"><oneText name="a">&bogus;</oneText></setTextVector>'],
    ['an unquoted attribute', '<setTextVector device=d name="n"></setTextVector>'],
    ['text between messages', '<delProperty device="d"/>garbage<delProperty device="e"/>'],
    ['a peer that is not INDI', 'SSH-2.0-OpenSSH_9.2\r\n'],
  ])('%s is an IndiProtocolError, and the stream stays failed', (_, wire) => {
    const { s } = collect();
    expect(() => s.write(wire)).toThrow(IndiProtocolError);
    expect(() => s.write('<delProperty device="x"/>')).toThrow(IndiProtocolError);
  });

  it('knows when it is cut inside a message, and which element', () => {
    const { s, msgs } = collect();
    const wire = blobMessage(fits16(8, 8, () => 1));
    s.write(wire.slice(0, wire.length - 40));
    expect(msgs).toEqual([]);
    expect(s.midMessage).toBe(true);
    expect(s.openElement).toBe('<oneBLOB> in <setBLOBVector>');
    s.write(wire.slice(wire.length - 40));
    expect(s.midMessage).toBe(false);
    expect(msgs).toHaveLength(1);
  });

  it('skips a BLOB larger than its limit without holding its text, and goes on with the stream', () => {
    const { s, msgs } = collect({ maxBlobBytes: 1000 });
    s.write('<setBLOBVector device="d" name="CCD1"><oneBLOB name="CCD1" size="999999" len="999999" format=".fits">');
    for (let i = 0; i < 100; i++) s.write('A'.repeat(10_000));
    s.write('</oneBLOB></setBLOBVector><delProperty device="d"/>');
    expect(msgs).toHaveLength(2);
    expect(msgs[0].members[0].blob).toBeUndefined();
    expect(msgs[0].members[0].blobError).toMatch(/999999 bytes exceeds the limit of 1000/);
    expect(msgs[1].tag).toBe('delProperty');
  });

  it('a corrupt BLOB is an error of that BLOB only', () => {
    const { s, msgs } = collect();
    const file = fits16(4, 4, () => 5);
    s.write(blobMessage(file, { size: file.length }).replace('len="', 'len="1'));
    s.write(blobMessage(file));
    expect(msgs[0].members[0].blobError).toMatch(/announced/);
    expect(msgs[1].members[0].blob?.equals(file)).toBe(true);
  });

  it('refuses a non-BLOB message that never ends', () => {
    const { s } = collect();
    s.write('<setTextVector device="d" name="n"><oneText name="a">');
    expect(() => {
      for (let i = 0; i < 100; i++) s.write('x'.repeat(100_000));
    }).toThrow(/exceeds/);
  });

  it('builds commands with escaped names that an XML parser reads back', () => {
    expect(indiCommands.getProperties()).toBe('<getProperties version="1.7"/>\n');
    expect(indiCommands.enableBLOB('CCD Simulator', 'Also')).toBe('<enableBLOB device="CCD Simulator">Also</enableBLOB>\n');
    const { s, msgs } = collect();
    s.write(indiCommands.newNumber('Cam "A" <1> & co', 'CCD_EXPOSURE', { CCD_EXPOSURE_VALUE: 0.5 }));
    s.write(indiCommands.newSwitch('Cam', 'CONNECTION', { CONNECT: true, DISCONNECT: false }));
    expect(msgs[0]).toEqual({
      tag: 'newNumberVector',
      attrs: { device: 'Cam "A" <1> & co', name: 'CCD_EXPOSURE' },
      members: [{ tag: 'oneNumber', attrs: { name: 'CCD_EXPOSURE_VALUE' }, text: '0.5' }],
    });
    expect(msgs[1].members.map((m) => m.text)).toEqual(['On', 'Off']);
  });
});

/**
 * The INDI wire format: an endless sequence of top-level XML elements (INDI white paper,
 * "INDI: Instrument-Neutral Distributed Interface", protocol 1.7, §4 and appendix A DTD),
 * each a property vector with one-level children (`<setNumberVector><oneNumber name=…>3.2</oneNumber>…`).
 * The stream is parsed incrementally by saxes in fragment mode (many roots); this module only
 * groups its events into messages and guards the limits. Commands to the server are built here
 * too, with every attribute and text escaped.
 */
import { SaxesParser } from 'saxes';
import { Base64Accumulator } from './indi-blob.ts';

export interface IndiMember {
  /** element name: oneNumber, defSwitch, oneBLOB, … */
  tag: string;
  attrs: Record<string, string>;
  /** trimmed text; empty for BLOBs, whose content is decoded into `blob` */
  text: string;
  /** oneBLOB: the decoded bytes */
  blob?: Buffer;
  /** oneBLOB: why there are no bytes (too large, corrupt base64) */
  blobError?: string;
}

export interface IndiMessage {
  /** top-level element: defNumberVector, setBLOBVector, delProperty, message, … */
  tag: string;
  attrs: Record<string, string>;
  members: IndiMember[];
}

/** The stream broke the protocol: a connection cannot be trusted past this point. */
export class IndiProtocolError extends Error {
  override name = 'IndiProtocolError';
}

export interface IndiXmlLimits {
  /** largest BLOB accepted, decoded bytes; a larger one is skipped (its text is not kept) */
  maxBlobBytes: number;
  /** largest non-BLOB message, characters (INDI property vectors are a few kB) */
  maxMessageChars?: number;
}

/**
 * BLOB content bypasses saxes: saxes would gather tens of MB of base64 into one string (slow to
 * build and to flatten). The stream is fed to saxes in pieces that end at '>', so the start tag
 * of a oneBLOB is seen exactly where it ends; its content up to the next '<' (base64 has none)
 * goes straight to an incremental base64 decoder, and saxes resumes at the end tag.
 */
export class IndiXmlStream {
  private parser: SaxesParser<{ fragment: true; xmlns: false }>;
  private depth = 0;
  private current: IndiMessage | undefined;
  private member: IndiMember | undefined;
  private textParts: string[] = [];
  private charsInMessage = 0;
  private blob: Base64Accumulator | undefined;
  /** inside a oneBLOB element: content goes to `blob` (or is skipped when blobError is set) */
  private inBlob = false;
  /** routing BLOB content past saxes: from the start tag's '>' to the next '<' */
  private raw = false;
  private failure: IndiProtocolError | undefined;
  /** between top-level elements: the next non-blank character must open one */
  private gap = true;
  private readonly maxMessageChars: number;

  constructor(
    private readonly onMessage: (m: IndiMessage) => void,
    private readonly limits: IndiXmlLimits,
  ) {
    this.maxMessageChars = limits.maxMessageChars ?? 4 * 1024 * 1024;
    this.parser = new SaxesParser({ fragment: true, xmlns: false });
    const p = this.parser;
    p.on('error', (err) => {
      // the first error ends the stream; saxes would otherwise go on parsing a broken document
      throw new IndiProtocolError(`malformed XML from the INDI server: ${err.message}`);
    });
    p.on('opentagstart', () => {
      if (this.depth === 0) this.gap = false;
    });
    p.on('opentag', (t) => {
      this.depth++;
      const attrs = t.attributes;
      if (this.depth === 1) {
        this.current = { tag: t.name, attrs, members: [] };
        this.charsInMessage = 0;
      } else if (this.depth === 2) {
        this.member = { tag: t.name, attrs, text: '' };
        this.textParts = [];
        if (t.name === 'oneBLOB' && !t.isSelfClosing) this.openBlob(this.member);
      }
      // deeper elements are not part of INDI: ignored, their text dropped
    });
    p.on('text', (text) => {
      if (this.depth === 0) {
        if (text.trim() !== '') throw new IndiProtocolError(`text outside any INDI element: "${text.trim().slice(0, 40)}"`);
        return;
      }
      if (this.depth === 2) this.textParts.push(text);
    });
    p.on('cdata', (text) => {
      if (this.depth === 2) this.textParts.push(text);
    });
    p.on('closetag', (t) => {
      if (this.depth === 2 && this.member && this.current) {
        const m = this.member;
        if (this.inBlob) this.closeBlob(m);
        else m.text = (this.textParts.length === 1 ? this.textParts[0] : this.textParts.join('')).trim();
        this.current.members.push(m);
        this.member = undefined;
        this.textParts = [];
      } else if (this.depth === 1 && this.current) {
        const m = this.current;
        this.current = undefined;
        this.depth--;
        this.gap = true;
        if (m.tag !== t.name) throw new IndiProtocolError(`mismatched </${t.name}>`);
        this.onMessage(m);
        return;
      }
      this.depth--;
    });
  }

  /** true while a message is half received (a disconnect now truncates it) */
  get midMessage(): boolean {
    return this.depth > 0;
  }

  /** the element being received, for error messages */
  get openElement(): string | undefined {
    return this.member ? `<${this.member.tag}> in <${this.current?.tag}>` : this.current ? `<${this.current.tag}>` : undefined;
  }

  /** Feeds text; throws IndiProtocolError on malformed XML or a limit, and keeps throwing after. */
  write(chunk: string): void {
    if (this.failure) throw this.failure;
    if (this.gap) {
      // saxes holds text at top level until the next '<'; a peer that is not INDI may never send one
      const lead = chunk.trimStart();
      if (lead !== '' && lead[0] !== '<') this.fail(`not an INDI stream: text outside any element: "${lead.slice(0, 40).trim()}"`);
    }
    try {
      let i = 0;
      while (i < chunk.length) {
        if (this.raw) {
          const lt = chunk.indexOf('<', i);
          const end = lt < 0 ? chunk.length : lt;
          if (end > i) this.blobText(end - i === chunk.length ? chunk : chunk.slice(i, end));
          if (lt < 0) return;
          this.raw = false;
          i = lt;
        }
        const gt = chunk.indexOf('>', i);
        const end = gt < 0 ? chunk.length : gt + 1;
        const piece = i === 0 && end === chunk.length ? chunk : chunk.slice(i, end);
        if (this.depth > 0) {
          this.charsInMessage += piece.length;
          if (this.charsInMessage > this.maxMessageChars)
            this.fail(`${this.openElement ?? 'an INDI message'} exceeds ${this.maxMessageChars} characters`);
        }
        this.parser.write(piece);
        i = end;
      }
      // a chunk that ends inside a tag name has begun an element saxes has not reported yet
      if (this.gap && chunk.lastIndexOf('<') > chunk.lastIndexOf('>')) this.gap = false;
    } catch (err) {
      this.failure = err instanceof IndiProtocolError ? err : new IndiProtocolError(`INDI stream: ${(err as Error).message}`);
      throw this.failure;
    }
  }

  private fail(message: string): never {
    this.failure = new IndiProtocolError(message);
    throw this.failure;
  }

  private openBlob(m: IndiMember): void {
    this.inBlob = true;
    this.raw = true;
    // INDI 1.9: size = bytes once decompressed, len = bytes of the (possibly compressed) BLOB as sent
    const len = Number(m.attrs.len ?? m.attrs.enclen);
    const size = Number(m.attrs.size);
    const expected = Number.isFinite(len) && len > 0 ? len : Number.isFinite(size) && size > 0 ? size : undefined;
    if (expected !== undefined && expected > this.limits.maxBlobBytes) {
      m.blobError = `BLOB of ${expected} bytes exceeds the limit of ${this.limits.maxBlobBytes}; skipped`;
      return;
    }
    this.blob = new Base64Accumulator(expected, this.limits.maxBlobBytes);
  }

  private blobText(text: string): void {
    const acc = this.blob;
    if (!acc || !this.member) return;
    try {
      acc.push(text);
    } catch (err) {
      this.member.blobError = (err as Error).message;
      this.blob = undefined;
    }
  }

  private closeBlob(m: IndiMember): void {
    const acc = this.blob;
    this.blob = undefined;
    this.inBlob = false;
    this.raw = false;
    if (!acc) return;
    try {
      m.blob = acc.finish();
    } catch (err) {
      m.blobError = (err as Error).message;
    }
  }
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

function attrs(a: Record<string, string | undefined>): string {
  return Object.entries(a)
    .filter((e): e is [string, string] => e[1] !== undefined)
    .map(([k, v]) => ` ${k}="${esc(v)}"`)
    .join('');
}

export const indiCommands = {
  getProperties(device?: string): string {
    return `<getProperties version="1.7"${attrs({ device })}/>\n`;
  },
  enableBLOB(device: string, mode: 'Never' | 'Also' | 'Only', name?: string): string {
    return `<enableBLOB${attrs({ device, name })}>${mode}</enableBLOB>\n`;
  },
  newNumber(device: string, name: string, values: Record<string, number>): string {
    const members = Object.entries(values)
      .map(([k, v]) => `<oneNumber name="${esc(k)}">${v}</oneNumber>`)
      .join('');
    return `<newNumberVector${attrs({ device, name })}>${members}</newNumberVector>\n`;
  },
  newSwitch(device: string, name: string, on: Record<string, boolean>): string {
    const members = Object.entries(on)
      .map(([k, v]) => `<oneSwitch name="${esc(k)}">${v ? 'On' : 'Off'}</oneSwitch>`)
      .join('');
    return `<newSwitchVector${attrs({ device, name })}>${members}</newSwitchVector>\n`;
  },
};

import { describe, expect, it } from 'vitest';
import { parseTopic, Topics } from '../../../src/mqtt/topics.ts';

describe('Topics', () => {
  const t = new Topics('rayleigh', 'scope1');
  it('builds the contract topics', () => {
    expect(t.status).toBe('rayleigh/scope1/status');
    expect(t.health).toBe('rayleigh/scope1/health');
    expect(t.event).toBe('rayleigh/scope1/event');
    expect(t.resultMeta('main')).toBe('rayleigh/scope1/result/main/meta');
    expect(t.resultImage('main')).toBe('rayleigh/scope1/result/main/image');
    expect(t.command('capture')).toBe('rayleigh/scope1/cmd/capture');
    expect(t.commandResponse('capture')).toBe('rayleigh/scope1/cmd/capture/response');
    expect(t.commandFilter).toBe('rayleigh/scope1/cmd/+');
  });
  it('accepts a multi-level prefix and strips a trailing slash', () => {
    expect(new Topics('lab/a/', 'd').status).toBe('lab/a/d/status');
  });
  it('refuses wildcards and slashes where one level is expected', () => {
    expect(() => new Topics('ray#', 'd')).toThrow(/prefix/);
    expect(() => new Topics('r', 'a/b')).toThrow(/device id/);
    expect(() => t.resultMeta('a+b')).toThrow(/stream/);
    expect(() => t.command('x/y')).toThrow(/command/);
  });
  it('recognises only single-level command topics as requests', () => {
    expect(t.commandName('rayleigh/scope1/cmd/estop')).toBe('estop');
    expect(t.commandName('rayleigh/scope1/cmd/estop/response')).toBeUndefined();
    expect(t.commandName('rayleigh/other/cmd/estop')).toBeUndefined();
    expect(t.isCommandNamespace('rayleigh/scope1/cmd/estop/response')).toBe(true);
  });
  it('parses topics for consumers', () => {
    expect(parseTopic('rayleigh', 'rayleigh/d1/result/s/meta')).toEqual({ device: 'd1', kind: 'meta', stream: 's' });
    expect(parseTopic('rayleigh', 'rayleigh/d1/status')).toEqual({ device: 'd1', kind: 'status' });
    expect(parseTopic('rayleigh', 'rayleigh/d1/cmd/x/response')).toEqual({ device: 'd1', kind: 'response', command: 'x' });
    expect(parseTopic('rayleigh', 'other/d1/status')).toBeUndefined();
  });
});

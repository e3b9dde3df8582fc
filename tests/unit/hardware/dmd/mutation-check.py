#!/usr/bin/env python3
"""Mutation check for the DMD drivers (issue #14): apply one deliberate wrong byte or field to a
driver at a time, run the DMD / I2C / e2e-devices tests, list the tests that turn red, restore the
file. Run from the repository root:  python3 tests/unit/hardware/dmd/mutation-check.py [M1 M7 ...]
The table in each test file's header and in README was produced with this script."""
import json
import os
import subprocess
import sys
import tempfile

OUT = os.path.join(tempfile.gettempdir(), 'dmd-mutation-check.json')
os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', '..'))
M = [
 ('M1 swap TPG codes 4/5', 'src/hardware/dmd/dlpc347x.ts', "  'diagonal-lines': 4,\n  'vertical-lines': 5,", "  'diagonal-lines': 5,\n  'vertical-lines': 4,"),
 ('M2 colour byte: fg in bits 2:0, bg in 6:4', 'src/hardware/dmd/dlpc347x.ts', "return ((foreground & 0x7) << 4) | (background & 0x7);", "return ((background & 0x7) << 4) | (foreground & 0x7);"),
 ('M3 always 6 TPG parameter bytes', 'src/hardware/dmd/dlpc347x.ts', "await this.send(DLPC347X.WRITE_TEST_PATTERN, params);", "await this.send(DLPC347X.WRITE_TEST_PATTERN, [...params, 0, 0, 0, 0, 0, 0].slice(0, 6));"),
 ('M4 checker counts big-endian', 'src/hardware/dmd/dlpc347x.ts', "[TPG_CODE.checkerboard, colors, CHECKERS & 0xff, CHECKERS >> 8, CHECKERS & 0xff, CHECKERS >> 8]", "[TPG_CODE.checkerboard, colors, CHECKERS >> 8, CHECKERS & 0xff, CHECKERS >> 8, CHECKERS & 0xff]"),
 ('M5 LED enable opcode 52h -> 50h', 'src/hardware/dmd/dlpc347x.ts', "WRITE_LED_ENABLE: 0x52,", "WRITE_LED_ENABLE: 0x50,"),
 ('M6 DLPC900 LUT definition opcode F8 -> F7', 'src/hardware/dmd/dlpc900.ts', "LUT_DEFINITION: 0xf8,", "LUT_DEFINITION: 0xf7,"),
 ('M7 enhanced-RLE two-byte count bytes swapped', 'src/hardware/dmd/dlpc900-image.ts', "      this.byte((n & 0x7f) | 0x80);\n      this.byte(n >> 7);", "      this.byte((n >> 7) | 0x80);\n      this.byte(n & 0x7f);"),
 ('M8 plain RLE: end of line before end of image again', 'src/hardware/dmd/dlpc900-image.ts', "    if (y < height - 1) {", "    if (y < height) {"),
 ('M9 uncompressed lines not padded', 'src/hardware/dmd/dlpc900-image.ts', "export const UNCOMPRESSED_LINE_ALIGN = 16;", "export const UNCOMPRESSED_LINE_ALIGN = 1;"),
 ('M10 no error-code read after F8', 'src/hardware/dmd/dlpc900.ts', "await this.command(\n        op,\n        'pattern display LUT definition (F8)',\n        DLPC900.LUT_DEFINITION,", "await this.send(\n        DLPC900.LUT_DEFINITION,"),
 ('M11 no NACK retry', 'src/hardware/dmd/dlpc900.ts', "this.retries = opts.retries ?? 4;", "this.retries = 0;"),
 ('M12 no display-mode read-back', 'src/hardware/dmd/dlpc900.ts', "      if ((now & 0x03) === mode) return;", "      return;"),
 ('M13 dual: halves swapped', 'src/hardware/dmd/dlpc900.ts', "const from = y * this.width + (right ? w : 0);", "const from = y * this.width + (right ? 0 : w);"),
 ('M14 dual: secondary init opcode ACh -> AAh', 'src/hardware/dmd/dlpc900.ts', "INIT_BMP_LOAD_SECONDARY_WRITE: 0xac,", "INIT_BMP_LOAD_SECONDARY_WRITE: 0xaa,"),
 ('M15 LUT colour field at bits 5:3', 'src/hardware/dmd/dlpc900.ts', "(((p.color ?? LUT_WHITE) & 0x7) << 4)", "(((p.color ?? LUT_WHITE) & 0x7) << 3)"),
 ('M16 header compression byte at offset 24', 'src/hardware/dmd/dlpc900-image.ts', "  h[25] = COMPRESSION_CODE[compression];", "  h[24] = COMPRESSION_CODE[compression];"),
 ('M17 BMP load size without the 48-byte header', 'src/hardware/dmd/dlpc900.ts', "      ...u32(image.length),", "      ...u32(image.length - 48),"),
 ('M18 enhanced RLE: no end of line, run crosses line end', 'src/hardware/dmd/dlpc900-image.ts', "      while (x + rep < width && pixelAt(bits, row + x + rep) === v) rep++;", "      while (row + x + rep < width * height && pixelAt(bits, row + x + rep) === v) rep++;"),
 ('M19 no settle wait after E9', 'src/hardware/dmd/dlpc900.ts', "    await sleep(this.modeSettleMs);\n", ""),
]
only = sys.argv[1:] 
for name, f, a, b in M:
    if only and name.split()[0] not in only: continue
    src = open(f).read()
    if a not in src:
        print(f'{name}: PATTERN NOT FOUND'); continue
    open(f,'w').write(src.replace(a, b, 1))
    try:
        r = subprocess.run(['npx','vitest','run','tests/unit/hardware/dmd','tests/unit/hardware/i2c','tests/e2e/devices.test.ts','--reporter=json','--outputFile=' + OUT], capture_output=True, text=True, timeout=300)
        j = json.load(open(OUT))
        failed = [ (os.path.basename(t['name']), a2['fullName']) for t in j['testResults'] for a2 in t['assertionResults'] if a2['status']=='failed']
        print(f'## {name}: {len(failed)} failed')
        for ff, n in failed[:6]: print(f'   {ff}: {n}')
    finally:
        open(f,'w').write(src)

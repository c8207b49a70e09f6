// Builds the client into dist/: index.html, assets/app.js, assets/app.css, the encoded-transform
// worker assets/e2ee-worker.js, and the E2EE module assets/veil_e2ee_bg.wasm; and the operator
// page: admin.html, assets/admin.js, assets/admin.css (with uPlot's styles).
//
// `veil serve --assets dist` serves dist/index.html at `/` and `/r/{room}`, dist/admin.html at
// `/admin` (with an admin key configured) and dist/assets/* at `/assets/*`, so the pages refer
// to their assets by absolute `/assets/...` URLs.
//
// The wasm module and its JavaScript glue come from `scripts/build-wasm.sh` (at the top of the
// repository), which writes target/wasm-pkg/; both bundles import the glue as `veil-e2ee` and
// load the module from /assets/veil_e2ee_bg.wasm.
//
//   node build.mjs            one production build (minified, with source maps)
//   node build.mjs --watch    rebuild on change

import { existsSync } from 'node:fs';
import { cp, mkdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = dirname(fileURLToPath(import.meta.url));
const dist = join(root, 'dist');
const watch = process.argv.includes('--watch');
const wasmPkg = join(root, '../target/wasm-pkg');
const glue = join(wasmPkg, 'veil_e2ee.js');
const wasm = join(wasmPkg, 'veil_e2ee_bg.wasm');

for (const file of [glue, wasm]) {
  if (!existsSync(file)) {
    console.error(
      `build: ${file} is missing.\n` +
        'The browser client needs the E2EE module built to wasm: run scripts/build-wasm.sh at the ' +
        'top of the repository (or `make client`), then build again.',
    );
    process.exit(1);
  }
}

await rm(dist, { recursive: true, force: true });
await mkdir(join(dist, 'assets'), { recursive: true });
await cp(join(root, 'index.html'), join(dist, 'index.html'));
await cp(join(root, 'admin.html'), join(dist, 'admin.html'));
await cp(wasm, join(dist, 'assets/veil_e2ee_bg.wasm'));

/** @type {import('esbuild').BuildOptions} */
const options = {
  entryPoints: {
    app: join(root, 'src/main.ts'),
    'e2ee-worker': join(root, 'src/e2ee/worker.ts'),
    admin: join(root, 'src/admin/main.ts'),
  },
  outdir: join(dist, 'assets'),
  bundle: true,
  format: 'esm',
  target: ['chrome111', 'firefox117', 'safari16'],
  alias: { 'veil-e2ee': glue },
  minify: !watch,
  sourcemap: true,
  legalComments: 'none',
  logLevel: 'warning',
};

if (watch) {
  const ctx = await esbuild.context(options);
  await ctx.watch();
  console.log('watching src/ for changes');
} else {
  await esbuild.build(options);
}

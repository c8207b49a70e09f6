// Builds the client into dist/: index.html, assets/app.js and assets/app.css.
//
// `veil serve --assets dist` serves dist/index.html at `/` and `/r/{room}` and dist/assets/* at
// `/assets/*`, so the page refers to its assets by absolute `/assets/...` URLs.
//
//   node build.mjs            one production build (minified, with source maps)
//   node build.mjs --watch    rebuild on change

import { cp, mkdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = dirname(fileURLToPath(import.meta.url));
const dist = join(root, 'dist');
const watch = process.argv.includes('--watch');

await rm(dist, { recursive: true, force: true });
await mkdir(join(dist, 'assets'), { recursive: true });
await cp(join(root, 'index.html'), join(dist, 'index.html'));

/** @type {import('esbuild').BuildOptions} */
const options = {
  entryPoints: { app: join(root, 'src/main.ts') },
  outdir: join(dist, 'assets'),
  bundle: true,
  format: 'esm',
  target: ['chrome111', 'firefox117', 'safari16'],
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

// esbuild bundles imported CSS into assets/app.css; to TypeScript it is an empty module.
declare module '*.css';

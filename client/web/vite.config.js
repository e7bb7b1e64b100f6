import { defineConfig } from 'vite';

// Built into dist/, which traced serves at / (daemon/serve.c). `npm run dev`
// proxies the API and the WebSocket to a traced on 127.0.0.1:7070.
export default defineConfig({
  base: './',
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', sourcemap: false, chunkSizeWarningLimit: 600 },
  server: {
    proxy: {
      '/api': 'http://127.0.0.1:7070',
      '/ws': { target: 'ws://127.0.0.1:7070', ws: true },
    },
  },
});

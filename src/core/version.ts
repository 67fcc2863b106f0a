import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
/** dr's own version, from package.json (works from src/ under vitest and from dist/). */
export const TOOL_VERSION: string = (require('../../package.json') as { version: string }).version;

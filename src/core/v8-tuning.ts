/**
 * Keeps dr's memory flat while it streams and walks large files. Imported first by the CLI entry point.
 *
 * - A snapshot arrives as hundreds of thousands of short-lived 32 KiB buffers, and V8's default young
 *   generation (up to 3 x 16 MiB semi-spaces, growing) lets ~50 MB of that garbage pile up between
 *   scavenges. A fixed 2 MiB semi-space scavenges sooner, and no slower.
 * - The bbolt walk reads 1 MiB chunks that outlive a scavenge; V8 only collects them once ~64 MB of such
 *   external memory has accumulated. Exposing gc lets the file reader collect every few MiB (see
 *   core/memory.ts).
 * Figures: docs/benchmarks.md, "Figures behind design choices in the code".
 */
import v8 from 'node:v8';

v8.setFlagsFromString('--semi-space-growth-factor=1');
v8.setFlagsFromString('--max-semi-space-size=2');
v8.setFlagsFromString('--expose-gc');
